"""The motion_attributes history: migration, write-once key, point in time, hostile values, and how a day's
set_attribute steps become writes (who wins, what is unchanged, what an earlier run of the day already wrote)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect

from longtail.core.featuredefs import load_feature_defs
from longtail.core.motion.load import Motion, load_motion
from longtail.errors import UsageError
from longtail.runner.effects import attribute_writes
from longtail.store import tables
from longtail.store.db import current_revision, head_revision, make_engine, migrate
from longtail.store.motion_attributes import AttributeWrite, MotionAttributeStore

AT = datetime(2025, 3, 1, 9, tzinfo=UTC)
D = date(2025, 3, 1)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    return engine


def write(account: str, name: str, value: Any, day: date, playbook: str = "pb") -> AttributeWrite:
    return AttributeWrite(account, name, value, day + timedelta(days=1), playbook, "h" * 64, day, "why")


def test_the_migration_matches_the_table(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() == "0009"
    inspector = inspect(engine)
    t = tables.motion_attributes
    migrated = {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(t.name)}
    assert migrated == {c.name: (str(c.type), c.nullable) for c in t.columns}
    uniques = {u["name"]: tuple(u["column_names"]) for u in inspector.get_unique_constraints(t.name)}
    assert uniques == {"uq_motion_attributes_account_name_day": ("account_id", "name", "run_day")}
    indexes = {i["name"]: tuple(i["column_names"]) for i in inspector.get_indexes(t.name)}
    assert indexes == {"ix_motion_attributes_name_valid_from": ("name", "valid_from")}


def test_a_day_is_written_once_and_read_as_of_a_date(engine: Engine) -> None:
    store = MotionAttributeStore(engine)
    first = [write("a1", "stage", "at_risk", D), write("a1", "level", 2.5, D), write("a2", "flag", True, D)]
    assert store.record(first, AT) == 3
    # The same key again (a re-run, even with another value) leaves the first write alone.
    assert store.record([write("a1", "stage", "other", D)], AT) == 0
    assert store.record([write("a1", "stage", "healthy", D + timedelta(days=3))], AT) == 1
    names = {"stage", "level", "flag"}
    assert store.as_of(D, names) == {}, "the run of D is seen from D + 1"
    on_next = store.as_of(D + timedelta(days=1), names)
    assert {k: (v.value, v.value_type) for k, v in on_next.items()} == {
        ("a1", "stage"): ("at_risk", "string"), ("a1", "level"): (2.5, "number"), ("a2", "flag"): (True, "boolean")}
    assert on_next[("a1", "stage")].playbook_id == "pb" and on_next[("a1", "stage")].run_day == D
    assert store.as_of(D + timedelta(days=4), {"stage"})[("a1", "stage")].value == "healthy"
    assert store.as_of(D + timedelta(days=3), {"stage"})[("a1", "stage")].value == "at_risk"
    assert set(store.as_of(D + timedelta(days=9), names, accounts=["a2"])) == {("a2", "flag")}
    assert store.as_of(D + timedelta(days=9), names, accounts=[]) == {}
    assert [h.value for h in store.history("a1") if h.name == "stage"] == ["at_risk", "healthy"]


@pytest.mark.parametrize(("value", "message"), [
    ("x" * 1001, "1001 characters; the limit is 1000"),
    ("a\x00b", "control character"),
    ("a\x1b[2Jb", "control character"),
    (float("nan"), "not a finite number"),
    (float("inf"), "not a finite number"),
    (["a"], "type list"),
])
def test_hostile_values_are_refused_before_the_database(engine: Engine, value: Any, message: str) -> None:
    store = MotionAttributeStore(engine)
    with pytest.raises(UsageError, match=message):
        store.record([write("a1", "good", "fine", D), write("a1", "bad", value, D)], AT)
    assert store.history() == [], "nothing of the batch is written"


def test_awkward_text_round_trips_exactly(engine: Engine) -> None:
    store = MotionAttributeStore(engine)
    text = "Robert'); DROP TABLE accounts;-- \"é\" 🚩 \\u0000" + "x" * 900
    store.record([write("a1", "note", text, D), write("a1'--", "note", "q", D)], AT)
    got = store.as_of(D + timedelta(days=1), {"note"})
    assert got[("a1", "note")].value == text and got[("a1'--", "note")].value == "q"


def test_a_row_that_does_not_hold_its_type_reads_as_unknown(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(tables.motion_attributes).values(
            account_id="a1", name="level", value='"high"', value_type="number", valid_from=D, playbook_id="pb",
            definition_hash="h", run_day=D - timedelta(days=1), set_at=AT, reason="hand-written"))
    assert MotionAttributeStore(engine).as_of(D, {"level"})[("a1", "level")].value is None


BOOKS = """\
triggers:
  - {id: quiet, kind: condition, when: "days_since_last_activity >= 14"}
playbooks:
  - id: first
    objective: Defined first
    trigger: quiet
    steps: [{type: set_attribute, name: stage, value: at_risk}]
  - id: second
    objective: Defined second
    trigger: quiet
    steps: [{type: set_attribute, name: stage, value: watch}, {type: set_attribute, name: flag, value: true}]
"""


def motion() -> Motion:
    return load_motion([("motion/p.yml", BOOKS)], load_feature_defs(None).names)


def step(playbook: str, account: str, name: str, value: Any) -> dict[str, Any]:
    return {"day": D.isoformat(), "playbook": playbook, "account_id": account, "reason": f"playbook {playbook} on x",
            "type": "set_attribute", "name": name, "value": value}


def test_the_playbook_defined_first_wins_whatever_the_fire_order() -> None:
    m = motion()
    steps = [step("second", "a1", "stage", "watch"), step("second", "a1", "flag", True),
             step("first", "a1", "stage", "at_risk"), {"type": "alert", "playbook": "x", "account_id": "a1"}]
    writes = attribute_writes(steps, m, D, {})
    assert [(w.name, w.value, w.playbook_id, w.valid_from) for w in writes] == [
        ("stage", "at_risk", "first", D + timedelta(days=1)), ("flag", True, "second", D + timedelta(days=1))]
    assert writes[0].definition_hash == m.hash_of("playbook:first") and writes[0].reason == "playbook first on x"
    assert steps[0]["outcome"] == "overruled: the value set by playbook first, defined first"
    assert steps[2]["outcome"] == "set" and steps[2]["column"] == "motion_stage"
    assert steps[2]["visible_from"] == "2025-03-02" and "outcome" not in steps[3]


def test_unchanged_and_already_written_values_are_not_written_again(engine: Engine) -> None:
    store = MotionAttributeStore(engine)
    store.record([write("a1", "stage", "at_risk", D - timedelta(days=5)), write("a2", "flag", True, D)], AT)
    current = store.as_of(D + timedelta(days=1), {"stage", "flag"})
    steps = [step("first", "a1", "stage", "at_risk"), step("second", "a2", "flag", True),
             step("second", "a3", "flag", True)]
    writes = attribute_writes(steps, motion(), D, current)
    assert [(w.account_id, w.name) for w in writes] == [("a3", "flag")]
    assert steps[0]["outcome"] == "unchanged: 'at_risk' since 2025-02-25"
    assert steps[1]["outcome"].startswith("already set by an earlier run of 2025-03-01")
