"""The prefix test that leads `_one_of` only speeds the scan: it must select exactly the rows `IN` selects."""

from __future__ import annotations

import ibis
from hypothesis import given, settings
from hypothesis import strategies as st

from longtail.core.features import _one_of

# short alphabets so that generated names often share prefixes, and include LIKE's wildcards
_NAME = st.text(alphabet="lo.ng_%ab", min_size=0, max_size=6)


def _selected(events: list[str], names: list[str]) -> list[str]:
    t = ibis.memtable({"i": list(range(len(events))), "event": events})
    out = ibis.duckdb.connect().to_pyarrow(t.filter(_one_of(t.event, names)).order_by("i"))
    return [str(e) for e in out.column("event").to_pylist()]


@settings(max_examples=60, deadline=None)
@given(events=st.lists(_NAME, min_size=1, max_size=20), names=st.lists(_NAME, max_size=5))
def test_same_rows_as_in(events: list[str], names: list[str]) -> None:
    assert _selected(events, names) == [e for e in events if e in names]


def test_a_shared_prefix_is_not_enough() -> None:
    names = ["longtail.email.opened", "longtail.email.clicked"]
    events = ["longtail.email.opened", "longtail.email.bounced", "longtail.", "longtail.email.clicked", "login"]
    assert _selected(events, names) == ["longtail.email.opened", "longtail.email.clicked"]
    assert _selected(events, []) == []
