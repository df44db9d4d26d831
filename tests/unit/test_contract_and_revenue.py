"""The data contract as data, and recurring revenue from both subscription shapes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from longtail.core.contract import KINDS, LOAD_ORDER, contract_schema
from longtail.core.revenue import arr_by_account, contract_terms, value_bands


def test_every_kind_has_a_key_and_a_place_in_the_load_order() -> None:
    assert set(LOAD_ORDER) == set(KINDS)
    for kind in KINDS.values():
        assert set(kind.key) <= set(kind.names)
        for ref in kind.references:
            assert LOAD_ORDER.index(ref.kind) < LOAD_ORDER.index(kind.name)


def test_contract_schema_covers_every_kind() -> None:
    schema = contract_schema()
    assert set(schema["$defs"]) == set(KINDS)
    assert schema["$defs"]["subscriptions"]["anyOf"] == [{"required": ["mrr"]}, {"required": ["arr"]}]


def _month(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


@given(st.integers(1, 36), st.integers(1, 12), st.integers(0, 100_000), st.integers(0, 60))
def test_term_rows_and_billing_period_rows_agree(months: int, start_month: int, mrr: int, probe: int) -> None:
    start = _month(2024, start_month)
    end = _month(2024, start_month + months)
    term = [{"subscription_id": "s", "account_id": "a", "plan": "p", "start_date": start, "end_date": end,
             "arr": Decimal(mrr * 12), "quantity": 3}]
    periods: list[dict[str, Any]] = [
        {"subscription_id": "s", "account_id": "a", "plan": "p", "start_date": _month(2024, start_month + i),
         "end_date": _month(2024, start_month + i + 1), "arr": Decimal(mrr * 12), "quantity": 3}
        for i in range(months)
    ]
    assert contract_terms(term) == contract_terms(periods)
    day = _month(2023, 12 + probe)
    assert arr_by_account(term, day) == arr_by_account(periods, day)


def test_a_price_change_splits_the_term() -> None:
    rows = [
        {"subscription_id": "s", "account_id": "a", "plan": "p", "start_date": date(2025, 1, 1),
         "end_date": date(2025, 2, 1), "arr": 1200, "quantity": 1},
        {"subscription_id": "s", "account_id": "a", "plan": "p", "start_date": date(2025, 2, 1),
         "end_date": None, "arr": 2400, "quantity": 2},
    ]
    terms = contract_terms(rows)
    assert [t.arr for t in terms] == [Decimal(1200), Decimal(2400)]
    assert arr_by_account(rows, date(2025, 1, 31)) == {"a": 1200.0}
    assert arr_by_account(rows, date(2030, 1, 1)) == {"a": 2400.0}


def test_value_bands_bounds() -> None:
    bands = value_bands({"a": 24_999.0, "b": 25_000.0, "c": 100_000.0, "d": 0.0})
    assert [b["accounts"] for b in bands] == [1, 1, 1]
