"""The real Segment client against the real cockpit app (`create_app`), with a write key made by
`longtail keys create --scope ingest`: every event is stored exactly once and readable with a read key."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from segment.analytics.client import Client
from typer.testing import CliRunner

from longtail.cli.main import app as cli_app
from longtail.settings import Workspace
from longtail.web.app import create_app
from tests.e2e_browser.server import serving

pytestmark = pytest.mark.slow
runner = CliRunner()


def _key(ws: Workspace, scope: str) -> str:
    result = runner.invoke(cli_app, ["keys", "create", "--scope", scope, "--name", f"test {scope}", "--format",
                                     "json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    key: str = json.loads(result.stdout)["key"]
    return key


def test_segment_client_to_the_cockpit_stores_each_event_once(workspace: Workspace) -> None:
    write, read = _key(workspace, "ingest"), _key(workspace, "read")
    errors: list[Exception] = []
    with serving(create_app(workspace, secure_cookies=False)) as url:
        client = Client(write, host=url, upload_size=25, max_retries=3, gzip=True,
                        on_error=lambda e, batch: errors.append(e))
        client.identify("u-1", {"email": "ana@acme.test", "name": "Ana"})
        client.group("u-1", "acc-9", {"name": "Acme"})
        client.flush()
        sent = [client.track("u-1", "Report Viewed", {"n": i})[1]["messageId"] for i in range(60)]
        client.flush()
        # the same messages again, as an SDK retrying after a lost response would send them
        again = Client(write, host=url, upload_size=25, sync_mode=False)
        for n, message_id in enumerate(sent[:10]):
            again.track("u-1", "Report Viewed", {"n": n}, message_id=message_id)
        again.flush()
        again.shutdown()
        client.shutdown()
        bad = Client("not-a-key", host=url, max_retries=0, on_error=lambda e, batch: errors.append(e))
        bad.track("u-1", "Report Viewed")
        bad.flush()
        bad.shutdown()
    assert len(errors) == 1 and "401" in str(errors[0])  # only the bad key was refused
    api = TestClient(create_app(workspace, secure_cookies=False), headers={"Authorization": f"Bearer {read}"})
    body = api.get("/api/events", params={"limit": 1000, "account_id": "acc-9"}).json()
    assert body["total"] == 60
    assert sorted(e["event_id"] for e in body["items"]) == sorted(sent)
    refused = api.get("/api/events", headers={"Authorization": f"Bearer {write}"})
    assert refused.status_code in (401, 403)  # an ingest key cannot read
