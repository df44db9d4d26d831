"""A small simulated world served by uvicorn, and the Debian chromium driven by Playwright.

The world: the example motion run on three weekly days over a simulated book of accounts, plus an account
and a contact with hostile names, and a lead who can log in. The app's clock is pinned to the last run day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from typer.testing import CliRunner

from longtail.cli.main import app as cli
from longtail.runner.daily import context, open_store, run_day
from longtail.settings import Workspace, copy_example, init_workspace, open_workspace
from longtail.sim import SimConfig, generate
from longtail.store.entities import EntityStore
from longtail.store.users import UserStore, hash_password
from longtail.web import create_app
from tests.e2e_browser.server import serving

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
START = date(2025, 1, 1)
DAYS = (date(2025, 6, 17), date(2025, 6, 24), date(2025, 7, 1))
NOW = datetime(2025, 7, 1, 15, 0, tzinfo=UTC)
EMAIL = "lead@vendor.test"
PASSWORD = "correct horse battery"
HOSTILE_ID = "acc_hostile"
HOSTILE = "<img src=x onerror=alert('name')><script>alert('x')</script> & Co"
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("e2e-browser")
    generate(SimConfig(accounts=100, days=200, start=START, seed=7), root / "data", "parquet")
    ws = init_workspace(root / "ws")
    copy_example(ws)
    result = CliRunner().invoke(cli, ["load-dir", str(root / "data"), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    store = open_store(ws)
    ctx = context(ws)
    for day in DAYS:
        run_day(ws, day, ctx=ctx, store=store)
    entities = EntityStore(store.engine)
    entities.upsert("accounts", [{"account_id": HOSTILE_ID, "name": HOSTILE, "attributes": {}}], ["account_id"])
    entities.upsert("contacts", [{"contact_id": "con_hostile", "account_id": HOSTILE_ID, "email": "x@evil.test",
                                  "name": HOSTILE, "role": "champion"}], ["contact_id"])
    UserStore(store.engine, lambda: NOW).add_user(EMAIL, "lead", name="Lea Lead",
                                                  password_hash=hash_password(PASSWORD))
    return open_workspace(ws.root)


@pytest.fixture(scope="module")
def base_url(world: Workspace) -> Iterator[str]:
    with serving(create_app(world, clock=lambda: NOW, secure_cookies=False)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; see ../shared/notes/stack.md)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
