"""Condition signals: edge semantics (fire once on false -> true), level mode, inputs and renewal windows."""

from __future__ import annotations

import itertools
import json
from typing import Any

import ibis
import pytest

from longtail.core.expressions import parse_condition
from longtail.core.motion.signals import ConditionSignal, SignalError, edge_table, level_table, renewal_signal
from tests.motion_segments.conftest import COLUMNS, features

NO_LOGIN = ConditionSignal.of("no_login_14d", parse_condition("days_since_last_activity >= 14", COLUMNS))
RENEWAL_90 = ConditionSignal.of("renewal_90", parse_condition(renewal_signal(90), COLUMNS))
RENEWAL_30 = ConditionSignal.of("renewal_30", parse_condition(renewal_signal(30), COLUMNS))
SIGNALS = [NO_LOGIN, RENEWAL_90, RENEWAL_30]


def fires(con: ibis.BaseBackend, today: ibis.Table, previous: ibis.Table | None,
          signals: list[ConditionSignal] = SIGNALS) -> set[tuple[str, str]]:
    return {(r["signal_id"], r["account_id"]) for r in con.to_pyarrow(edge_table(today, previous, signals)).to_pylist()}


def days(**by_account: float | None) -> ibis.Table:
    return features([{"account_id": a, "days_since_last_activity": d} for a, d in by_account.items()])


def test_fires_only_on_the_edge(duckdb_con: ibis.BaseBackend) -> None:
    day1 = days(stays_true=20, turns_true=3, stays_false=1, turns_false=30)
    day2 = days(stays_true=21, turns_true=14, stays_false=2, turns_false=0)
    assert fires(duckdb_con, day2, day1, [NO_LOGIN]) == {("no_login_14d", "turns_true")}


def test_true_false_true_fires_again(duckdb_con: ibis.BaseBackend) -> None:
    history = [days(a=20), days(a=0), days(a=15), days(a=16)]
    fired = [fires(duckdb_con, today, before, [NO_LOGIN])
             for before, today in zip([None, *history], history, strict=False)]
    assert fired == [{("no_login_14d", "a")}, set(), {("no_login_14d", "a")}, set()]


def test_absent_from_previous_counts_as_not_true(duckdb_con: ibis.BaseBackend) -> None:
    assert fires(duckdb_con, days(old=20, new=20), days(old=20), [NO_LOGIN]) == {("no_login_14d", "new")}


def test_unknown_follows_the_policy_on_both_days(duckdb_con: ibis.BaseBackend) -> None:
    assert fires(duckdb_con, days(a=20, b=None), days(a=None, b=None), [NO_LOGIN]) == {("no_login_14d", "a")}
    counted = ConditionSignal.of("s", parse_condition("days_since_last_activity >= 14", COLUMNS, unknown="true"))
    assert fires(duckdb_con, days(a=20, b=None), days(a=None, b=3), [counted]) == {("s", "b")}


def test_renewal_windows_fire_once_when_crossed(duckdb_con: ibis.BaseBackend) -> None:
    def renewal(d: float) -> ibis.Table:
        return features([{"account_id": "r", "days_to_renewal": d}])

    timeline = [120, 91, 90, 89, 31, 30, 29, 1, 0, -5, 365]
    fired = [fires(duckdb_con, renewal(t), renewal(y)) for y, t in itertools.pairwise(timeline)]
    ids = [sorted(s for s, _ in f) for f in fired]
    assert ids == [[], ["renewal_90"], [], [], ["renewal_30"], [], [], [], [], []]
    assert renewal_signal(90) == "days_to_renewal <= 90 AND days_to_renewal > 0"
    with pytest.raises(SignalError):
        renewal_signal(0)


def test_inputs_record_todays_values(duckdb_con: ibis.BaseBackend) -> None:
    mixed = ConditionSignal.of("mixed", parse_condition("seats > 10 and (nps_latest < 0 or nps_latest is null)",
                                                        COLUMNS))
    today = features([{"account_id": "a", "seats": 12, "nps_latest": None, "days_since_last_activity": 30}])
    rows = duckdb_con.to_pyarrow(edge_table(today, None, [mixed, NO_LOGIN])).to_pylist()
    inputs = {r["signal_id"]: json.loads(r["inputs"]) for r in rows}
    assert inputs == {"mixed": {"nps_latest": None, "seats": 12}, "no_login_14d": {"days_since_last_activity": 30}}
    assert {r["definition_hash"] for r in rows} == {mixed.definition_hash, NO_LOGIN.definition_hash}


def test_inputs_escape_strings_and_booleans(duckdb_con: ibis.BaseBackend) -> None:
    table = ibis.memtable({"account_id": ["a"], "plan": ['pro "x"\\\n'], "trial": [True]})
    signal = ConditionSignal.of("s", parse_condition("plan like 'pro%' and trial", {"plan": "string",
                                                                                      "trial": "boolean"}))
    row = duckdb_con.to_pyarrow(level_table(table, [signal])).to_pylist()[0]
    assert json.loads(row["inputs"]) == {"plan": 'pro "x"\\\n', "trial": True}


def test_level_mode_fires_whenever_true(duckdb_con: ibis.BaseBackend) -> None:
    rows = duckdb_con.to_pyarrow(level_table(days(a=20, b=3, c=14), [NO_LOGIN])).to_pylist()
    assert sorted(r["account_id"] for r in rows) == ["a", "c"]


def test_all_signals_in_one_join() -> None:
    sql = ibis.to_sql(edge_table(days(a=1), days(a=1), SIGNALS), dialect="duckdb").upper()
    assert sql.count(" JOIN ") == 1


@pytest.mark.parametrize(("signals", "message"), [
    ([], "no signals"), ([NO_LOGIN, NO_LOGIN], "defined twice"),
    ([ConditionSignal("Bad Id", NO_LOGIN.condition)], "lower_snake_case"),
])
def test_bad_signal_sets_are_rejected(signals: list[ConditionSignal], message: str) -> None:
    with pytest.raises(SignalError, match=message):
        edge_table(days(a=1), None, signals)


@pytest.mark.postgres
def test_postgres_matches_duckdb(postgres_con: ibis.BaseBackend, duckdb_con: ibis.BaseBackend) -> None:
    rows: list[dict[str, Any]] = [
        {"account_id": "a", "days_since_last_activity": 20, "days_to_renewal": 85, "seats": 12.5},
        {"account_id": "b", "days_since_last_activity": None, "days_to_renewal": 29},
        {"account_id": "c", "days_since_last_activity": 14, "days_to_renewal": None},
    ]
    before: list[dict[str, Any]] = [{"account_id": "a", "days_since_last_activity": 3, "days_to_renewal": 95},
                                    {"account_id": "b", "days_to_renewal": 31}]
    today_pg = postgres_con.create_table("longtail_motion_today", features(rows), overwrite=True)
    before_pg = postgres_con.create_table("longtail_motion_before", features(before), overwrite=True)
    seats = ConditionSignal.of("seats", parse_condition("seats > 10 or days_to_renewal < 30", COLUMNS))

    def decoded(con: ibis.BaseBackend, today: ibis.Table, previous: ibis.Table) -> list[tuple[str, str, Any]]:
        out = con.to_pyarrow(edge_table(today, previous, [*SIGNALS, seats])).to_pylist()
        return sorted((r["signal_id"], r["account_id"], json.loads(r["inputs"])) for r in out)

    expected = decoded(duckdb_con, features(rows), features(before))
    assert len(expected) == 6
    assert decoded(postgres_con, today_pg, before_pg) == expected
