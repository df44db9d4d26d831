"""Feature tables of a workspace: `features_as_of` runs `longtail.core.features.feature_table`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pyarrow as pa

from longtail.analytics.connect import connect, workspace_feature_defs
from longtail.core.features import FeatureSet, feature_table
from longtail.settings import Workspace


def features_as_of(ws: Workspace, as_of: date, defs: FeatureSet | None = None) -> pa.Table:
    """One row per account existing on `as_of`, in the workspace time zone (see docs/features.md)."""
    defs = defs if defs is not None else workspace_feature_defs(ws)
    with connect(ws) as (con, tables):
        expr = feature_table(tables, as_of, defs, tz=ws.settings.timezone)
        return con.to_pyarrow(expr)


def feature_history(ws: Workspace, dates: Iterable[date], defs: FeatureSet | None = None) -> pa.Table:
    """Feature tables for several dates, stacked (the `as_of` column tells them apart)."""
    defs = defs if defs is not None else workspace_feature_defs(ws)
    parts: list[pa.Table] = []
    with connect(ws) as (con, tables):
        for day in sorted(set(dates)):
            parts.append(con.to_pyarrow(feature_table(tables, day, defs, tz=ws.settings.timezone)))
    if not parts:
        raise ValueError("feature_history needs at least one date")
    return pa.concat_tables(parts)
