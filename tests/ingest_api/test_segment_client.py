"""The real `segment-analytics-python` client against a running uvicorn server: every event stored once.

The server loses the first /v1/batch response after storing the batch (as a dropped connection or a proxy
timeout would), so the client retries that batch with the same messageIds.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import uvicorn
from fastapi import Request, Response
from fastapi.testclient import TestClient
from segment.analytics.client import Client

from longtail.settings import Workspace
from longtail.warehouse.events import Warehouse

from .conftest import READ_KEY, WRITE_KEY, make_app

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(workspace: Workspace) -> Iterator[tuple[str, list[int]]]:
    app = make_app(workspace)
    statuses: list[int] = []

    @app.middleware("http")
    async def lose_first_batch_response(request: Request,
                                        call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path == "/v1/batch":
            statuses.append(response.status_code)
            if len(statuses) == 1 and response.status_code == 200:
                return Response(status_code=503)  # stored, but the client never hears so
        return response

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", statuses
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_real_segment_client_events_are_stored_exactly_once(server: tuple[str, list[int]],
                                                            workspace: Workspace) -> None:
    url, statuses = server
    errors: list[Exception] = []
    client = Client(WRITE_KEY, host=url, upload_size=20, max_retries=4, gzip=True,
                    on_error=lambda e, batch: errors.append(e))
    client.identify("user-1", {"email": "a@acme.test", "name": "Ana"})
    client.group("user-1", "acct-42", {"name": "Acme", "plan": "pro"})
    client.flush()  # the group must be stored before the tracks it attributes
    sent = [client.track("user-1", "Report Viewed", {"n": i})[1]["messageId"] for i in range(45)]
    sent += [client.track("user-2", "Signed Up", {"n": i}, context={"groupId": "acct-7"})[1]["messageId"]
             for i in range(5)]
    client.flush()
    client.shutdown()
    assert errors == []
    assert statuses[0] == 200 and len(statuses) >= 2  # the first batch was stored and then sent again

    reader = TestClient(make_app(workspace), headers={"Authorization": f"Bearer {READ_KEY}"})
    body = reader.get("/api/events", params={"limit": 1000}).json()
    assert body["total"] == len(sent) == 50
    assert sorted(e["event_id"] for e in body["items"]) == sorted(sent)
    accounts = {e["event_id"]: e["account_id"] for e in body["items"]}
    assert {accounts[m] for m in sent[:45]} == {"acct-42"}
    assert {accounts[m] for m in sent[45:]} == {"acct-7"}
    wh = Warehouse(workspace.warehouse_url, workspace.state_dir)
    wh.compact()
    assert wh.count() == 50
