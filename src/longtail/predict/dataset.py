"""Training sets: observation grids, the point-in-time check, and time splits (no I/O).

A training set is the feature rows of each (account, as_of) observation joined with its label. The features
must be what was knowable on as_of: `check_point_in_time` refuses a feature table whose rows are not for the
observation date, or that carries any date or timestamp after it (a sentinel that catches a column computed
from later data, e.g. a churn date or "last seen" taken from today's snapshot).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from longtail.errors import LongtailError
from longtail.predict.labels import Labelled

ID_COLUMNS = ("account_id", "as_of")
NOT_FEATURES = frozenset({"account_id", "as_of", "is_customer", "label", "window_end", "health_score",
                          "churn_risk", "expansion_propensity", "churn_model_id", "expansion_model_id"})
"""Columns that are keys, labels or model outputs: never model inputs (a model must not read its own score)."""


class LeakageError(LongtailError):
    """A feature table holds information from after its observation date."""


def observation_grid(first: date, last: date, every_days: int) -> list[date]:
    """Dates from `first` to `last` (inclusive) every `every_days` days."""
    if every_days < 1:
        raise ValueError(f"the grid step must be at least 1 day, not {every_days}")
    if last < first:
        raise ValueError(f"the grid must end on or after it starts: {first} to {last}")
    return [first + timedelta(days=n) for n in range(0, (last - first).days + 1, every_days)]


def parse_every(text: str) -> int:
    """'7d', '2w' or '14' -> days."""
    match = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", text)
    if not match:
        raise ValueError(f"--every must look like 7d or 2w, not {text!r}")
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


def _latest_instant(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each value as the instant it ends at (a date counts up to its end), for comparing with as_of."""
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.timestamp("us", tz="UTC")) if column.type.tz else column.cast(pa.timestamp("us"))
    return column


def check_point_in_time(features: pa.Table, dates: Sequence[date]) -> None:
    """Raise LeakageError unless every row is for one of `dates` and no value is dated after its row's as_of."""
    if "as_of" not in features.column_names:
        raise LeakageError("the feature table has no as_of column: cannot prove it is point-in-time")
    as_of = features.column("as_of").cast(pa.date32())
    stray = sorted(set(as_of.to_pylist()) - set(dates), key=str)
    if stray:
        raise LeakageError(f"feature rows dated {stray[0]} answer no observation date")
    for name in features.column_names:
        if name in ID_COLUMNS:
            continue
        column = features.column(name)
        if pa.types.is_date(column.type):
            late = pc.greater(column.cast(pa.date32()), as_of)
        elif pa.types.is_timestamp(column.type):
            days = pc.floor_temporal(_latest_instant(column), unit="day").cast(pa.timestamp("us")).cast(pa.date32())
            late = pc.greater(days, as_of)
        else:
            continue
        count = pc.sum(pc.fill_null(late, False)).as_py() or 0
        if count:
            raise LeakageError(f"feature {name!r} has {count} value(s) dated after their observation date: "
                               "it was computed from later data")


def training_set(features: pa.Table, labelled: Labelled, dates: Sequence[date]) -> pa.Table:
    """Feature rows joined with labels (inner join on account_id, as_of), after the point-in-time check."""
    check_point_in_time(features, dates)
    labels = labelled.table()
    joined = features.join(labels, keys=list(ID_COLUMNS), join_type="inner")
    return joined.sort_by([("as_of", "ascending"), ("account_id", "ascending")])


@dataclass(frozen=True)
class TimeSplit:
    """Row masks of a time split: train on the earliest dates, validate (pick, calibrate), test on the latest."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    boundaries: tuple[date, date]
    """First validation date and first test date."""


def time_split(as_of: Sequence[date], window_end: Sequence[date],
               shares: tuple[float, float] = (0.5, 0.25)) -> TimeSplit:
    """Split by observation date only, never at random: earliest dates train, then validation, then test.

    Rows of an earlier block whose label window ends after the next block starts are purged: their labels
    were not known yet on that date, so keeping them would let the future leak backwards.
    """
    days = sorted(set(as_of))
    if len(days) < 3:
        raise ValueError(f"a time split needs at least 3 observation dates, got {len(days)}")
    cut1 = min(max(1, round(len(days) * shares[0])), len(days) - 2)
    cut2 = min(max(cut1 + 1, round(len(days) * (shares[0] + shares[1]))), len(days) - 1)
    first_valid, first_test = days[cut1], days[cut2]
    obs = np.array([d.toordinal() for d in as_of])
    ends = np.array([d.toordinal() for d in window_end])
    train = (obs < first_valid.toordinal()) & (ends <= first_valid.toordinal())
    valid = (obs >= first_valid.toordinal()) & (obs < first_test.toordinal()) & (ends <= first_test.toordinal())
    test = obs >= first_test.toordinal()
    return TimeSplit(train, valid, test, (first_valid, first_test))

