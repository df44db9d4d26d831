"""Generated files follow the data contract, and `longtail load-dir` accepts every row."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import available_timezones

import pytest

from longtail.sim import SimConfig, generate

CFG = SimConfig(accounts=400, days=420, start=dt.date(2025, 2, 1), seed=13)
END = "2026-03-28T00:00:00Z"  # start + 420 days
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COLUMNS = {
    "accounts": ["account_id", "name", "created_at", "industry", "country", "employees", "parent_account_id"],
    "subscriptions": ["subscription_id", "account_id", "plan", "start_date", "end_date", "mrr", "arr",
                      "quantity", "currency"],
    "contacts": ["contact_id", "account_id", "email", "name", "role", "title", "timezone", "created_at"],
    "events": ["event_id", "account_id", "contact_id", "event", "ts", "value", "properties"],
    "tickets": ["ticket_id", "account_id", "opened_at", "closed_at", "priority", "status", "csat"],
    "surveys": ["response_id", "account_id", "contact_id", "ts", "kind", "score", "comment"],
    "team": ["member_id", "name", "email", "role", "capacity", "skills", "tiers"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("contract") / "data"
    generate(CFG, out, "csv")
    rows = {}
    for kind in COLUMNS:
        raw = (out / f"{kind}.csv").read_bytes()
        assert b"\r" not in raw
        raw.decode("utf-8")
        with open(out / f"{kind}.csv", newline="", encoding="utf-8") as fh:
            rows[kind] = list(csv.DictReader(fh))
    rows["_dir"] = [{"path": str(out)}]
    return rows


def test_columns_and_keys(files: dict[str, list[dict[str, str]]]) -> None:
    for kind, cols in COLUMNS.items():
        assert list(files[kind][0])[: len(cols)] == cols, kind
    for kind, key in (("accounts", "account_id"), ("contacts", "contact_id"), ("events", "event_id"),
                      ("tickets", "ticket_id"), ("surveys", "response_id"), ("team", "member_id")):
        values = [r[key] for r in files[kind]]
        assert all(values) and len(set(values)) == len(values), kind
    subs = [(r["subscription_id"], r["start_date"]) for r in files["subscriptions"]]
    assert len(set(subs)) == len(subs)
    assert not {"engagement", "satisfaction", "p_churn", "fit"} & set(files["accounts"][0])


def test_references_and_time_bounds(files: dict[str, list[dict[str, str]]]) -> None:
    created = {r["account_id"]: r["created_at"] for r in files["accounts"]}
    contact_created = {r["contact_id"]: r["created_at"] for r in files["contacts"]}
    contact_account = {r["contact_id"]: r["account_id"] for r in files["contacts"]}
    for kind, ts_cols in (("events", ["ts"]), ("tickets", ["opened_at", "closed_at"]), ("surveys", ["ts"]),
                          ("contacts", ["created_at"])):
        for r in files[kind]:
            assert r["account_id"] in created
            if r.get("contact_id"):
                assert contact_account[r["contact_id"]] == r["account_id"]
                assert r[ts_cols[0]] >= contact_created[r["contact_id"]]
            for col in ts_cols:
                if r[col]:
                    assert ISO.match(r[col]) and created[r["account_id"]] <= r[col] < END, (kind, r)
    for r in files["subscriptions"]:
        assert DATE.match(r["start_date"]) and r["start_date"] >= created[r["account_id"]][:10]
        assert r["end_date"] > r["start_date"] and r["start_date"] < END[:10]
        assert abs(float(r["arr"]) - 12 * float(r["mrr"])) < 0.1 and int(r["quantity"]) >= 1
    for r in files["accounts"]:
        assert ISO.match(r["created_at"]) and r["created_at"] < END and int(r["employees"]) >= 0


def test_values_in_vocabularies(files: dict[str, list[dict[str, str]]]) -> None:
    zones = available_timezones()
    assert all(r["timezone"] in zones for r in files["contacts"])
    assert {r["role"] for r in files["contacts"]} == {
        "admin", "champion", "power_user", "exec_sponsor", "billing", "user"}
    assert {r["priority"] for r in files["tickets"]} <= {"low", "normal", "high", "urgent"}
    assert {r["status"] for r in files["tickets"]} <= {"open", "pending", "solved", "closed"}
    assert all(1 <= int(r["csat"]) <= 5 for r in files["tickets"] if r["csat"])
    bounds = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
    for r in files["surveys"]:
        if r["kind"] == "churn_reason":
            assert r["score"] == "" and r["comment"]
        else:
            lo, hi = bounds[r["kind"]]
            assert lo <= int(r["score"]) <= hi
    names = {r["event"] for r in files["events"]}
    assert 20 <= len(names) <= 40 and all(re.match(r"^[a-z][a-z0-9_]*$", n) for n in names)
    for r in files["events"]:
        if r["properties"]:
            assert isinstance(json.loads(r["properties"]), dict)
    assert {r["role"] for r in files["team"]} == {"csm", "lead", "ops", "admin"}


def test_loads_without_a_single_rejected_row(files: dict[str, list[dict[str, str]]], tmp_path: Path) -> None:
    main = pytest.importorskip("longtail.cli.main")
    from typer.testing import CliRunner

    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(main.app, ["init", str(ws)]).exit_code == 0
    result = runner.invoke(main.app, ["load-dir", files["_dir"][0]["path"], "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "rejected 0" in result.output and "rejected 1" not in result.output
