"""Loading every kind from every format into the embedded store, with rejects and idempotency."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from longtail.core.contract import LOAD_ORDER
from longtail.errors import ConfigError, UnreadableInput
from longtail.ingest.loader import LoadResult, load_files
from longtail.settings import Workspace, open_workspace
from longtail.store.db import make_engine
from longtail.store.entities import EntityStore
from longtail.warehouse.events import Warehouse
from tests.conftest import NOW, SAMPLE, write_rows


def load_all(ws: Workspace, folder: Path, fmt: str) -> dict[str, LoadResult]:
    return {kind: load_files(ws, kind, [folder / f"{kind}.{fmt}"], now=NOW) for kind in LOAD_ORDER}


def rejects(result: LoadResult) -> list[dict[str, str]]:
    assert result.rejects_file is not None
    with result.rejects_file.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def store(ws: Workspace) -> EntityStore:
    return EntityStore(make_engine(ws.database_url))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "csv.gz", "jsonl.gz"])
def test_every_kind_loads_from_every_format(workspace: Workspace, sample_dir: Callable[[str], Path], fmt: str) -> None:
    results = load_all(workspace, sample_dir(fmt), fmt)
    for kind, result in results.items():
        assert result.rejected == 0, (kind, result)
        assert result.read == len(SAMPLE[kind])
        assert result.loaded == len(SAMPLE[kind]), kind
    s = store(workspace)
    accounts = {r["account_id"]: r for r in s.rows("accounts")}
    assert accounts["a3"]["name"] == 'Gamma "G" Ltd\nSecond line'
    assert accounts["a2"]["created_at"].isoformat().startswith("2025-02-01T00:00:00")
    subs = {r["account_id"]: r for r in s.rows("subscriptions")}
    assert subs["a1"]["arr"] == Decimal("12000.0000")  # derived from mrr
    assert subs["a2"]["mrr"] == Decimal("500.0000")  # derived from arr
    assert subs["a2"]["subscription_id"].startswith("sub_")  # derived from the row
    assert subs["a1"]["currency"] == "USD" and subs["a2"]["currency"] == "USD"
    team = {r["member_id"]: r for r in s.rows("team")}
    assert team["m2"]["tiers"] == ["pooled", "mid"]
    assert Warehouse(workspace.warehouse_url, workspace.state_dir).count() == 3


def test_entities_are_snapshotted_for_the_warehouse(workspace: Workspace,
                                                    sample_dir: Callable[[str], Path]) -> None:
    import ibis

    from longtail.warehouse.entities import entity_table

    load_all(workspace, sample_dir("csv"), "csv")
    con = ibis.duckdb.connect()
    for kind in LOAD_ORDER:
        if kind == "events":
            continue
        table = entity_table(con, workspace.tables_dir, kind).to_pyarrow()
        assert table.num_rows == len(SAMPLE[kind]), kind
    subs = entity_table(con, workspace.tables_dir, "subscriptions").to_pyarrow().to_pylist()
    assert sorted(s["arr"] for s in subs) == [6000.0, 12000.0]
    rows = entity_table(con, workspace.tables_dir, "accounts").to_pyarrow().to_pylist()
    accounts = {a["account_id"]: a for a in rows}
    assert json.loads(accounts["a1"]["attributes"]) == {"nps_goal": 40, "segment": "smb"}
    assert entity_table(con, workspace.tables_dir / "nothing", "tickets").to_pyarrow().num_rows == 0


def test_custom_attributes_are_typed(workspace: Workspace, sample_dir: Callable[[str], Path]) -> None:
    load_all(workspace, sample_dir("csv"), "csv")
    s = store(workspace)
    accounts = {r["account_id"]: r for r in s.rows("accounts")}
    assert accounts["a1"]["attributes"] == {"segment": "smb", "nps_goal": 40}
    assert accounts["a2"]["attributes"] == {"segment": "mid", "nps_goal": 35.5}
    assert accounts["a3"]["attributes"] is None
    assert s.attribute_types("accounts") == {"segment": "string", "nps_goal": "number"}


def test_reload_is_idempotent_and_detects_changes(workspace: Workspace, sample_dir: Callable[[str], Path],
                                                  tmp_path: Path) -> None:
    folder = sample_dir("csv")
    load_all(workspace, folder, "csv")
    again = load_all(workspace, folder, "csv")
    for kind, result in again.items():
        assert (result.loaded, result.updated, result.rejected) == (0, 0, 0), kind
        assert result.unchanged == len(SAMPLE[kind]), kind
    changed = [dict(r) for r in SAMPLE["accounts"]]
    changed[0]["name"] = "Acme Corp"
    changed.append({**changed[1], "account_id": "a4"})
    result = load_files(workspace, "accounts", [write_rows(tmp_path / "accounts2.csv", changed)], now=NOW)
    assert (result.loaded, result.updated, result.unchanged) == (1, 1, 2)
    assert Warehouse(workspace.warehouse_url, workspace.state_dir).count() == 3


def test_both_subscription_shapes_load(workspace: Workspace, sample_dir: Callable[[str], Path],
                                       tmp_path: Path) -> None:
    load_files(workspace, "accounts", [sample_dir("csv") / "accounts.csv"], now=NOW)
    periods = [
        {"subscription_id": "stripe_sub_1", "account_id": "a1", "plan": "pro", "start_date": f"2025-{m:02d}-01",
         "end_date": f"2025-{m + 1:02d}-01" if m < 12 else "2026-01-01", "mrr": "1000", "quantity": "20"}
        for m in range(1, 13)
    ]
    result = load_files(workspace, "subscriptions", [write_rows(tmp_path / "periods.csv", periods)], now=NOW)
    assert (result.loaded, result.rejected) == (12, 0)
    rows = store(workspace).rows("subscriptions")
    from longtail.core.revenue import arr_by_account, contract_terms

    terms = contract_terms(rows)
    assert len(terms) == 1 and terms[0].start.isoformat() == "2025-01-01" and terms[0].end is not None
    assert terms[0].end.isoformat() == "2026-01-01"
    from datetime import date

    assert arr_by_account(rows, date(2025, 7, 15)) == {"a1": 12000.0}


def test_foreign_column_names_are_mapped(tmp_path: Path) -> None:
    from longtail.settings import init_workspace

    ws_dir = tmp_path / "mapped"
    init_workspace(ws_dir)
    config = ws_dir / "longtail.toml"
    config.write_text(config.read_text() + '\n[mapping.accounts]\naccount_id = "Record ID"\nname = "Company name"\n'
                      'employees = "Number of Employees"\n')
    ws = open_workspace(ws_dir)
    hubspot = [{"Record ID": "901", "Company name": "Hub Co", "Number of Employees": "42",
                "Lifecycle Stage": "customer"}]
    result = load_files(ws, "accounts", [write_rows(tmp_path / "hubspot.csv", hubspot)], now=NOW)
    assert (result.loaded, result.rejected) == (1, 0)
    row = store(ws).rows("accounts")[0]
    assert (row["account_id"], row["name"], row["employees"]) == ("901", "Hub Co", 42)
    assert row["attributes"] == {"Lifecycle Stage": "customer"}


def test_mapping_to_unknown_contract_column_is_a_config_error(tmp_path: Path) -> None:
    from longtail.settings import init_workspace

    init_workspace(tmp_path / "w")
    config = tmp_path / "w" / "longtail.toml"
    config.write_text(config.read_text() + '\n[mapping.accounts]\naccount_idd = "Record ID"\n')
    with pytest.raises(ConfigError, match="account_idd"):
        load_files(open_workspace(tmp_path / "w"), "accounts", [tmp_path / "x.csv"], now=NOW)


def _bad_accounts(tmp_path: Path) -> Path:
    rows = [
        {"account_id": "a1", "name": "ok", "created_at": "2025-01-01", "employees": "10", "tier_note": ""},
        {"account_id": "", "name": "no id", "created_at": "2025-01-01", "employees": "10", "tier_note": ""},
        {"account_id": "a3", "name": "bad date", "created_at": "2025-13-45", "employees": "10", "tier_note": ""},
        {"account_id": "a4", "name": "negative", "created_at": "2025-01-01", "employees": "-3", "tier_note": ""},
        {"account_id": "a1", "name": "duplicate", "created_at": "2025-01-01", "employees": "10", "tier_note": ""},
        {"account_id": "a6", "name": "ok too", "created_at": "", "employees": "", "tier_note": "x"},
    ]
    return write_rows(tmp_path / "accounts.csv", rows)


def test_bad_rows_are_rejected_with_line_field_and_reason(workspace: Workspace, tmp_path: Path) -> None:
    path = _bad_accounts(tmp_path)
    result = load_files(workspace, "accounts", [path], now=NOW)
    assert (result.read, result.loaded, result.rejected) == (6, 2, 4)
    found = {(r["line"], r["field"]): r["reason"] for r in rejects(result)}
    assert found[("3", "account_id")] == "required field is missing or empty"
    assert "not a timestamp" in found[("4", "created_at")]
    assert "must not be negative" in found[("5", "employees")]
    assert "duplicate key 'a1' (first at line 2)" in found[("6", "account_id")]
    assert all(r["source_file"] == str(path) for r in rejects(result))


def test_negative_money_and_unknown_accounts_are_rejected(workspace: Workspace, sample_dir: Callable[[str], Path],
                                                          tmp_path: Path) -> None:
    load_files(workspace, "accounts", [sample_dir("csv") / "accounts.csv"], now=NOW)
    subs = [
        {"account_id": "a1", "plan": "pro", "start_date": "2025-01-01", "mrr": "-10"},
        {"account_id": "nope", "plan": "pro", "start_date": "2025-01-01", "mrr": "10"},
        {"account_id": "a2", "plan": "pro", "start_date": "2025-01-01", "mrr": ""},
        {"account_id": "a2", "plan": "pro", "start_date": "2025-03-01", "mrr": "10"},
    ]
    result = load_files(workspace, "subscriptions", [write_rows(tmp_path / "subs.csv", subs)], now=NOW)
    assert (result.loaded, result.rejected) == (1, 3)
    reasons = {r["line"]: r["reason"] for r in rejects(result)}
    assert "must not be negative" in reasons["2"]
    assert reasons["3"] == "unknown account 'nope'"
    assert reasons["4"] == "one of mrr or arr is required"
    events = [{"account_id": "ghost", "event": "login", "ts": "2025-01-01T00:00:00Z"},
              {"account_id": "a1", "event": "login", "ts": "yesterday"}]
    result = load_files(workspace, "events", [write_rows(tmp_path / "ev.csv", events)], now=NOW)
    assert (result.loaded, result.rejected) == (0, 2)


def test_truncated_gzip_loads_complete_rows_and_reports_the_rest(workspace: Workspace, tmp_path: Path) -> None:
    rows = [{"account_id": f"a{i}", "name": f"Account {i}" * 3} for i in range(5000)]
    full = write_rows(tmp_path / "accounts.csv.gz", rows)
    data = full.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    result = load_files(workspace, "accounts", [cut], now=NOW)
    assert 0 < result.loaded < 5000
    assert result.rejected >= 1
    reasons = [r["reason"] for r in rejects(result)]
    assert any("truncated" in r for r in reasons)
    # every account that loaded is complete (its name is intact)
    for row in store(workspace).rows("accounts"):
        assert row["name"] == f"Account {row['account_id'][1:]}" * 3


def test_binary_file_is_unreadable(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(bytes(range(256)) * 50)
    with pytest.raises(UnreadableInput):
        load_files(workspace, "accounts", [path], now=NOW)


def test_not_utf8_header_is_unreadable(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes("account_id,n\xe4me\na1,x\n".encode("latin-1"))
    with pytest.raises(UnreadableInput, match="not UTF-8"):
        load_files(workspace, "accounts", [path], now=NOW)


def test_invalid_utf8_row_is_rejected_not_dropped(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_bytes(b"account_id,name,employees\na1,ok,1\na2,caf\xe9,1\na3,fine,1\na4,bad,-1\n")
    result = load_files(workspace, "accounts", [path], now=NOW)
    assert (result.loaded, result.rejected) == (2, 2)
    found = rejects(result)
    assert found[0]["line"] == "3" and "UTF-8" in found[0]["reason"]
    assert found[1]["line"] == "5" and found[1]["field"] == "employees"


def test_wrong_header_is_unreadable(workspace: Workspace, tmp_path: Path) -> None:
    path = write_rows(tmp_path / "accounts.csv", [{"id": "a1", "title": "x"}])
    with pytest.raises(UnreadableInput, match="missing required column"):
        load_files(workspace, "accounts", [path], now=NOW)


def test_a_50mb_single_line_is_rejected_and_the_rest_loads(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    with path.open("wb") as fh:
        fh.write(b"account_id,name\na1,before\na2,")
        fh.write(b"x" * (50 << 20))
        fh.write(b"\na3,after\n")
    result = load_files(workspace, "accounts", [path], now=NOW)
    assert (result.loaded, result.rejected) == (2, 1)
    found = rejects(result)
    assert found[0]["line"] == "3" and "longer than" in found[0]["reason"]
    assert {r["account_id"] for r in store(workspace).rows("accounts")} == {"a1", "a3"}


def test_a_long_value_within_the_record_limit_is_rejected_by_field(workspace: Workspace, tmp_path: Path) -> None:
    rows = [{"account_id": "a1", "name": "y" * 100_000}, {"account_id": "a2", "name": "fine"}]
    result = load_files(workspace, "accounts", [write_rows(tmp_path / "a.csv", rows)], now=NOW)
    assert (result.loaded, result.rejected) == (1, 1)
    assert rejects(result)[0]["field"] == "name"


def test_ragged_csv_rows_are_rejected_with_their_line(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv"
    path.write_text('account_id,name\na1,"multi\nline"\na2\na3,ok,extra\na4,ok\n', encoding="utf-8")
    result = load_files(workspace, "accounts", [path], now=NOW)
    assert (result.loaded, result.rejected) == (2, 2)
    assert [r["line"] for r in rejects(result)] == ["4", "5"]


def test_jsonl_garbage_lines_are_rejected(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.jsonl"
    path.write_text('{"account_id": "a1"}\nnot json\n[1,2]\n{}\n\n{"account_id": "a2", "employees": 5}\n',
                    encoding="utf-8")
    result = load_files(workspace, "accounts", [path], now=NOW)
    assert (result.loaded, result.rejected) == (2, 3)
    assert [r["line"] for r in rejects(result)] == ["2", "3", "4"]


def test_events_deduplicate_by_id_and_by_content(workspace: Workspace, sample_dir: Callable[[str], Path],
                                                 tmp_path: Path) -> None:
    folder = sample_dir("csv")
    for kind in ("accounts", "contacts"):
        load_files(workspace, kind, [folder / f"{kind}.csv"], now=NOW)
    events = [
        {"account_id": "a1", "event": "login", "ts": "2025-06-01T10:00:00Z", "event_id": "x1"},
        {"account_id": "a1", "event": "login", "ts": "2025-06-01T10:00:00Z", "event_id": "x1"},
        {"account_id": "a1", "event": "login", "ts": "2025-06-01T11:00:00Z", "event_id": ""},
        {"account_id": "a1", "event": "login", "ts": "2025-06-01T11:00:00Z", "event_id": ""},
    ]
    result = load_files(workspace, "events", [write_rows(tmp_path / "ev.csv", events)], now=NOW)
    assert (result.read, result.loaded, result.unchanged) == (4, 2, 2)
    again = load_files(workspace, "events", [write_rows(tmp_path / "ev.jsonl", events)], now=NOW)
    assert (again.loaded, again.unchanged) == (0, 4)
    more = [*events, {"account_id": "a2", "event": "export", "ts": "2025-06-03T10:00:00Z", "event_id": "x9"}]
    third = load_files(workspace, "events", [write_rows(tmp_path / "ev3.csv", more)], now=NOW)
    assert (third.loaded, third.unchanged) == (1, 4)
    warehouse = Warehouse(workspace.warehouse_url, workspace.state_dir)
    assert warehouse.landed() == [] and warehouse.count() == 3
    with warehouse.connect() as con:
        ids = sorted(warehouse.events(con).event_id.to_pyarrow().to_pylist())
    assert ids[1:] == ["x1", "x9"] and ids[0].startswith("h_")


def test_first_load_of_unique_ids_moves_the_landed_file(workspace: Workspace, sample_dir: Callable[[str], Path],
                                                          tmp_path: Path) -> None:
    load_files(workspace, "accounts", [sample_dir("csv") / "accounts.csv"], now=NOW)
    events = [{"account_id": "a1", "event": "login", "ts": f"2025-06-01T10:00:{i:02d}Z", "event_id": f"u{i}"}
              for i in range(10)]
    result = load_files(workspace, "events", [write_rows(tmp_path / "ev.parquet", events)], now=NOW)
    assert (result.loaded, result.unchanged) == (10, 0)
    warehouse = Warehouse(workspace.warehouse_url, workspace.state_dir)
    assert len(warehouse.parts()) == 1 and warehouse.count() == 10


def test_naive_timestamps_use_the_workspace_timezone(tmp_path: Path) -> None:
    from longtail.settings import init_workspace

    ws = init_workspace(tmp_path / "tz", timezone="Europe/Berlin")
    rows = [{"account_id": "a1", "created_at": "2025-07-01 12:00:00"},
            {"account_id": "a2", "created_at": "2025-07-01T12:00:00Z"}]
    load_files(ws, "accounts", [write_rows(tmp_path / "a.csv", rows)], now=NOW)
    got = {r["account_id"]: r["created_at"] for r in store(ws).rows("accounts")}
    assert got["a1"].astimezone().utctimetuple()[:5] == (2025, 7, 1, 10, 0)
    assert got["a2"].astimezone().utctimetuple()[:5] == (2025, 7, 1, 12, 0)


def test_load_runs_are_recorded(workspace: Workspace, sample_dir: Callable[[str], Path]) -> None:
    from sqlalchemy import select

    from longtail.store.tables import load_runs

    load_all(workspace, sample_dir("csv"), "csv")
    with make_engine(workspace.database_url).connect() as conn:
        runs = conn.execute(select(load_runs.c.kind, load_runs.c.loaded)).all()
    assert [r.kind for r in runs] == list(LOAD_ORDER)
    assert json.dumps([r.loaded for r in runs]) == json.dumps([len(SAMPLE[k]) for k in LOAD_ORDER])


def test_gzip_with_garbage_is_unreadable_or_reported(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "accounts.csv.gz"
    path.write_bytes(gzip.compress(b"account_id,name\na1,x\n")[:10] + b"\x00garbage" * 100)
    with pytest.raises(UnreadableInput):
        load_files(workspace, "accounts", [path], now=NOW)
