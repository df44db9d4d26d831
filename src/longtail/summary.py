"""A readable summary of what a workspace holds (used by `longtail status` and the demo)."""

from __future__ import annotations

from datetime import date
from typing import Any

from longtail.core.revenue import arr_by_account, value_bands
from longtail.settings import Workspace
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore
from longtail.warehouse.events import Warehouse


def workspace_summary(ws: Workspace, as_of: date | None = None) -> dict[str, Any]:
    engine = make_engine(ws.database_url)
    migrate(engine)
    store = EntityStore(engine)
    events = Warehouse(ws.warehouse_url, ws.state_dir).event_summary()
    subs = store.rows("subscriptions")
    last_event = events.get("last")
    day = as_of or (last_event.date() if last_event is not None else None) or _latest_start(subs)
    arr = arr_by_account(subs, day) if day else {}
    rows = [
        ("accounts", f"{store.count('accounts'):,}"),
        ("contacts", f"{store.count('contacts'):,}"),
        ("subscription rows", f"{len(subs):,}"),
        (f"paying accounts on {day}", f"{sum(1 for v in arr.values() if v > 0):,}"),
        (f"ARR on {day}", f"${sum(arr.values()):,.0f}"),
        ("tickets", f"{store.count('tickets'):,}"),
        ("survey responses", f"{store.count('surveys'):,}"),
        ("team members", f"{store.count('team'):,}"),
        ("events", f"{int(events.get('events') or 0):,}"),
        ("event types", f"{int(events.get('kinds') or 0):,}"),
        ("events from", str(events.get("first") or "-")),
        ("events to", str(events.get("last") or "-")),
    ]
    return {"as_of": day, "rows": rows, "bands": value_bands(arr), "events": events}


def _latest_start(subs: list[dict[str, Any]]) -> date | None:
    starts = [s["start_date"] for s in subs if s.get("start_date")]
    return max(starts) if starts else None
