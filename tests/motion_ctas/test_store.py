"""MotionStore round trips on SQLite and PostgreSQL: effects, human moves, fires, segments, tiers, runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from longtail.core.motion.ctas import (
    approve,
    complete,
    hold_if_flooding,
    plan_ctas,
    plan_follow_up,
    snooze,
)
from longtail.errors import UsageError
from longtail.store.db import current_revision, head_revision, make_engine, migrate
from longtail.store.motion import MotionStore
from longtail.store.tables import MOTION_TABLES
from tests.motion_ctas.helpers import D0, req

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D1 = D0 + timedelta(days=1)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    return engine


@pytest.fixture
def pg_engine(pg_engine: Engine) -> Engine:
    """The emptied PostgreSQL of tests/conftest.py, migrated."""
    migrate(pg_engine)
    return pg_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> MotionStore:
    engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    return MotionStore(engine, clock=lambda: AT)


def test_migration_0003_matches_the_motion_tables(sqlite_engine: Engine) -> None:
    assert current_revision(sqlite_engine) == head_revision()
    inspector = inspect(sqlite_engine)
    for table in MOTION_TABLES.values():
        migrated = {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(table.name)}
        assert migrated == {c.name: (str(c.type), c.nullable) for c in table.columns}, table.name
        indexes = {i["name"]: tuple(i["column_names"]) for i in inspector.get_indexes(table.name)}
        assert indexes == {i.name: tuple(c.name for c in i.columns) for i in table.indexes}, table.name


def test_effects_round_trip_and_replan_is_empty(store: MotionStore) -> None:
    requests = [req(), req(account="a2", auto_close=True, follow_up_days=7)]
    effects = plan_ctas(requests, store.open_ctas(), D0)
    first = effects[0].cta_id  # type: ignore[union-attr]
    counts = store.apply_effects(effects, D0, {first: ("m1", "covers risk")}, actor="run-1")
    assert (counts.created, counts.skipped) == (2, 0)
    stored = store.get_cta(first)
    assert stored is not None
    assert stored.owner_id == "m1"
    assert stored.request == effects[0].request  # type: ignore[union-attr]
    assert stored.checklist == ("Call",)
    assert plan_ctas(requests, store.open_ctas(), D0) == ()
    again = store.apply_effects(effects, D0)  # a blind re-apply of the same plan cannot duplicate
    assert (again.created, again.skipped) == (0, 2)
    assert len(store.list_ctas()) == 2

    refire = plan_ctas([req(priority="urgent", inputs={"events_28d": 0})], store.open_ctas(), D1,
                       cleared={("a2", "risk", "usage dropped")})
    counts = store.apply_effects(refire, D1)
    assert (counts.refreshed, counts.closed) == (1, 1)
    refreshed = store.get_cta(first)
    assert refreshed is not None
    assert (refreshed.priority, refreshed.fire_count, refreshed.inputs) == ("urgent", 2, {"events_28d": 0})
    assert [c.account_id for c in store.open_ctas()] == ["a1"]
    assert store.list_ctas(status="cancelled", account="a2")[0].closed_on == D1
    assert [c.account_id for c in store.list_ctas(statuses={"open", "in_progress"})] == ["a1"]
    assert {c.account_id for c in store.list_ctas(statuses={"open", "cancelled"})} == {"a1", "a2"}
    assert store.list_ctas(statuses=set()) == []
    assert [h["action"] for h in store.history(first)] == ["create", "refresh"]
    assert store.history(first)[0]["detail"]["owner_id"] == "m1"
    assert store.list_ctas(owner="m1")[0].cta_id == first


def test_human_moves_follow_ups_and_held_approval(store: MotionStore) -> None:
    effects, decision = hold_if_flooding(plan_ctas([req(follow_up_days=7), req(account="a2")], [], D0), 1)
    assert decision.held
    store.apply_effects(effects, D0)
    held = store.list_ctas(status="held")
    assert len(held) == 2
    store.save_ctas([approve(c, D1) for c in held], "approve", "lead")
    assert store.list_ctas(status="held") == []
    target = next(c for c in store.open_ctas() if c.account_id == "a1")
    store.save_cta(snooze(target, D1 + timedelta(days=3), "on holiday", D1), "snooze", "ben", {"reason": "x"})
    woken = plan_ctas([], store.open_ctas(), D1 + timedelta(days=3))
    assert store.apply_effects(woken, D1 + timedelta(days=3)).woken == 1
    current = store.get_cta(target.cta_id)
    assert current is not None
    assert current.status == "open"
    done, follow = complete(current, D1 + timedelta(days=4), "sent the guide")
    assert follow is not None
    store.save_cta(done, "done", "ben", {"note": "sent the guide"},
                   follow_up=plan_follow_up(done, follow, done.updated_on))
    followers = [c for c in store.open_ctas() if c.follow_up_of == target.cta_id]
    assert len(followers) == 1
    assert followers[0].due == D1 + timedelta(days=11)
    assert [h["action"] for h in store.history(target.cta_id)] == ["create", "approve", "snooze", "wake", "done"]
    at = store.history(target.cta_id)[-1]["at"]
    assert (at if at.tzinfo else at.replace(tzinfo=UTC)) == AT  # SQLite hands back naive UTC
    with pytest.raises(UsageError, match="no CTA 'ghost'"):
        store.save_cta(replace(done, cta_id="ghost"), "done", "ben")


def test_signal_fires_replace_their_day(store: MotionStore) -> None:
    rows = [{"signal_id": "s1", "account_id": a, "day": D0, "definition_hash": "h", "inputs": {"v": i}}
            for i, a in enumerate(["a1", "a2", "a3"])]
    rows.append({"signal_id": "s1", "account_id": "a1", "day": D1, "definition_hash": "h", "inputs": {},
                 "suppressed_reason": "already has an open CTA"})
    assert store.record_fires(rows) == 4
    store.record_fires(rows[1:2])  # re-running day D0: only a2 fires now
    assert [(r["account_id"], r["day"]) for r in store.fires_between("s1", None, D0, D1)] == [("a2", D0), ("a1", D1)]
    assert store.fires_between("s1", ["a1"], D1, D1)[0]["suppressed_reason"] == "already has an open CTA"
    store.record_fires([], replace=[("s1", D1)])
    assert store.fires_between("s1", None, D0, D1 + timedelta(days=5)) == [
        {"signal_id": "s1", "account_id": "a2", "day": D0, "definition_hash": "h", "inputs": {"v": 1},
         "suppressed_reason": None}]


def test_segments_tiers_overrides_and_runs(store: MotionStore) -> None:
    store.apply_membership("at_risk", {"a1", "a2"}, set(), D0, "h1")
    store.apply_membership("at_risk", {"a2", "a3"}, {"a1"}, D1, "h1")
    assert store.membership("at_risk") == {"a2", "a3"}
    assert store.membership("other") == set()

    assert store.apply_tiers({"a1": ("pooled", "low ARR"), "a2": ("mid", "ARR 20k")}, D0) == 2
    assert store.apply_tiers({"a1": ("mid", "grew"), "a2": ("mid", "unchanged")}, D1) == 1
    assert store.current_tiers() == {"a1": "mid", "a2": "mid"}
    assert store.apply_tiers({"a3": ("pooled", "low ARR")}, D1) == 1
    assert store.current_tiers(["a1", "a3", "unknown"]) == {"a1": "mid", "a3": "pooled"}
    assert store.current_tiers([]) == {}
    assert store.tier_names() == ["mid", "pooled"]  # a1's closed pooled stint does not count

    store.set_override("a1", "strategic", "exec sponsor", on=D0, by="lead", expires=D0 + timedelta(days=30))
    store.set_override("a2", "pooled", "asked for less contact", on=D0, by="lead")
    assert set(store.overrides(D1)) == {"a1", "a2"}
    assert set(store.overrides(D0 + timedelta(days=30))) == {"a2"}
    assert store.clear_override("a2") is True
    assert store.clear_override("a2") is False
    with pytest.raises(UsageError, match="needs a reason"):
        store.set_override("a3", "mid", " ", on=D0, by="lead")

    store.start_run("r1", D0, "defs")
    store.finish_run("r1", "ok", {"created": 2})
    (run,) = store.runs()
    assert (run["status"], run["counts"], run["as_of"]) == ("ok", {"created": 2}, date(2026, 3, 2))
