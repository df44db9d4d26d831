"""A tiny workspace for the web tests: four accounts (one with a hostile name), a team, tiers, CTAs, one
stored health day and five users (one per role, two CSMs), served by `create_app` with a fixed clock."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from longtail.analytics import health_store
from longtail.core.motion.ctas import CreateCta, CtaRequest
from longtail.settings import Workspace, init_workspace, open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.entities import EntityStore
from longtail.store.motion import MotionStore
from longtail.store.users import UserStore, hash_password
from longtail.web import create_app
from longtail.web.auth import SESSION_COOKIE
from longtail.web.csrf import token_for

NOW = datetime(2025, 4, 15, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
HOSTILE = '<script>alert("x")</script> O\'Brien & "Sons"'
PASSWORD = "correct horse battery"

# email -> (role, member id)
USERS: dict[str, tuple[str, str | None]] = {
    "admin@vendor.test": ("admin", None),
    "lead@vendor.test": ("lead", "m_lead"),
    "csm1@vendor.test": ("csm", "m_csm1"),
    "csm2@vendor.test": ("csm", "m_csm2"),
    "viewer@vendor.test": ("viewer", None),
}


def _request(account: str, reason: str, *, priority: str, due: date, cta_type: str = "risk") -> CtaRequest:
    return CtaRequest(account_id=account, cta_type=cta_type, reason=reason, playbook_id="pb_test",  # type: ignore[arg-type]
                      definition_hash="h", priority=priority, due=due, title=f"Call about {reason}",  # type: ignore[arg-type]
                      script="Ask what blocks them.\nOffer the training.", inputs={"events_28d": 3, "seats": 10},
                      checklist=("Call", "Send summary"))


# cta_id -> (request, owner)
CTAS: dict[str, tuple[CtaRequest, str | None]] = {
    "cta_a1_low": (_request("a1", "usage drop", priority="high", due=date(2025, 4, 20)), "m_csm1"),
    "cta_a2_urgent": (_request("a2", "renewal soon", priority="urgent", due=date(2025, 4, 25), cta_type="renewal"),
                      "m_csm1"),
    "cta_a3_other": (_request("a3", "no champion", priority="high", due=date(2025, 4, 16)), "m_csm2"),
    "cta_hostile": (_request("hostile", "quiet", priority="medium", due=date(2025, 4, 18)), None),
}


def seed(ws: Workspace) -> None:
    """Load accounts, contacts, subscriptions, team, tiers, CTAs, one health day and the users."""
    engine = make_engine(ws.database_url)
    migrate(engine)
    entities = EntityStore(engine)
    entities.upsert("accounts", [
        {"account_id": "a1", "name": "Acme", "industry": "software", "country": "US"},
        {"account_id": "a2", "name": "Beta Inc", "industry": "retail", "country": "DE"},
        {"account_id": "a3", "name": "Gamma", "country": "FR"},
        {"account_id": "hostile", "name": HOSTILE},
    ], key=["account_id"])
    entities.upsert("contacts", [
        {"contact_id": "c1", "account_id": "a1", "email": "jo@acme.test", "name": "Jo Acme", "role": "champion"},
        {"contact_id": "c2", "account_id": "a2", "email": "max@beta.test", "name": "Max Beta"},
    ], key=["contact_id"])
    entities.upsert("subscriptions", [
        {"subscription_id": f"s_{a}", "start_date": date(2024, 6, 1), "account_id": a, "plan": "pro",
         "end_date": None, "mrr": Decimal(mrr), "arr": Decimal(mrr * 12), "currency": "USD"}
        for a, mrr in (("a1", 100), ("a2", 250), ("a3", 50), ("hostile", 10))
    ], key=["subscription_id", "start_date"])
    entities.upsert("team", [
        {"member_id": "m_lead", "name": "Lea Lead", "email": "lead@vendor.test", "role": "lead", "capacity": 50,
         "skills": [], "tiers": []},
        {"member_id": "m_csm1", "name": "Cam One", "email": "csm1@vendor.test", "role": "csm", "capacity": 300,
         "skills": [], "tiers": ["pooled"]},
        {"member_id": "m_csm2", "name": "Cy Two", "email": "csm2@vendor.test", "role": "csm", "capacity": 300,
         "skills": [], "tiers": ["mid"]},
    ], key=["member_id"])
    motion = MotionStore(engine, lambda: NOW)
    motion.apply_tiers({"a1": ("pooled", "arr"), "a2": ("pooled", "arr"), "a3": ("mid", "arr"),
                        "hostile": ("pooled", "arr")}, date(2025, 4, 1))
    motion.apply_effects([CreateCta(cid, req, "open", "test") for cid, (req, _) in CTAS.items()], date(2025, 4, 14),
                         owners={cid: (owner, "test") for cid, (_, owner) in CTAS.items()})
    motion.apply_membership("seg_smb", {"a1", "a2"}, set(), date(2025, 4, 1), "h")
    _write_health(ws)
    users = UserStore(engine, lambda: NOW)
    password_hash = hash_password(PASSWORD)  # one hash for all: argon2 is slow on purpose
    for email, (role, member) in USERS.items():
        users.add_user(email, role, name=email.split("@")[0], member_id=member, password_hash=password_hash)
    engine.dispose()


def _write_health(ws: Workspace) -> None:
    rows: list[dict[str, Any]] = [
        {"account_id": a, "as_of": date(2025, 4, 14), "score": score, "band": band, "raw_band": band,
         "pending_band": None, "pending_since": None, "scorecard": "default", "scorecard_hash": "h",
         "components": [{"metric": "events_28d", "score": score}],
         "reasons": [f"reason for {a}"], "path_to_green": [], "green_reachable": True,
         "change_7d": None, "change_30d": None}
        for a, score, band in (("a1", 42.0, "red"), ("a2", 71.5, "yellow"))
    ]
    target = health_store.day_file(ws, date(2025, 4, 14))
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=health_store.SCHEMA), target)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("web-seed")
    ws = init_workspace(root / "ws")
    seed(ws)
    return ws


@pytest.fixture
def ws(seeded: Workspace, tmp_path: Path) -> Workspace:
    """A private copy of the seeded workspace (tests change CTAs and users)."""
    shutil.copytree(seeded.root, tmp_path / "ws")
    return open_workspace(tmp_path / "ws")


@pytest.fixture
def app(ws: Workspace) -> FastAPI:
    return create_app(ws, clock=lambda: NOW, secure_cookies=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


def login_token(client: TestClient) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log `email` in on `client`; returns the session's CSRF token."""
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": login_token(client)})
    assert response.status_code == 303, response.text
    return token_for(client.cookies[SESSION_COOKIE])
