"""`longtail users` / `longtail keys` (typer apps invoked directly) and the UserStore underneath them."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import typer
from typer.testing import CliRunner

from longtail.cli.web import keys_app, serve, users_app
from longtail.errors import UsageError
from longtail.settings import Workspace
from longtail.store.db import make_engine
from longtail.store.users import UserStore, hash_password, verify_password
from tests.web.conftest import NOW

runner = CliRunner()


def _store(ws: Workspace, clock: object = None) -> UserStore:
    return UserStore(make_engine(ws.database_url), (lambda: NOW) if clock is None else clock)  # type: ignore[arg-type]


def _forget(store: UserStore, email: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users WHERE email = ?", (email,))


def test_users_add_with_password_from_stdin(ws: Workspace) -> None:
    ok = runner.invoke(users_app, ["add", "New@Vendor.test", "--role", "viewer", "--password-stdin", "-w",
                                   str(ws.root)], input="a long secret\n")
    assert ok.exit_code == 0, ok.output
    assert "password:" not in ok.stdout
    user = _store(ws).user_by_email("new@vendor.test")
    assert user is not None and (user.role, user.member_id) == ("viewer", None)
    assert verify_password(user.password_hash, "a long secret")


def test_users_add_by_email_links_the_team_member(ws: Workspace) -> None:
    store = _store(ws)
    _forget(store, "csm2@vendor.test")
    ok = runner.invoke(users_app, ["add", "CSM2@vendor.test", "--role", "csm", "-w", str(ws.root)])
    assert ok.exit_code == 0, ok.output
    user = store.user_by_email("csm2@vendor.test")
    assert user is not None and user.member_id == "m_csm2"


def test_a_team_member_gets_one_login(ws: Workspace) -> None:
    """csm1@vendor.test is m_csm1's user: a second user for m_csm1, by member id or by a new email, is refused."""
    by_id = runner.invoke(users_app, ["add", "other@vendor.test", "--role", "csm", "-w", str(ws.root)])
    assert by_id.exit_code == 0, by_id.output  # no team member has this email: an unlinked user is fine
    store = _store(ws)
    with pytest.raises(UsageError, match=re.escape("'m_csm1' already has a user (csm1@vendor.test)")):
        store.plan_user(email="second@vendor.test", role="csm", member_id="m_csm1")
    refused = runner.invoke(users_app, ["add", "m_csm1", "-w", str(ws.root)])
    assert refused.exit_code == 2 and "already exists" in refused.output  # its email is taken first
    _forget(store, "csm1@vendor.test")
    assert store.plan_user(email="second@vendor.test", role="csm", member_id="m_csm1").member_id == "m_csm1"


def test_users_add_from_a_team_member_id_generates_a_password(ws: Workspace) -> None:
    result = runner.invoke(users_app, ["add", "m_csm2", "-w", str(ws.root)])
    assert result.exit_code == 2 and "already exists" in result.output
    store = _store(ws)
    _forget(store, "csm2@vendor.test")
    added = runner.invoke(users_app, ["add", "m_csm2", "-w", str(ws.root)])
    assert added.exit_code == 0, added.output
    password = added.stdout.strip().removeprefix("password: ")
    user = store.user_by_email("csm2@vendor.test")
    assert user is not None and (user.member_id, user.role, user.name) == ("m_csm2", "csm", "Cy Two")
    assert verify_password(user.password_hash, password)


def test_users_add_errors(ws: Workspace) -> None:
    for args, needle in ((["add", "ghost"], "no team member"), (["add", "x@y.test"], "give --role"),
                         (["add", "x@y.test", "--role", "boss"], "role must be one of")):
        result = runner.invoke(users_app, [*args, "-w", str(ws.root)])
        assert result.exit_code == 2 and needle in result.output, result.output


def test_users_list_json_hides_hashes(ws: Workspace) -> None:
    result = runner.invoke(users_app, ["list", "--format", "json", "-w", str(ws.root)])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {r["email"] for r in rows} >= {"admin@vendor.test", "viewer@vendor.test"}
    assert "hash" not in result.stdout


def test_keys_create_json_list_and_revoke(ws: Workspace) -> None:
    result = runner.invoke(keys_app, ["create", "--scope", "ingest", "--name", "segment", "--format", "json", "-w",
                                      str(ws.root)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    store = _store(ws)
    record = store.key_for(printed["key"])
    assert record is not None and (record.scope, record.name, record.prefix) == ("ingest", "segment",
                                                                                 printed["prefix"])
    listed = json.loads(runner.invoke(keys_app, ["list", "--format", "json", "-w", str(ws.root)]).stdout)
    assert printed["key"] not in json.dumps(listed) and listed[0]["prefix"] == printed["prefix"]
    assert runner.invoke(keys_app, ["revoke", printed["prefix"], "-w", str(ws.root)]).exit_code == 0
    assert store.key_for(printed["key"]) is None
    assert runner.invoke(keys_app, ["revoke", printed["prefix"], "-w", str(ws.root)]).exit_code == 2
    bad = runner.invoke(keys_app, ["create", "--scope", "write", "-w", str(ws.root)])
    assert bad.exit_code == 2 and "scope must be one of" in bad.output


def test_sessions_expire_and_are_stored_hashed(ws: Workspace) -> None:
    now = [NOW]
    store = _store(ws, lambda: now[0])
    user = store.user_by_email("lead@vendor.test")
    assert user is not None
    store.create_session(user, "raw-token", NOW + timedelta(hours=1))
    assert store.session_user("raw-token") == user
    with store.engine.connect() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT token_hash FROM sessions")]
    assert "raw-token" not in stored
    now[0] = NOW + timedelta(hours=1)
    assert store.session_user("raw-token") is None


def test_passwords_and_notes(ws: Workspace) -> None:
    with pytest.raises(UsageError):
        hash_password("short")
    assert not verify_password(None, "anything") and not verify_password("not-a-hash", "anything")
    store = _store(ws)
    first = store.add_note("a1", "m_csm1", "  first  ")
    second = store.add_note("a1", "m_csm1", "second")
    assert first.body == "first"
    assert [n.note_id for n in store.notes_for("a1")] == [second.note_id, first.note_id]
    with pytest.raises(UsageError):
        store.add_note("a1", "m_csm1", "   ")
    assert store.audit_entries(object_id="a1")[0]["action"] == "note.add"


def test_serve_is_a_command_with_host_and_port() -> None:
    app = typer.Typer()
    app.command("serve")(serve)
    app.command("other")(lambda: None)
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output and "--workspace" in result.output
