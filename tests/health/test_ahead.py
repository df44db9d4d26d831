"""`ahead`: the next batch computed in a worker thread, with the order, items and errors of the plain iterator."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from longtail.analytics.ahead import ahead


def test_yields_every_item_in_order() -> None:
    assert list(ahead(iter(range(1000)))) == list(range(1000))
    assert list(ahead([], depth=3)) == []


def test_items_are_computed_in_another_thread() -> None:
    threads: list[str] = []

    def source() -> Iterator[int]:
        for i in range(3):
            threads.append(threading.current_thread().name)
            yield i

    assert list(ahead(source())) == [0, 1, 2]
    assert set(threads) == {"longtail-ahead"}


def test_an_error_is_raised_where_its_item_would_have_been() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("batch 3 is broken")

    got: list[int] = []
    with pytest.raises(ValueError, match="batch 3 is broken"):
        for item in ahead(source()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_worker() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    stream = ahead(source(), depth=2)
    assert next(stream) == 0
    stream.close()  # what a failing writer's `for` loop does to the generator; joins the worker
    # the worker stops once the queue (2 items) is full and the consumer is gone: far fewer than 100
    assert len(produced) <= 4
    assert not any(t.name == "longtail-ahead" for t in threading.enumerate())


def test_an_error_in_the_consumer_does_not_hang() -> None:
    def source() -> Iterator[int]:
        yield from range(10_000)

    with pytest.raises(RuntimeError, match="disk full"):
        for item in ahead(source()):
            if item == 5:
                raise RuntimeError("disk full")
    assert not any(t.name == "longtail-ahead" for t in threading.enumerate())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth must be at least 1"):
        list(ahead([1], depth=0))
