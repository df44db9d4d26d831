"""`score_columns` (arrays) gives exactly the results of `score_table` (one account at a time): every column of
every row, reasons and path sentences included, over random scorecards, values, column types and previous states."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from longtail.core.health import PreviousState, Scorecard, ScorecardSet, default_scorecards, score_table
from longtail.core.health.columnar import COMPONENT, PREVIOUS_COLUMNS, results_columns, round6, score_columns
from tests.health.cards import DAY
from tests.health.test_properties import METRICS, transforms

BANDS = ["red", "yellow", "green"]


@st.composite
def card_sets(draw: st.DrawFn) -> ScorecardSet:
    """One or two random scorecards: the first may apply only to some accounts (a condition on m0 or m1)."""
    cards = []
    count = draw(st.integers(1, 2))
    for priority in range(1, count + 1):
        components = []
        for i in range(draw(st.integers(1, 4))):
            polarity = draw(st.sampled_from(["higher_is_better", "lower_is_better"]))
            components.append({
                "metric": f"m{i}", "polarity": polarity, "label": draw(st.sampled_from([f"Metric {i}", f"mRR {i}"])),
                "transform": draw(transforms(polarity == "higher_is_better")),
                "weight": draw(st.sampled_from([0.5, 1, 2, 3.7])),
                "on_null": draw(st.sampled_from(["exclude", "zero", "neutral", "carry_last"])),
                "step": draw(st.sampled_from([None, 1, 0.5])),
                "previous_metric": draw(st.sampled_from([None, f"p{i}"])),
                "format": draw(st.sampled_from(["number", "percent"])),
                "unit": draw(st.sampled_from(["", "days"])),
            })
        green = draw(st.integers(2, 98))
        red = draw(st.integers(1, green - 1))
        spec: dict[str, Any] = {
            "name": f"card{priority}", "priority": priority, "components": components,
            "aggregation": draw(st.sampled_from(["weighted_mean", "worst_of"])),
            "bands": [{"name": "red", "below": red, "inclusive": draw(st.booleans())},
                      {"name": "yellow", "below": green, "inclusive": draw(st.booleans())}, {"name": "green"}],
            "target_band": draw(st.sampled_from([None, "yellow"])),
            "hysteresis": {"margin": draw(st.sampled_from([0, 5, 30])), "days": draw(st.integers(1, 4))},
        }
        if priority < count:
            bound = draw(st.integers(-10, 30))
            test = draw(st.sampled_from([{"lt": bound}, {"ge": bound}, {"eq": bound}, {"in": [bound, 3]},
                                         {"eq": "x"}]))
            spec[draw(st.sampled_from(["when_any", "when_all"]))] = [{"metric": draw(st.sampled_from(["m0", "m1"])),
                                                                     **test}]
        cards.append(Scorecard.model_validate(spec))
    return ScorecardSet(scorecards=tuple(cards), source="random")


float_values = st.one_of(st.none(), st.just(math.nan), st.just(math.inf), st.just(-0.0),
                         st.floats(-100, 200, allow_nan=False), st.integers(-5, 40).map(float),
                         st.floats(0, 1, allow_nan=False))
int_values = st.one_of(st.none(), st.integers(-5, 40))


@st.composite
def feature_tables(draw: st.DrawFn, n: int) -> pa.Table:
    columns: dict[str, pa.Array] = {"account_id": pa.array([f"acc-{i:03d}" for i in range(n)], pa.string())}
    for name in [*(f"m{i}" for i in range(4)), *(f"p{i}" for i in range(4))]:
        kind = draw(st.sampled_from(["float", "int", "missing", "text", "decimal", "dictionary", "bool"]))
        if kind == "float":
            columns[name] = pa.array(draw(st.lists(float_values, min_size=n, max_size=n)), pa.float64())
        elif kind == "decimal":
            tenths = draw(st.lists(st.one_of(st.none(), st.integers(-500, 4000)), min_size=n, max_size=n))
            columns[name] = pa.array([None if v is None else Decimal(v) / 10 for v in tenths], pa.decimal128(8, 1))
        elif kind == "dictionary":
            values = draw(st.lists(st.one_of(st.none(), st.sampled_from([0.0, 2.5, 7.0, 30.0])), min_size=n,
                                   max_size=n))
            columns[name] = pa.array(values, pa.float64()).dictionary_encode()
        elif kind == "bool":
            columns[name] = pa.array(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n)))
        elif kind == "int":
            columns[name] = pa.array(draw(st.lists(int_values, min_size=n, max_size=n)), pa.int64())
        elif kind == "text":
            columns[name] = pa.array(draw(st.lists(st.sampled_from([None, "7", "x"]), min_size=n, max_size=n)))
    return pa.table(columns)


@st.composite
def previous_states(draw: st.DrawFn, n: int) -> dict[str, PreviousState]:
    states = {}
    for i in range(n):
        if draw(st.booleans()):
            continue
        pending = draw(st.sampled_from([None, *BANDS]))
        values = {f"m{j}": draw(st.floats(-50, 100, allow_nan=False)) for j in range(4) if draw(st.booleans())}
        states[f"acc-{i:03d}"] = PreviousState(
            as_of=DAY - timedelta(days=1), band=draw(st.sampled_from([*BANDS, "gone"])), pending_band=pending,
            pending_since=None if pending is None else DAY - timedelta(days=draw(st.integers(0, 5))),
            component_values=values)
    return states


def previous_table(states: dict[str, PreviousState]) -> pa.Table:
    """The states as the store hands them to `score_columns` (only metric and value of a component are read)."""
    ids = sorted(states)
    components = [[{"metric": m, "label": m, "value": v, "carried": False, "score": None, "weight": 1.0,
                    "contribution": 0.0} for m, v in states[a].component_values.items()] for a in ids]
    return pa.table({"account_id": ids, "band": [states[a].band for a in ids],
                     "pending_band": pa.array([states[a].pending_band for a in ids], pa.string()),
                     "pending_since": pa.array([states[a].pending_since for a in ids], pa.date32()),
                     "components": pa.array(components, pa.list_(COMPONENT))}).select(list(PREVIOUS_COLUMNS))


def assert_same(columns: pa.Table, rows: pa.Table) -> None:
    for name in rows.column_names:
        got, want = columns.column(name).to_pylist(), rows.column(name).to_pylist()
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            assert a == b, (name, i, a, b)
    assert columns.schema == rows.schema


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 12).flatmap(lambda n: st.tuples(card_sets(), feature_tables(n), previous_states(n))))
def test_columns_give_the_results_of_rows(case: tuple[ScorecardSet, pa.Table, dict[str, PreviousState]]) -> None:
    cards, table, states = case
    rows = results_columns(score_table(table, cards, states, as_of=DAY))
    assert_same(score_columns(table, cards, previous_table(states), DAY), rows)


values = st.one_of(st.none(), st.just(math.nan), st.floats(-1e4, 1e4, allow_nan=False),
                   st.integers(0, 500).map(float), st.floats(0, 1, allow_nan=False))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({m: values for m in METRICS}), min_size=1, max_size=20))
def test_default_scorecards_columns_give_the_results_of_rows(rows: list[dict[str, Any]]) -> None:
    table = pa.table({"account_id": [f"a{i}" for i in range(len(rows))],
                      **{m: pa.array([r[m] for r in rows], pa.float64()) for m in METRICS}})
    cards = default_scorecards()
    assert_same(score_columns(table, cards, None, DAY), results_columns(score_table(table, cards, as_of=DAY)))


def test_an_empty_table_scores_to_no_rows() -> None:
    table = pa.table({"account_id": pa.array([], pa.string())})
    assert score_columns(table, default_scorecards(), None, DAY).num_rows == 0


near_ties = st.builds(lambda k, eps: (k + 0.5) / 1e6 + eps, st.integers(-10**8, 10**8),
                      st.sampled_from([0.0, 1e-15, -1e-15, 5e-13, -5e-13]))


@given(st.lists(st.one_of(st.floats(-200, 200), st.floats(-1e12, 1e12), near_ties, st.just(-0.0)), min_size=1))
def test_round6_is_pythons_round(values: list[float]) -> None:
    rounded = round6(np.array(values, dtype=np.float64)).tolist()
    for value, got in zip(values, rounded, strict=True):
        want = round(value, 6)
        assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want), (value, got, want)
