"""Segments: named groups of accounts defined by a condition and/or overlays of other segments.

`segment_table` compiles every segment into one projection over the feature table (one boolean column per
segment, evaluated in the warehouse); `membership_changes` compares today's members with the stored ones so a
run only records transitions (who entered, who left).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from longtail.core.expressions import Condition, to_ibis
from longtail.errors import LongtailError

SEGMENT_PREFIX = "seg_"
SEGMENT_ID = re.compile(r"[a-z][a-z0-9_]*")
MEMBERS_SCHEMA = pa.schema([("segment_id", pa.string()), ("account_id", pa.string())])


class SegmentError(LongtailError):
    """The segment definitions cannot be evaluated: a cycle, an unknown or duplicate id, or an empty segment."""

    exit_code = 2


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: accounts matching `condition` (if any) AND in every `all_of` segment AND in at least one
    `any_of` segment (when given) AND in no `none_of` segment."""

    segment_id: str
    condition: Condition | None = None
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    definition_hash: str = ""

    @classmethod
    def of(cls, segment_id: str, condition: Condition | None = None, *, all_of: Sequence[str] = (),
           any_of: Sequence[str] = (), none_of: Sequence[str] = ()) -> SegmentSpec:
        """A spec with its `definition_hash` computed from the condition's hash and the overlays."""
        return cls(segment_id, condition, tuple(all_of), tuple(any_of), tuple(none_of),
                   segment_hash(condition, all_of, any_of, none_of))

    @property
    def references(self) -> tuple[str, ...]:
        """The other segments this one is built from, in the order written."""
        return self.all_of + self.any_of + self.none_of


def segment_hash(condition: Condition | None, all_of: Sequence[str], any_of: Sequence[str],
                 none_of: Sequence[str]) -> str:
    """SHA-256 of everything that decides membership, so a stored membership can tell it is stale."""
    payload = {"condition": condition.hash if condition else None, "all_of": list(all_of),
               "any_of": list(any_of), "none_of": list(none_of)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def column_name(segment_id: str) -> str:
    """The boolean column holding membership of `segment_id` in `segment_table`."""
    return SEGMENT_PREFIX + segment_id


def resolve_order(specs: Sequence[SegmentSpec]) -> list[str]:
    """Segment ids ordered so each comes after the segments it refers to (input order otherwise).

    Raises `SegmentError` for a bad or duplicate id, an empty segment, an unknown reference (with a did-you-mean)
    or a cycle (naming the segments that refer to each other)."""
    by_id = _index(specs)
    for spec in specs:
        for ref in spec.references:
            if ref not in by_id:
                raise SegmentError(_unknown_reference(spec.segment_id, ref, list(by_id)))
    order: list[str] = []
    state: dict[str, str] = {}  # "visiting" while on the current path, "done" once placed
    for spec in specs:
        _visit(spec.segment_id, by_id, state, [], order)
    return order


def _index(specs: Sequence[SegmentSpec]) -> dict[str, SegmentSpec]:
    by_id: dict[str, SegmentSpec] = {}
    for spec in specs:
        if not SEGMENT_ID.fullmatch(spec.segment_id):
            raise SegmentError(f"segment id {spec.segment_id!r} must be lower_snake_case (letters, digits, _), "
                               "because it becomes a column name")
        if spec.segment_id in by_id:
            raise SegmentError(f"segment {spec.segment_id!r} is defined twice")
        if spec.condition is None and not spec.references:
            raise SegmentError(f"segment {spec.segment_id!r} has neither a condition nor all_of/any_of/none_of")
        by_id[spec.segment_id] = spec
    return by_id


def _unknown_reference(owner: str, ref: str, known: list[str]) -> str:
    message = f"segment {owner!r} refers to unknown segment {ref!r}"
    close = difflib.get_close_matches(ref, known, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _visit(node: str, by_id: Mapping[str, SegmentSpec], state: dict[str, str], path: list[str],
           order: list[str]) -> None:
    # Recursion depth is bounded by the number of segments in a configuration (tens), not by data.
    if state.get(node) == "done":
        return
    if state.get(node) == "visiting":
        cycle = [*path[path.index(node):], node]
        raise SegmentError("segment " + " -> ".join(repr(s) for s in cycle) + " refer to each other")
    state[node] = "visiting"
    path.append(node)
    for ref in by_id[node].references:
        _visit(ref, by_id, state, path, order)
    path.pop()
    state[node] = "done"
    order.append(node)


def segment_table(features: ir.Table, specs: Sequence[SegmentSpec]) -> ir.Table:
    """`account_id` plus one non-null boolean column `seg_<id>` per segment, in one projection of `features`.

    Each condition's unknown policy decides accounts with missing data; overlays combine the already decided
    memberships, so they are never null either."""
    by_id = {spec.segment_id: spec for spec in specs}
    members: dict[str, ir.BooleanValue] = {}
    for segment_id in resolve_order(specs):
        members[segment_id] = _membership(by_id[segment_id], features, members)
    return features.select(features.account_id, **{column_name(s.segment_id): members[s.segment_id] for s in specs})


def _membership(spec: SegmentSpec, features: ir.Table, done: Mapping[str, ir.BooleanValue]) -> ir.BooleanValue:
    parts: list[ir.BooleanValue] = []
    if spec.condition is not None:
        parts.append(to_ibis(spec.condition, features))
    parts += [done[ref] for ref in spec.all_of]
    if spec.any_of:
        parts.append(_fold_or([done[ref] for ref in spec.any_of]))
    parts += [~done[ref] for ref in spec.none_of]
    result = parts[0]
    for part in parts[1:]:
        result = result & part
    return result


def _fold_or(values: list[ir.BooleanValue]) -> ir.BooleanValue:
    result = values[0]
    for value in values[1:]:
        result = result | value
    return result


def members_of(today: pa.Table) -> pa.Table:
    """`segment_table` output (wide) as long (segment_id, account_id) rows, one per member."""
    parts = []
    accounts = today.column("account_id").cast(pa.string())
    for name in today.column_names:
        if not name.startswith(SEGMENT_PREFIX):
            continue
        ids = pc.filter(accounts, pc.fill_null(today.column(name), False)).combine_chunks()
        segment = pa.repeat(pa.scalar(name[len(SEGMENT_PREFIX):], pa.string()), len(ids))
        parts.append(pa.table([segment, ids], schema=MEMBERS_SCHEMA))
    if not parts:
        return MEMBERS_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def membership_changes(previous: pa.Table, today: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(entered, left): (segment_id, account_id) rows that are members today but were not, and the reverse.

    `previous` holds the current members as stored (segment_id, account_id); `today` is a `segment_table`
    result. Only segments evaluated today can be left: a segment removed from the configuration is a change of
    definition, not account motion, so its stored members are not reported as leaving. An account missing from
    today's table is no longer a member of anything, so it leaves."""
    current = members_of(today)
    stored = previous.select(["segment_id", "account_id"]).cast(MEMBERS_SCHEMA)
    evaluated = pa.array([n[len(SEGMENT_PREFIX):] for n in today.column_names if n.startswith(SEGMENT_PREFIX)],
                         pa.string())
    stored = stored.filter(pc.is_in(stored.column("segment_id"), value_set=evaluated))
    keys = ["segment_id", "account_id"]
    entered = current.join(stored, keys=keys, join_type="left anti")
    left = stored.join(current, keys=keys, join_type="left anti")
    return _sorted(entered), _sorted(left)


def _sorted(table: pa.Table) -> pa.Table:
    # Joins do not keep order; a stable order makes stored transitions and test output deterministic.
    return table.select(["segment_id", "account_id"]).sort_by([("segment_id", "ascending"),
                                                                ("account_id", "ascending")])

