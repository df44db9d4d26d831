"""A minimal app with the ingestion and events routers behind a test write key (HTTP Basic `writeKey:`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from longtail.settings import Workspace
from longtail.web.ingest_api import events_router, ingest_router

WRITE_KEY = "wk_test"
READ_KEY = "rk_test"


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def require_write_key(request: Request) -> None:
    """Stands in for the app's key check: Segment sends `Authorization: Basic base64(writeKey:)`."""
    if request.headers.get("authorization") != basic(WRITE_KEY):
        raise HTTPException(401, detail="unknown write key", headers={"WWW-Authenticate": "Basic"})


def require_read_key(request: Request) -> None:
    if request.headers.get("authorization") != f"Bearer {READ_KEY}":
        raise HTTPException(401, detail="unknown read key")


def make_app(ws: Workspace) -> FastAPI:
    app = FastAPI()
    app.include_router(ingest_router(ws, require_write_key))
    app.include_router(events_router(ws, require_read_key))
    return app


@pytest.fixture
def client(workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(make_app(workspace), headers={"Authorization": basic(WRITE_KEY)}) as c:
        yield c
