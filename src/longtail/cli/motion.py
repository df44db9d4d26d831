"""`longtail check` validates a workspace's definitions; `longtail schema` exports their JSON Schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from longtail.analytics.connect import workspace_feature_defs
from longtail.analytics.health_run import workspace_scorecards
from longtail.analytics.motion_source import motion_files, workspace_motion
from longtail.cli.common import FormatOpt, VerboseOpt, WorkspaceOpt, fail, setup_logging
from longtail.core.motion.definitions import MotionFile
from longtail.core.motion.load import BUILTIN_SOURCE
from longtail.errors import LongtailError, UsageError
from longtail.runner.journeys import journey_context
from longtail.settings import open_workspace
from longtail.store.db import make_engine, migrate
from longtail.store.playbooks import PlaybookStore


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
        journeys = journey_context(ws, motion, features.names)
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
        "journeys": sorted(journeys.journeys.journeys) if journeys else [],
        "templates": sorted(journeys.templates) if journeys else [],
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
              f"{report['playbooks']} playbooks, {len(report['journeys'])} journeys, {len(report['templates'])} "
              "email templates", highlight=False)
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


def playbooks(workspace: WorkspaceOpt = None, fmt: FormatOpt = "text", verbose: VerboseOpt = False) -> None:
    """Each playbook with its trigger, audience and steps, and what `run` measured: hits and success rate."""
    setup_logging(verbose)
    try:
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, not {fmt!r}")
        ws = open_workspace(workspace)
        motion = workspace_motion(ws)
        engine = make_engine(ws.database_url)
        migrate(engine)
        measured = PlaybookStore(engine).summary()
    except LongtailError as exc:
        raise fail(exc, verbose) from exc
    rows = []
    for book in motion.playbooks:
        m = measured.get(book.id, {})
        checked, succeeded = m.get("checked", 0), m.get("succeeded", 0)
        rows.append({
            "id": book.id, "objective": book.objective, "trigger": book.trigger, "enabled": book.enabled,
            "audience": list(book.audience), "exclude": list(book.exclude),
            "steps": [step.type for step in book.steps], "hash": motion.hash_of(f"playbook:{book.id}"),
            "success_when": book.success.when if book.success else None,
            "success_horizon_days": book.success.horizon_days if book.success else None,
            "hits": m.get("hits", 0), "accounts": m.get("accounts", 0), "success_checked": checked,
            "success_succeeded": succeeded, "success_pending": m.get("pending", 0),
            "success_rate": succeeded / checked if checked else None,
        })
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{len(rows)} playbooks (hits and success measured by `longtail run`)", title_justify="left")
    for col in ("playbook", "trigger", "steps", "hits", "accounts", "success", "checked", "pending"):
        table.add_column(col, justify="left" if col in ("playbook", "trigger", "steps") else "right")
    for r in rows:
        rate = "-" if r["success_rate"] is None else f"{r['success_rate']:.0%}"
        name = r["id"] if r["enabled"] else f"{r['id']} (disabled)"
        table.add_row(name, r["trigger"], ", ".join(r["steps"]), f"{r['hits']:,}", f"{r['accounts']:,}", rate,
                      f"{r['success_checked']:,}", f"{r['success_pending']:,}")
    Console(width=max(Console().width, 110)).print(table)
