"""`longtail check` validates a workspace's definitions; `longtail schema` exports their JSON Schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from longtail.analytics.connect import workspace_feature_defs
from longtail.analytics.health_run import workspace_scorecards
from longtail.analytics.motion_source import motion_files, workspace_motion
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, fail, setup_logging
from longtail.core.motion.definitions import MotionFile
from longtail.core.motion.load import BUILTIN_SOURCE
from longtail.errors import LongtailError, UsageError
from longtail.settings import open_workspace


def check(workspace: WorkspaceOpt = None, fmt: FormatOpt = "text", verbose: VerboseOpt = False) -> None:
    """Validate features.yml, health.yml and every motion file; exit 2 with file:line: field: problem."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        ws = open_workspace(workspace)
        features = workspace_feature_defs(ws)
        cards = workspace_scorecards(ws)
        motion = workspace_motion(ws)
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    builtin = sum(1 for d in motion.defined.values() if d.source == BUILTIN_SOURCE)
    report: dict[str, Any] = {
        "ok": True,
        "files": [str(p.relative_to(ws.root)) for p in motion_files(ws)],
        "features": len(features.features),
        "scorecards": len(cards.scorecards),
        "segments": len(motion.segments),
        "tiers": list(motion.tier_names()),
        "triggers": len(motion.triggers),
        "builtin_triggers": builtin,
        "playbooks": len(motion.playbooks),
        "motion_hash": motion.hash,
        "definitions": {key: {"source": d.source, "line": d.line, "hash": d.hash}
                        for key, d in sorted(motion.defined.items())},
    }
    if fmt == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    out = Console()
    out.print(f"ok: {report['features']} features, {report['scorecards']} scorecards, {report['segments']} segments, "
              f"{len(report['tiers'])} tiers, {report['triggers']} triggers ({builtin} built-in), "
              f"{report['playbooks']} playbooks", highlight=False)
    out.print(f"motion hash {motion.hash[:12]} from {len(report['files'])} file(s)", highlight=False)


def schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write the schema to this file instead of stdout.")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """JSON Schema of a motion file, for editors (e.g. `# yaml-language-server: $schema=motion.schema.json`)."""
    setup_logging(verbose)
    document = MotionFile.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "longtail motion file (motion/*.yml)"
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(UsageError(f"{out}: cannot write ({exc})"), verbose) from exc
