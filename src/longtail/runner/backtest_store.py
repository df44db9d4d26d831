"""The latest backtest report, kept so the cockpit's playbooks page can show what `longtail backtest` measured.

`longtail backtest` writes its report (the JSON it prints with `--format json`) to
`.longtail/backtests/latest.json`, atomically, replacing the previous one. A backtest of a single playbook
(`--playbook`) is merged into the latest report instead, so measuring one rule again does not drop the others.
The report carries its period and the motion hash it ran on, so a page can say how current it is.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from longtail.errors import LongtailError
from longtail.settings import Workspace

FILE_NAME = "latest.json"


def path(ws: Workspace) -> Path:
    return ws.state_dir / "backtests" / FILE_NAME


def save(ws: Workspace, report: dict[str, Any], *, only: str | None = None) -> Path:
    """Keep `report` as the latest; with `only` (one playbook was replayed) merge it into the latest report
    of the same period and motion, or keep it alone when there is none."""
    previous = latest(ws) if only is not None else None
    if previous is not None and all(previous.get(k) == report.get(k) for k in ("from", "to", "motion_hash")):
        kept = [p for p in previous.get("playbooks", []) if p.get("id") != only]
        report = {**previous, "playbooks": sorted([*kept, *report["playbooks"]], key=lambda p: str(p["id"]))}
    target = path(ws)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".backtest-", suffix=".json.tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(report, f, default=str)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def latest(ws: Workspace) -> dict[str, Any] | None:
    """The latest kept report, or None when no backtest was kept."""
    target = path(ws)
    if not target.is_file():
        return None
    try:
        report = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LongtailError(f"{target}: the kept backtest report cannot be read ({exc}); run longtail backtest "
                            "again") from exc
    if not isinstance(report, dict):
        raise LongtailError(f"{target}: the kept backtest report is not a JSON object; run longtail backtest again")
    return report


__all__ = ["latest", "path", "save"]
