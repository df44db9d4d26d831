"""A small simulated workspace with the example motion, run on three weekly days, shared by the view tests.

The views only read, so one module-scoped workspace serves every test; the fixture adds an account and a
contact with hostile names so escaping and search are tested on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import pytest
from typer.testing import CliRunner

from longtail.cli.main import app
from longtail.runner.daily import context, open_store, run_day
from longtail.settings import Workspace, copy_example, init_workspace, open_workspace
from longtail.sim import SimConfig, generate
from longtail.store.entities import EntityStore

START = date(2025, 1, 1)
DAYS = (date(2025, 6, 17), date(2025, 6, 24), date(2025, 7, 1))
DAY = DAYS[-1]
HOSTILE = "<script>alert('x')</script> & \"Co\" 100%_off"
HOSTILE_ID = "acc_<b>evil</b>"
TEMPLATES = Path(__file__).parents[2] / "src" / "longtail" / "web" / "templates" / "pages"
BASE = ("<html><head><title>{% block title %}{% endblock %}</title></head>"
        "<body>{% block content %}{% endblock %}</body></html>")


@dataclass(frozen=True)
class Note:
    at: datetime
    author: str
    text: str


@pytest.fixture(scope="session")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("web-views")
    generate(SimConfig(accounts=150, days=240, start=START, seed=11), root / "data", "parquet")
    workspace = init_workspace(root / "ws")
    copy_example(workspace)
    result = CliRunner().invoke(app, ["load-dir", str(root / "data"), "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    store = open_store(workspace)
    ctx = context(workspace)
    for day in DAYS:
        run_day(workspace, day, ctx=ctx, store=store)
    entities = EntityStore(store.engine)
    entities.upsert("accounts", [{"account_id": HOSTILE_ID, "name": HOSTILE, "attributes": {}}], ["account_id"])
    entities.upsert("contacts", [{"contact_id": "con_evil", "account_id": HOSTILE_ID, "email": "o'brien@x.test",
                                  "name": HOSTILE, "role": "champion"}], ["contact_id"])
    return open_workspace(workspace.root)


@pytest.fixture(scope="session")
def jinja() -> jinja2.Environment:
    """The page templates with a stand-in base.html (the real one needs the web app's request context)."""
    loader = jinja2.ChoiceLoader([jinja2.DictLoader({"base.html": BASE}), jinja2.FileSystemLoader(TEMPLATES)])
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def note(text: str) -> Note:
    return Note(datetime(2025, 6, 30, 9, 0, tzinfo=UTC), "Ben <csm>", text)
