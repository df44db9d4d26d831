"""The workspace's motion for the web process, parsed again only when one of its files changes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from longtail.analytics.motion_source import motion_files, workspace_motion
from longtail.core.motion.load import Motion
from longtail.settings import Workspace

_MOTIONS: dict[tuple[str, tuple[tuple[str, int, int], ...]], Motion] = {}


def _signature(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        stat = p.stat()
        out.append((str(p), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def cached_motion(ws: Workspace) -> Motion:
    """The workspace's motion, parsed again only when a motion file changes.

    Parsing takes ~0.1 s, most of the account page's latency budget, and the files rarely change.
    """
    key = (str(ws.root), _signature([*motion_files(ws), *sorted((ws.root / "motion").glob("features.y*ml"))]))
    found = _MOTIONS.get(key)
    if found is None:
        # Keep one entry per workspace: an edited motion replaces the old one instead of piling up.
        for old in [k for k in _MOTIONS if k[0] == key[0]]:
            del _MOTIONS[old]
        found = _MOTIONS[key] = workspace_motion(ws)
    return found
