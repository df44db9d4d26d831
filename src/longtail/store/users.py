"""People and machines of the web cockpit: users, sessions, API keys, the audit log and account notes.

Secrets are never stored: session tokens and API keys are kept as SHA-256 digests (they are long random
strings, so a fast digest is enough), passwords as argon2 hashes (people pick guessable ones, so a slow,
salted hash is needed). The tables are declared on the shared metadata of `tables.py` (migration 0007).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from longtail.errors import UsageError
from longtail.store.tables import ID, metadata, team_members

Role = Literal["admin", "lead", "csm", "viewer"]
Scope = Literal["ingest", "read"]
ROLES: tuple[str, ...] = get_args(Role)
SCOPES: tuple[str, ...] = get_args(Scope)
KEY_PREFIX = "lt"
# The team table's roles map onto cockpit roles; ops people read, they do not work CTAs.
TEAM_ROLES: dict[str, Role] = {"csm": "csm", "lead": "lead", "admin": "admin", "ops": "viewer"}
MAX_EMAIL = 254  # the longest address SMTP can carry (RFC 5321)
MAX_NAME = 200  # a display name; anything longer is a paste accident

users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(ID), nullable=False, unique=True),
    Column("name", Text),
    Column("role", String(16), nullable=False),
    Column("member_id", String(ID)),
    Column("password_hash", Text),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scope", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_by", String(ID), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(ID), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(ID), nullable=False),
    Column("detail", JSON, nullable=False),
)

notes = Table(
    "notes",
    metadata,
    Column("note_id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(ID), nullable=False, index=True),
    Column("author", String(ID), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
)

# Default argon2id parameters (RFC 9106 low-memory profile): about 50 ms per check on this machine kind.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (salted; the parameters travel inside the hash)."""
    if len(password) < 8:
        raise UsageError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; a user without a hash (never given a password) never matches."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        # A wrong password and a corrupt hash both mean "no": the caller counts it as a failed login.
        return False


def digest(secret: str) -> str:
    """The SHA-256 hex digest under which a session token or API key is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    """A random session token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """A new API key and its public prefix: `lt_<prefix>_<secret>`; the prefix identifies it in listings."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; every stored value is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class User:
    user_id: int
    email: str
    name: str | None
    role: Role
    member_id: str | None
    disabled: bool
    password_hash: str | None

    @property
    def actor(self) -> str:
        """How the user appears in audit trails: their team member id when linked, else their email."""
        return self.member_id or self.email


@dataclass(frozen=True)
class ApiKey:
    key_id: int
    prefix: str
    scope: Scope
    name: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        return f"key:{self.prefix}"


@dataclass(frozen=True)
class Note:
    note_id: int
    account_id: str
    author: str
    at: datetime
    body: str


def _user(row: Mapping[Any, Any]) -> User:
    return User(user_id=int(row["user_id"]), email=str(row["email"]), name=row["name"], role=row["role"],
                member_id=row["member_id"], disabled=bool(row["disabled"]), password_hash=row["password_hash"])


def _key(row: Mapping[Any, Any]) -> ApiKey:
    revoked = row["revoked_at"]
    return ApiKey(key_id=int(row["key_id"]), prefix=str(row["prefix"]), scope=row["scope"], name=str(row["name"]),
                  created_by=str(row["created_by"]), created_at=_aware(row["created_at"]),
                  revoked_at=None if revoked is None else _aware(revoked))


def new_password() -> str:
    """A random one-time password (96 bits, 16 URL-safe characters) for a new user, shown to the admin once."""
    return secrets.token_urlsafe(12)


def check_email(email: str) -> str:
    """`email` trimmed and lower-cased, or UsageError unless it looks like one address (x@y, no spaces)."""
    clean = email.strip().lower()
    local, at, domain = clean.partition("@")
    if len(clean) > MAX_EMAIL:
        raise UsageError(f"an email address has at most {MAX_EMAIL} characters; this one has {len(clean)}")
    if not (at and local and domain) or "@" in domain or any(c.isspace() or not c.isprintable() for c in clean):
        raise UsageError(f"{email!r} is not an email address")
    return clean


class UserExists(UsageError):
    """A user with that email is already there (the web answers 409, the CLI exits 2)."""


class RoleNeeded(UsageError):
    """No role was given and the team table has none for the user (the caller says how to give one)."""


@dataclass(frozen=True)
class NewUser:
    """A validated user to add: what `UserStore.plan_user` derives from the CLI's or the admin page's input."""

    email: str
    role: Role
    name: str | None
    member_id: str | None


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role  # type: ignore[return-value]  # narrowed by the membership test above


def check_scope(scope: str) -> Scope:
    if scope not in SCOPES:
        raise UsageError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    return scope  # type: ignore[return-value]  # narrowed by the membership test above


class UserStore:
    """Users, sessions, keys, audit log and notes in the operational database.

    `clock` stamps creation times, expiry checks and audit lines; tests inject a fixed one.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        self.clock = clock

    # ------------------------------------------------------------------------------------------ users

    def plan_user(self, *, email: str | None, role: str | None, name: str | None = None,
                  member_id: str | None = None) -> NewUser:
        """Validate a new user as `longtail users add` and the admin page both do (nothing is written).

        With a `member_id`, that team member must exist; their email and name fill in what is not given, and
        their team role is the default role. With only an email, the user is linked to the team member with
        the same email, if any. Raises UsageError (UserExists for a taken email, RoleNeeded without a role).
        """
        team_role = None
        if member_id:
            t = team_members
            with self.engine.connect() as conn:
                row = conn.execute(select(t.c.email, t.c.name, t.c.role).where(t.c.member_id == member_id)).first()
            if row is None:
                raise UsageError(f"no team member {member_id!r} (load the team table first, or give an email)")
            if not (email or row.email):
                raise UsageError(f"team member {member_id!r} has no email")
            email, name, team_role = email or str(row.email), name or row.name, row.role
        if not email:
            raise UsageError("give an email or a team member")
        clean = check_email(email)
        if name is not None and len(name.strip()) > MAX_NAME:
            raise UsageError(f"a name has at most {MAX_NAME} characters; this one has {len(name.strip())}")
        if not member_id:
            member_id = self._member_by_email(clean)
        chosen = role or TEAM_ROLES.get(team_role or "")
        if chosen is None:
            raise RoleNeeded(f"a role is needed ({', '.join(ROLES)}); the team table gives none")
        if self.user_by_email(clean) is not None:
            raise UserExists(f"a user with email {clean!r} already exists")
        if member_id:
            # One login per team member: "my CTAs", the audit actor and routing all go by the member.
            with self.engine.connect() as conn:
                taken = conn.execute(select(users.c.email).where(users.c.member_id == member_id)).scalar()
            if taken is not None:
                raise UsageError(f"team member {member_id!r} already has a user ({taken}); one login per member")
        return NewUser(email=clean, role=check_role(chosen), name=(name or "").strip() or None, member_id=member_id)

    def _member_by_email(self, email: str) -> str | None:
        # Team emails are free text (any case, stray spaces), so they are compared after cleaning in Python.
        t = team_members
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.member_id, t.c.email).where(t.c.email.is_not(None))).all()
        return next((str(r.member_id) for r in rows if str(r.email).strip().lower() == email), None)

    def add_user(self, email: str, role: str, *, name: str | None = None, member_id: str | None = None,
                 password_hash: str | None = None, actor: str = "cli") -> User:
        """Create a user (emails are unique, compared case-insensitively) and audit it."""
        clean = check_email(email)
        values = {"email": clean, "name": name, "role": check_role(role), "member_id": member_id,
                  "password_hash": password_hash, "disabled": False, "created_at": self.clock()}
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert(), values)
                self._audit(conn, actor, "user.add", "user", clean, detail={"role": role, "member_id": member_id})
        except IntegrityError:
            raise UserExists(f"a user with email {clean!r} already exists") from None
        found = self.user_by_email(clean)
        assert found is not None  # just inserted in a committed transaction
        return found

    def user_by_email(self, email: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.email == email.strip().lower())).mappings().first()
        return None if row is None else _user(row)

    def user_by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.user_id == user_id)).mappings().first()
        return None if row is None else _user(row)

    def last_logins(self) -> dict[int, datetime]:
        """user_id -> when their newest session was created, for users who ever logged in."""
        query = select(sessions.c.user_id, func.max(sessions.c.created_at)).group_by(sessions.c.user_id)
        with self.engine.connect() as conn:
            return {int(user_id): _aware(at) for user_id, at in conn.execute(query)}

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.email)).mappings()]

    def set_password(self, email: str, password_hash: str, *, actor: str) -> None:
        self._change_user(email, {"password_hash": password_hash}, actor, "user.password", {})

    def set_role(self, email: str, role: str, *, actor: str) -> None:
        """Give a user another role; it applies from their next request (sessions read the user afresh)."""
        user = self.user_by_email(email)
        new = check_role(role)
        self._change_user(email, {"role": new}, actor, "user.role",
                          {"from": None if user is None else user.role, "to": new})

    def set_disabled(self, email: str, disabled: bool, *, actor: str) -> None:
        """Disable (or re-enable) a user; disabling also revokes every session they hold."""
        user = self._change_user(email, {"disabled": disabled}, actor, "user.disable" if disabled else "user.enable",
                                 {})
        if disabled:
            with self.engine.begin() as conn:
                conn.execute(update(sessions).where(sessions.c.user_id == user.user_id,
                                                    sessions.c.revoked_at.is_(None)).values(revoked_at=self.clock()))

    def _change_user(self, email: str, values: dict[str, Any], actor: str, action: str,
                     detail: dict[str, Any]) -> User:
        user = self.user_by_email(email)
        if user is None:
            raise UsageError(f"no user with email {email!r}")
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.user_id == user.user_id).values(**values))
            self._audit(conn, actor, action, "user", user.email, detail=detail)
        return user

    # ------------------------------------------------------------------------------------------ sessions

    def create_session(self, user: User, token: str, expires_at: datetime) -> None:
        """Remember a session by the digest of its token (the raw token lives only in the cookie)."""
        with self.engine.begin() as conn:
            conn.execute(sessions.insert(), {"token_hash": digest(token), "user_id": user.user_id,
                                             "created_at": self.clock(), "expires_at": expires_at})
            self._audit(conn, user.actor, "session.login", "user", user.email, detail={})

    def session_user(self, token: str) -> User | None:
        """The enabled user holding this unexpired, unrevoked session token, else None."""
        query = (select(users, sessions.c.expires_at)
                 .join(sessions, sessions.c.user_id == users.c.user_id)
                 .where(sessions.c.token_hash == digest(token), sessions.c.revoked_at.is_(None)))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or row["disabled"] or _aware(row["expires_at"]) <= self.clock():
            return None
        return _user(row)

    def revoke_session(self, token: str, *, actor: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sessions).where(sessions.c.token_hash == digest(token))
                         .values(revoked_at=self.clock()))
            self._audit(conn, actor, "session.logout", "session", digest(token)[:12], detail={})

    # ------------------------------------------------------------------------------------------ API keys

    def create_key(self, scope: str, name: str, *, actor: str) -> tuple[str, ApiKey]:
        """A new API key: returns the raw key (shown once, never stored) and its stored record."""
        key, prefix = new_api_key()
        values = {"prefix": prefix, "key_hash": digest(key), "scope": check_scope(scope), "name": name,
                  "created_by": actor, "created_at": self.clock()}
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert(), values)
            self._audit(conn, actor, "key.create", "api_key", prefix, detail={"scope": scope, "name": name})
            row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).mappings().one()
        return key, _key(row)

    def key_for(self, key: str) -> ApiKey | None:
        """The unrevoked key record for a raw key, else None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_hash == digest(key),
                                                      api_keys.c.revoked_at.is_(None))).mappings().first()
        return None if row is None else _key(row)

    def list_keys(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.key_id)).mappings()]

    def revoke_key(self, prefix: str, *, actor: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=self.clock()))
            if done.rowcount == 0:
                raise UsageError(f"no active API key with prefix {prefix!r}")
            self._audit(conn, actor, "key.revoke", "api_key", prefix, detail={})

    # ------------------------------------------------------------------------------------------ audit and notes

    def audit(self, actor: str, action: str, object_type: str, object_id: str,
              detail: Mapping[str, Any] | None = None) -> None:
        """Record who changed what (one line per mutation)."""
        with self.engine.begin() as conn:
            self._audit(conn, actor, action, object_type, object_id, detail=dict(detail or {}))

    def _audit(self, conn: Any, actor: str, action: str, object_type: str, object_id: str, *,
               detail: dict[str, Any]) -> None:
        conn.execute(audit_log.insert(), {"at": self.clock(), "actor": actor, "action": action,
                                          "object_type": object_type, "object_id": object_id, "detail": detail})

    def audit_entries(self, *, object_type: str | None = None, object_id: str | None = None,
                      limit: int = 200) -> list[dict[str, Any]]:
        """The newest audit lines first, optionally for one object."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if object_type is not None:
            query = query.where(audit_log.c.object_type == object_type)
        if object_id is not None:
            query = query.where(audit_log.c.object_id == object_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def add_note(self, account_id: str, author: str, body: str) -> Note:
        """Add a note to an account (and an audit line); empty notes are refused."""
        text = body.strip()
        if not text:
            raise UsageError("a note needs some text")
        at = self.clock()
        with self.engine.begin() as conn:
            result = conn.execute(notes.insert(), {"account_id": account_id, "author": author, "at": at, "body": text})
            note_id = int(result.inserted_primary_key[0])  # type: ignore[index]  # single-row insert has a key
            self._audit(conn, author, "note.add", "account", account_id, detail={"note_id": note_id})
        return Note(note_id, account_id, author, at, text)

    def notes_for(self, account_id: str) -> list[Note]:
        """An account's notes, newest first."""
        query = (select(notes).where(notes.c.account_id == account_id)
                 .order_by(notes.c.at.desc(), notes.c.note_id.desc()))
        with self.engine.connect() as conn:
            return [Note(int(r["note_id"]), str(r["account_id"]), str(r["author"]), _aware(r["at"]), str(r["body"]))
                    for r in conn.execute(query).mappings()]
