"""UserStore on a real PostgreSQL: migration 0007 applies and users, sessions, keys and notes round-trip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from longtail.store.db import migrate
from longtail.store.users import UserStore, hash_password
from tests.web.conftest import NOW


@pytest.mark.postgres
def test_user_store_round_trips_on_postgres(pg_engine: Engine) -> None:
    migrate(pg_engine)
    store = UserStore(pg_engine, lambda: NOW)
    user = store.add_user("Lead@Vendor.test", "lead", member_id="m1", password_hash=hash_password("long enough"))
    store.create_session(user, "tok", NOW + timedelta(hours=1))
    assert store.session_user("tok") == user
    key, record = store.create_key("read", "bi", actor="m1")
    assert store.key_for(key) == record
    note = store.add_note("a1", "m1", "hello")
    assert store.notes_for("a1") == [note]
    assert [e["action"] for e in store.audit_entries()] == ["note.add", "key.create", "session.login", "user.add"]
