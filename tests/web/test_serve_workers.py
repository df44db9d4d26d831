"""`longtail serve --workers 2`: a real uvicorn with two worker processes serves one logged-in session on every
request (sessions live in the database, not in a process), and stopping it stops the workers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from longtail.settings import Workspace
from tests.web.conftest import PASSWORD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not answer /healthz within 60 s")


@pytest.mark.slow
def test_two_workers_serve_one_session(ws: Workspace) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "longtail", "serve", "--workers", "2", "--port", str(port),
                               "-w", str(ws.root)], start_new_session=True)
    try:
        _wait_ready(base, server)
        with httpx.Client(base_url=base, follow_redirects=False) as client:
            form = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            done = client.post("/login", data={"email": "csm1@vendor.test", "password": PASSWORD,
                                               "csrf_token": token.group(1)})
            assert done.status_code == 303
            pages = [client.get("/worklist") for _ in range(20)]
        assert {p.status_code for p in pages} == {200} and all("Worklist" in p.text for p in pages)
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False)
        assert len(children.stdout.split()) >= 2, "expected two worker processes under the server"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # multiprocessing's resource tracker leaves a moment after the parent: wait for the whole group to be gone
    deadline = time.monotonic() + 20
    while (left := subprocess.run(["pgrep", "-g", str(server.pid)], capture_output=True, text=True,
                                  check=False).stdout.strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == "", f"processes left running: {left}"


def test_workers_must_be_between_1_and_64(ws: Workspace) -> None:
    for bad in ("0", "65", "x"):
        result = subprocess.run([sys.executable, "-m", "longtail", "serve", "--workers", bad, "-w", str(ws.root)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2 and "--workers" in result.stderr
