"""A small seeded workspace (the one tests/web uses), its app, an admin session and a read key, for fuzzing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.schemas import BaseSchema

from longtail.settings import Workspace, init_workspace
from longtail.store.db import make_engine
from longtail.store.users import UserStore, new_token
from longtail.web import create_app
from longtail.web.auth import SESSION_COOKIE
from longtail.web.csrf import token_for
from tests.web.conftest import NOW, seed


@dataclass(frozen=True)
class Credentials:
    """How the fuzzer authenticates: an admin session (may call every route) and a read key."""

    session: str
    csrf: str
    read_key: str

    def session_headers(self) -> dict[str, str]:
        # The CSRF header rides on every call: GETs ignore it, and unsafe methods must pass the check to reach
        # the handler's own validation, which is what the fuzzer is after.
        return {"Cookie": f"{SESSION_COOKIE}={self.session}", "X-CSRF-Token": self.csrf}


@pytest.fixture(scope="session")
def fuzz_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = init_workspace(tmp_path_factory.mktemp("web-fuzz") / "ws")
    seed(ws)
    return ws


@pytest.fixture(scope="session")
def credentials(fuzz_ws: Workspace) -> Credentials:
    engine = make_engine(fuzz_ws.database_url)
    try:
        users = UserStore(engine, lambda: NOW)
        admin = users.user_by_email("admin@vendor.test")
        assert admin is not None
        session = new_token()
        users.create_session(admin, session, NOW + timedelta(hours=12))
        read_key, _ = users.create_key("read", "fuzz", actor="test")
    finally:
        engine.dispose()
    return Credentials(session=session, csrf=token_for(session), read_key=read_key)


@pytest.fixture(scope="session")
def fuzz_app(fuzz_ws: Workspace) -> FastAPI:
    return create_app(fuzz_ws, clock=lambda: NOW, secure_cookies=False)


@pytest.fixture(scope="session")
def api_schema(fuzz_app: FastAPI, credentials: Credentials) -> BaseSchema:
    """The app's OpenAPI document, fetched the way a machine would: with a read key."""
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app,
                                          headers={"Authorization": f"Bearer {credentials.read_key}"})
