"""Concurrent requests share landing files and flushes, and each still learns whether its rows were written."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from longtail.settings import Workspace
from longtail.store.tracking import EventFilter, GroupCommit, read_events
from longtail.warehouse.events import Warehouse

TS = datetime(2026, 3, 1, tzinfo=UTC)


def rows(tag: str, n: int) -> list[dict[str, Any]]:
    return [{"event_id": f"{tag}-{i}", "account_id": "a", "contact_id": None, "event": "e", "ts": TS,
             "value": None, "properties": None} for i in range(n)]


def _run(commit: GroupCommit, threads: int) -> list[BaseException | None]:
    results: list[BaseException | None] = [None] * threads
    start = threading.Barrier(threads)

    def request(k: int) -> None:
        start.wait()
        try:
            commit.land(rows(f"r{k}", 10))
        except BaseException as exc:  # recorded for the assertion below
            results[k] = exc

    workers = [threading.Thread(target=request, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    return results


def test_every_concurrent_request_is_landed(workspace: Workspace) -> None:
    wh = Warehouse(workspace.warehouse_url, workspace.state_dir)
    assert _run(GroupCommit(wh), 12) == [None] * 12
    assert 1 <= len(wh.landed()) <= 12
    assert read_events(wh, EventFilter(limit=1))[0] == 120


def test_a_failed_flush_fails_every_request_in_its_group(workspace: Workspace,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    wh = Warehouse(workspace.warehouse_url, workspace.state_dir)
    commit = GroupCommit(wh)

    def broken(_: list[dict[str, Any]]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(commit, "_write", broken)
    results = _run(commit, 6)
    assert all(isinstance(r, OSError) for r in results)
    assert wh.landed() == []
