"""Workspace layout and settings.

Precedence, highest first: explicit arguments, `LONGTAIL_*` environment variables, `longtail.toml`
in the workspace, built-in defaults. Relative paths in database URLs are relative to the workspace.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from longtail.errors import ConfigError, UsageError

CONFIG_FILE = "longtail.toml"
STATE_DIR = ".longtail"
DEFAULT_DATABASE_URL = f"sqlite:///{STATE_DIR}/state.db"
DEFAULT_WAREHOUSE_URL = f"duckdb:///{STATE_DIR}/warehouse.duckdb"


class Settings(BaseSettings):
    """Settings of one workspace."""

    model_config = SettingsConfigDict(env_prefix="LONGTAIL_", extra="forbid")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="Operational database (SQLAlchemy URL).")
    warehouse_url: str = Field(DEFAULT_WAREHOUSE_URL, description="Analytic warehouse (Ibis URL).")
    timezone: str = Field("UTC", description="Time zone for timestamps written without an offset.")
    warehouse_tables: dict[str, str] = Field(
        default_factory=dict,
        description="Per kind, a table already in the warehouse to read instead of the local Parquet "
        "files, e.g. events = 'analytics.product_events' (columns as in the data contract).",
    )
    mapping: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per kind, contract column = source column, e.g. [mapping.accounts] account_id = 'Record ID'.",
    )

    email_channel: Literal["smtp", "file", "sim"] = Field(
        "file",
        description="Where `longtail dispatch` sends email: an SMTP server, .eml files in .longtail/outbox "
        "(previews; the default so nothing leaves the machine by accident) or the simulator.",
    )
    smtp_host: str = Field("localhost", description="SMTP server host (email_channel = 'smtp').")
    smtp_port: int = Field(587, description="SMTP server port.")
    smtp_user: str | None = Field(None, description="SMTP login; no login when empty.")
    smtp_password: str | None = Field(
        None, description="SMTP password: set it in LONGTAIL_SMTP_PASSWORD, never in longtail.toml."
    )
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    email_from: str = Field("longtail@localhost", description="From address of outgoing email.")
    unsubscribe_secret: str | None = Field(
        None, description="Key that signs unsubscribe links: set it in LONGTAIL_UNSUBSCRIBE_SECRET."
    )
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL of tracked links and unsubscribe pages.")
    inapp_origins: list[str] = Field(default_factory=list, description="Origins (https://app.example.com) of the "
                                     "product pages allowed to fetch in-app messages from the browser (CORS).")
    holdout_salt: str = Field("longtail", description="Salt of the holdout and A/B hashes; changing it reshuffles.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value



class Workspace:
    """A folder holding `longtail.toml`, `motion/` definitions and `.longtail/` state."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def rejects_dir(self) -> Path:
        return self.state_dir / "rejects"

    @property
    def tables_dir(self) -> Path:
        """Parquet snapshots of the loaded entities, for the warehouse."""
        return self.state_dir / "tables"

    @property
    def database_url(self) -> str:
        return _absolute_url(self.settings.database_url, self.root)

    @property
    def warehouse_url(self) -> str:
        return _absolute_url(self.settings.warehouse_url, self.root)


def _absolute_url(url: str, root: Path) -> str:
    """Make `scheme:///relative/path` URLs (SQLite, DuckDB) relative to the workspace root."""
    for scheme in ("sqlite:///", "duckdb:///"):
        if url.startswith(scheme) and not url.startswith(scheme + "/") and url != scheme + ":memory:":
            path = root / url[len(scheme):]
            path.parent.mkdir(parents=True, exist_ok=True)
            return scheme + str(path.resolve())
    return url


def resolve_root(workspace: Path | None) -> Path:
    if workspace is not None:
        return workspace
    return Path(os.environ.get("LONGTAIL_WORKSPACE") or ".")


def open_workspace(workspace: Path | None = None, **overrides: Any) -> Workspace:
    """Open an existing workspace (it must contain `longtail.toml`)."""
    root = resolve_root(workspace).resolve()
    config = root / CONFIG_FILE
    if not config.is_file():
        raise UsageError(f"{root} is not a longtail workspace (no {CONFIG_FILE}); run `longtail init {root}` first")
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config}: invalid TOML ({exc})") from exc
    try:
        settings = _settings_from(data, config, overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{config}: {where}: {first['msg']}") from exc
    return Workspace(root, settings)


def _settings_from(data: dict[str, Any], config: Path, overrides: dict[str, Any]) -> Settings:
    class _FromFile(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config))

    del data  # parsed above only to give a clear error for broken TOML
    return _FromFile(**overrides)


CONFIG_TEMPLATE = """\
# longtail workspace settings. Any value can be overridden by an environment variable named
# LONGTAIL_<NAME> (e.g. LONGTAIL_DATABASE_URL). Never put passwords here: use the environment.

# Operational state (CTAs, journeys, loaded entities): SQLite by default, PostgreSQL in production,
# e.g. postgresql+psycopg://user@host/longtail (password from LONGTAIL_DATABASE_URL).
database_url = "{database_url}"

# Analytic warehouse (events and anything large), through Ibis: DuckDB by default.
warehouse_url = "{warehouse_url}"

# Time zone for timestamps that carry no offset.
timezone = "{timezone}"

# Read some kinds from tables already in the warehouse (columns as in the data contract), e.g. when
# warehouse_url points at PostgreSQL or Spark:
# [warehouse_tables]
# events = "analytics.product_events"

# Column mapping per kind: contract column = "column in your file".
# [mapping.accounts]
# account_id = "Record ID"
# name = "Company name"
"""

GITIGNORE = ".longtail/\n*.eml\n"


def init_workspace(root: Path, *, timezone: str = "UTC") -> Workspace:
    """Create a workspace in `root` (which may exist); never overwrites an existing config."""
    root = root.resolve()
    config = root / CONFIG_FILE
    if config.exists():
        raise UsageError(f"{config} already exists; this folder is already a workspace")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"unknown time zone {timezone!r}") from exc
    (root / "motion").mkdir(parents=True, exist_ok=True)
    (root / STATE_DIR).mkdir(exist_ok=True)
    config.write_text(
        CONFIG_TEMPLATE.format(
            database_url=DEFAULT_DATABASE_URL, warehouse_url=DEFAULT_WAREHOUSE_URL, timezone=timezone
        ),
        encoding="utf-8",
    )
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE, encoding="utf-8")
    return open_workspace(root)


EXAMPLE_MOTION = Path(__file__).parent / "examples" / "motion"
EXAMPLE_TEMPLATES = Path(__file__).parent / "examples" / "templates"


def copy_example(ws: Workspace) -> list[str]:
    """Copy the example motion (segments, tiers, triggers, playbooks, team, journeys, contact policy) and its
    email templates into a new workspace's motion/."""
    pairs = [(p, Path("motion") / p.relative_to(EXAMPLE_MOTION)) for p in sorted(EXAMPLE_MOTION.rglob("*.yml"))]
    pairs += [(p, Path("motion") / "templates" / p.name) for p in sorted(EXAMPLE_TEMPLATES.glob("*.j2"))]
    if not pairs:
        raise UsageError(f"the example motion is missing from the installation ({EXAMPLE_MOTION})")
    for _, target in pairs:
        if (ws.root / target).exists():
            raise UsageError(f"{ws.root / target} already exists; not overwriting it with the example")
    for source, target in pairs:
        (ws.root / target).parent.mkdir(parents=True, exist_ok=True)
        (ws.root / target).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return [str(target) for _, target in pairs]


SECRET_FILE = "signing.key"


def signing_secret(ws: Workspace) -> str:
    """The key that signs tracking and unsubscribe links: LONGTAIL_UNSUBSCRIBE_SECRET, else a random key kept in
    the workspace's state folder (created on first use, never written to longtail.toml)."""
    if ws.settings.unsubscribe_secret:
        return ws.settings.unsubscribe_secret
    path = ws.state_dir / SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text(encoding="utf-8").strip()
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()
