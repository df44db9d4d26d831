"""Fixtures of the outbox tests: a migrated store on SQLite or PostgreSQL, and a real local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from longtail.store.db import make_engine, migrate
from longtail.store.outbox import OutboxStore
from tests.outbox.helpers import SmtpServer


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_engine: Engine) -> Engine:
    """The emptied PostgreSQL of tests/conftest.py, migrated."""
    migrate(pg_engine)
    return pg_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    return engine


@pytest.fixture
def store(engine: Engine) -> OutboxStore:
    return OutboxStore(engine)


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path / "received.log")
    server.start()
    yield server
    server.stop()
