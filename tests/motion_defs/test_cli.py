"""`longtail check` and `longtail schema` through Typer's runner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from longtail.cli.main import app
from longtail.settings import Workspace
from tests.motion_defs.helpers import EXAMPLES, line_of

runner = CliRunner()

REPORT_KEYS = {"ok", "files", "features", "scorecards", "segments", "tiers", "triggers", "builtin_triggers",
               "journeys", "templates", "playbooks", "motion_hash", "definitions"}


def check(ws: Workspace, *args: str) -> Result:
    return runner.invoke(app, ["check", "--workspace", str(ws.root), *args], env={"COLUMNS": "200"})


def with_examples(ws: Workspace) -> Workspace:
    for path in EXAMPLES.glob("*.yml"):
        shutil.copy(path, ws.root / "motion" / path.name)
    return ws


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0].removeprefix("error: ")


def test_the_example_motion_passes_check(workspace: Workspace) -> None:
    result = check(with_examples(workspace), "--format", "json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    assert set(report) == REPORT_KEYS
    assert report["ok"] is True
    assert report["files"] == ["motion/playbooks.yml", "motion/segments.yml", "motion/team.yml",
                               "motion/triggers.yml"]
    assert report["tiers"] == ["pooled", "mid", "enterprise"]
    assert (report["segments"], report["triggers"], report["builtin_triggers"], report["playbooks"]) == (6, 19, 11, 12)
    assert report["features"] > 30 and report["scorecards"] >= 1
    assert len(report["motion_hash"]) == 64
    usage = report["definitions"]["playbook:usage_drop"]
    text = (EXAMPLES / "playbooks.yml").read_text(encoding="utf-8")
    assert usage["source"] == "motion/playbooks.yml"
    assert usage["line"] == line_of(text, "- id: usage_drop")
    assert len(usage["hash"]) == 64
    assert report["definitions"]["trigger:renewal_window"]["source"] == "<built-in triggers>"


def test_check_text_output(workspace: Workspace) -> None:
    result = check(with_examples(workspace))
    assert result.exit_code == 0, result.output
    assert "6 segments, 3 tiers, 19 triggers (11 built-in), 12 playbooks" in result.stdout
    assert "from 4 file(s)" in result.stdout


def test_an_empty_workspace_passes_with_built_ins(workspace: Workspace) -> None:
    report = json.loads(check(workspace, "--format", "json").stdout)
    assert report["files"] == [] and report["segments"] == 0 and report["tiers"] == []
    assert report["triggers"] == report["builtin_triggers"] == 11


def test_the_motion_hash_follows_the_definitions(workspace: Workspace) -> None:
    with_examples(workspace)
    before = json.loads(check(workspace, "--format", "json").stdout)
    team = workspace.root / "motion" / "team.yml"
    team.write_text(team.read_text(encoding="utf-8").replace("max_open_ctas: 40", "max_open_ctas: 30"),
                    encoding="utf-8")
    after = json.loads(check(workspace, "--format", "json").stdout)
    assert before["motion_hash"] != after["motion_hash"]
    changed = {k for k, d in before["definitions"].items() if after["definitions"][k]["hash"] != d["hash"]}
    assert changed == {"team"}


def test_a_bad_field_exits_2_with_one_line(workspace: Workspace) -> None:
    with_examples(workspace)
    path = workspace.root / "motion" / "playbooks.yml"
    text = path.read_text(encoding="utf-8").replace("cta_type: risk", "cta_type: riks", 1)
    path.write_text(text, encoding="utf-8")
    message = one_line_error(check(workspace))
    assert message.startswith(f"motion/playbooks.yml:{line_of(text, 'riks')}: playbooks[0].steps[0].cta_type: ")


def test_a_duplicate_across_files_exits_2_naming_both(workspace: Workspace) -> None:
    with_examples(workspace)
    (workspace.root / "motion" / "zz.yml").write_text("segments:\n  - {id: at_risk, when: seats > 1}\n",
                                                      encoding="utf-8")
    message = one_line_error(check(workspace, "--format", "json"))
    line = line_of((EXAMPLES / "segments.yml").read_text(encoding="utf-8"), "id: at_risk")
    assert message == ("motion/zz.yml:2: segments[0].id: segment 'at_risk' is already defined at "
                       f"motion/segments.yml:{line}")


def test_invalid_yaml_exits_2_with_one_line(workspace: Workspace) -> None:
    (workspace.root / "motion" / "bad.yml").write_text("segments:\n\t- id: x\n", encoding="utf-8")
    assert one_line_error(check(workspace)).startswith("motion/bad.yml:2: invalid YAML")


def test_error_text_with_brackets_is_printed_verbatim(workspace: Workspace) -> None:
    """`[min, max]` in a message is text, not console markup; it must not vanish from the error line."""
    (workspace.root / "motion" / "team.yml").write_text("team:\n  coverage:\n    targets: {pooled: [0, 5]}\n",
                                                        encoding="utf-8")
    message = one_line_error(check(workspace))
    assert message == ("motion/team.yml:3: team.coverage.targets: target for 'pooled' must be [min, max] "
                       "with 1 <= min <= max")


def test_a_condition_error_starts_with_the_location(workspace: Workspace) -> None:
    (workspace.root / "motion" / "s.yml").write_text("segments:\n  - {id: s, when: 'seats > 1; drop table x'}\n",
                                                     encoding="utf-8")
    result = check(workspace)
    assert result.exit_code == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: motion/s.yml:2: segment s: condition: invalid condition")
    assert "';' is not allowed" in first


def test_an_oversized_file_is_refused(workspace: Workspace) -> None:
    (workspace.root / "motion" / "big.yml").write_text("#" * 2_000_001, encoding="utf-8")
    message = one_line_error(check(workspace))
    assert "big.yml: the file is 2,000,001 bytes; the limit is 2,000,000" in message


def test_features_and_health_files_are_not_motion_files(workspace: Workspace) -> None:
    (workspace.root / "motion" / "features.yml").write_text("", encoding="utf-8")
    (workspace.root / "motion" / "extra.yaml").write_text("segments:\n  - {id: a, when: seats > 1}\n",
                                                          encoding="utf-8")
    report = json.loads(check(workspace, "--format", "json").stdout)
    assert report["files"] == ["motion/extra.yaml"]
    assert report["segments"] == 1


def test_a_bad_format_is_a_usage_error(workspace: Workspace) -> None:
    assert "--format must be text or json" in one_line_error(check(workspace, "--format", "xml"))


def test_a_missing_workspace_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--workspace", str(tmp_path / "nowhere")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def _check_schema(document: dict[str, Any]) -> None:
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["type"] == "object"
    assert document["additionalProperties"] is False
    assert set(document["properties"]) == {"version", "account_attributes", "segments", "tiers", "triggers",
                                           "playbooks", "team"}
    defs = document["$defs"]
    assert {"Segment", "Tiers", "TierBand", "Promotion", "ConditionTrigger", "EventTrigger", "DateTrigger",
            "Playbook", "CtaStep", "AlertStep", "JourneyStep", "SetAttributeStep", "Team"} <= set(defs)
    refs = _refs(document)
    assert refs, "the schema has no $ref at all"
    for ref in refs:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs, ref
    for name, definition in defs.items():
        if definition.get("type") == "object":
            assert definition.get("additionalProperties") is False, name
    assert set(defs["CtaStep"]["properties"]["cta_type"]["enum"]) == {"risk", "renewal", "expansion", "onboarding",
                                                                      "advocacy", "lifecycle"}


def test_schema_to_stdout_is_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    _check_schema(json.loads(result.stdout))


def test_schema_out_writes_the_same_document(tmp_path: Path) -> None:
    target = tmp_path / "motion.schema.json"
    result = runner.invoke(app, ["schema", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = target.read_text(encoding="utf-8")
    assert written.endswith("}\n")
    assert json.loads(written) == json.loads(runner.invoke(app, ["schema"]).stdout)
    _check_schema(json.loads(written))


@pytest.mark.parametrize("where", ["missing/dir/motion.schema.json", "."])
def test_schema_out_to_an_unwritable_place_exits_2(tmp_path: Path, where: str) -> None:
    message = one_line_error(runner.invoke(app, ["schema", "--out", str(tmp_path / where)]))
    assert "cannot write" in message
