"""End to end in a real browser: Debian's chromium (headless) driven by Playwright.

A seeded embedded store, the dashboard started with ``streamlit run`` and a responder
password; the browser logs in, finds the demo injection incident on the Overview, opens
Session forensics in one click, checks that the provenance chain names the email and
``send_email``, requests revocation of the agent (against a local recorder standing in
for the admin API), and saves the README screenshots to ``docs/img/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentaudit.dashboards.server import APP_PATH
from tests.dashboards.seed_store import DEMO_AGENT, DEMO_EMAIL, DEMO_SESSION
from tests.e2e._procs import free_port, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
# The README's screenshots are refreshed only on request, so a test run leaves the
# working tree clean: AGENTAUDIT_UPDATE_SCREENSHOTS=1 make test
UPDATE_SCREENSHOTS = os.environ.get("AGENTAUDIT_UPDATE_SCREENSHOTS") == "1"
SCREENSHOTS = REPO / "docs" / "img"
PASSWORD = "e2e-responder-secret"
TIMEOUT_MS = 60_000


class _AdminApi(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        body = json.dumps({"id": "rev-e2e", "status": "pending"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def admin_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AdminApi)
    _AdminApi.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _AdminApi.received
    server.shutdown()
    server.server_close()


@contextmanager
def running_dashboard(tmp_path: Path, env: dict[str, str], *seed_flags: str) -> Iterator[str]:
    """A seeded embedded store and ``streamlit run`` of the app over it; yields the URL.

    ``env`` adds to the environment (the AGENTAUDIT_/OTEL_ variables of the test run are
    dropped); ``seed_flags`` go to ``tests.dashboards.seed_store`` (``--hostile``).
    """
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it")
    dsn = f"chdb://{tmp_path / 'store'}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTAUDIT_", "OTEL_"))}
    subprocess.run(
        [sys.executable, "-m", "tests.dashboards.seed_store", dsn, *seed_flags],
        cwd=REPO,
        env=clean,
        check=True,
        timeout=120,
    )
    port = free_port()
    log = (tmp_path / "dashboard.log").open("w")  # a file: an unread pipe could fill up
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP_PATH),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            "--client.toolbarMode",
            "viewer",
            "--server.enableXsrfProtection",
            "true",
        ],
        cwd=tmp_path,
        env={**clean, "AGENTAUDIT_CLICKHOUSE_URL": dsn, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        def healthy() -> bool:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as reply:
                return bool(reply.read() == b"ok")

        wait_for(lambda: process.poll() is None and healthy(), timeout=60, what="the dashboard")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def dashboard(tmp_path: Path, admin_api: tuple[str, list[Any]]) -> Iterator[str]:
    env = {"AGENTAUDIT_DASHBOARD_PASSWORD": PASSWORD, "AGENTAUDIT_API_URL": admin_api[0]}
    with running_dashboard(tmp_path, env) as base:
        yield base


def test_responder_traces_the_injection_and_requests_revocation(
    dashboard: str, admin_api: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(dashboard)

            page.get_by_role("textbox", name="User").fill("admin")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            incident = page.get_by_role("link", name=re.compile(re.escape(DEMO_SESSION)))
            expect(incident).to_contain_text(DEMO_EMAIL)
            page.wait_for_timeout(1500)  # let the chart finish drawing for the screenshot
            page.screenshot(path=str(shots / "overview.png"), full_page=True)

            incident.click()  # one click from the Overview to the incident
            expect(page.get_by_role("heading", name="Session forensics")).to_be_visible()
            graph = page.get_by_test_id("stGraphVizChart")
            expect(graph.locator("svg")).to_be_visible()
            chain = graph.inner_text()
            assert DEMO_EMAIL in chain
            assert "send_email" in chain
            assert "NOT APPROVED" in chain
            assert f"session={DEMO_SESSION}" in page.url
            page.screenshot(path=str(shots / "session-forensics.png"), full_page=True)

            page.get_by_role("link", name=f"Request revocation of agent {DEMO_AGENT}").click()
            expect(page.get_by_role("heading", name="Revoke")).to_be_visible()
            expect(page.get_by_label(re.compile("^Id"))).to_have_value(DEMO_AGENT)
            page.get_by_label(re.compile("^Reason")).fill(f"steered by {DEMO_EMAIL}")
            page.get_by_text("I confirm: revoke this now").click()
            page.get_by_role("button", name="Request revocation").click()
            expect(page.get_by_text(re.compile("requested: status pending"))).to_be_visible()
        finally:
            browser.close()
    assert admin_api[1] == [
        {
            "target": "agent",
            "id": DEMO_AGENT,
            "reason": f"steered by {DEMO_EMAIL}",
            "requested_by": "admin",
        }
    ]
