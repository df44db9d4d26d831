"""Read a workspace's motion definitions from `motion/*.yml` (see docs/motion.md)."""

from __future__ import annotations

from pathlib import Path

from longtail.analytics.connect import workspace_feature_defs
from longtail.core.motion.load import Motion, load_motion
from longtail.core.yamlsource import MAX_BYTES
from longtail.errors import ConfigError
from longtail.settings import Workspace

OWN_FORMAT = ("features.yml", "health.yml", "contact_policy.yml")
"""Files under motion/ with formats of their own (features and scorecards), not motion definitions."""


def motion_files(ws: Workspace) -> list[Path]:
    folder = ws.root / "motion"
    if not folder.is_dir():
        return []
    found = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    return [p for p in found if p.name not in OWN_FORMAT]


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path}: the file is {path.stat().st_size:,} bytes; the limit is {MAX_BYTES:,}")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc


def workspace_motion(ws: Workspace) -> Motion:
    """The workspace's motion (built-in triggers plus motion/*.yml), checked against its features."""
    files = [(str(p.relative_to(ws.root)), _read(p)) for p in motion_files(ws)]
    return load_motion(files, workspace_feature_defs(ws).names)
