"""Compute the next item of an iterator in a background thread while the caller works on the current one.

Scoring a batch of health results (NumPy/Arrow) and writing the previous batch to Parquet (Arrow's C++ writer)
both release the GIL for most of their time, so on a machine with two cores a day is stored in the time of the
longer of the two rather than their sum. Order, items and exceptions are exactly those of the iterator.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_S = 0.1
"""How often a producer blocked on a full queue checks whether the consumer went away."""


class _End:
    """Put after the last item; carries the iterator's exception, if it raised one."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield `items` in order while up to `depth` following items are computed in a worker thread.

    An exception raised by the iterator is raised here, at the point where its item would have been. When the
    caller stops early (an error while writing, `break`, the generator closed), the worker stops after the item
    it is computing.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    done: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: T | _End) -> bool:
        while not stop.is_set():
            try:
                done.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as exc:  # noqa: BLE001 - not swallowed: the consumer raises it
            offer(_End(exc))
            return
        offer(_End(None))

    worker = threading.Thread(target=work, name="longtail-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = done.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        worker.join()
