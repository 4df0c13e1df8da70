"""End to end in a real browser: the Legal holds page of ``agentaudit up``.

One ``agentaudit up`` process (store, admin API and dashboard, with a responder password);
Debian's chromium (headless) driven by Playwright logs in, places a hold on a session whose
id and reason are Markdown and HTML, sees it listed as text, and releases it. The admin
API's own list (``agentaudit hold list`` through the API) shows the same hold, placed and
released by the dashboard's user.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._procs import cli, free_port, wait_for
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-holds-secret"
SESSION = "sess-**bold**-[click](https://evil.example/phish)-<img src=x>"
REASON = "matter ![x](https://evil.example/beacon.png) <b>2026-17</b>"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``agentaudit up`` with its dashboard; yields the dashboard's and the API's URLs."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it")
    ports = {name: free_port() for name in ("grpc", "http", "api", "dashboard")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTAUDIT_", "OTEL_"))}
    log = (tmp_path / "up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentaudit", "up", "--store", str(tmp_path / "store"),
         "--grpc-port", str(ports["grpc"]), "--http-port", str(ports["http"]),
         "--api-port", str(ports["api"]), "--dashboard-port", str(ports["dashboard"])],
        env={**clean, "AGENTAUDIT_DASHBOARD_PASSWORD": PASSWORD},
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{ports['dashboard']}"
    api = f"http://127.0.0.1:{ports['api']}"
    try:
        import urllib.request

        def healthy() -> bool:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as reply:
                return bool(reply.read() == b"ok")

        wait_for(lambda: process.poll() is None and healthy(), timeout=90, what="the dashboard")
        token = (tmp_path / "admin.token").read_text().strip()
        yield {"dashboard": base, "api": api, "token": token}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_a_responder_places_and_releases_a_hold_in_the_browser(
    up: dict[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("request", lambda request: requests.append(request.url))
            page.on("dialog", lambda dialog: pytest.fail(f"a script opened {dialog.message!r}"))
            page.goto(up["dashboard"])
            page.get_by_role("textbox", name="User").fill("admin")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Legal holds").click()
            expect(page.get_by_role("heading", name="Legal holds")).to_be_visible()
            expect(page.get_by_text("No legal hold has been placed yet.")).to_be_visible()

            page.get_by_label(re.compile("^Id")).fill(SESSION)
            page.get_by_label(re.compile("^Reason")).fill(REASON)
            page.get_by_role("button", name="Place hold").click()
            placed = page.get_by_test_id("stAlertContentSuccess")
            expect(placed).to_contain_text(SESSION)  # the id as text, not a link or bold
            expect(page.get_by_role("link", name="click")).to_have_count(0)
            expect(page.locator("main img")).to_have_count(0)
            panel = page.get_by_test_id("stExpander").filter(has_text=SESSION)
            panel.get_by_text(SESSION).first.click()  # open the panel
            expect(panel).to_contain_text(REASON)
            page.screenshot(path=str(tmp_path / "holds-placed.png"), full_page=True)

            panel.get_by_label(re.compile("^Reason for the release")).fill("matter closed")
            panel.get_by_text("I confirm: release this hold").click()
            panel.get_by_role("button", name="Release").click()
            expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("released")
            expect(page.get_by_text("No hold is active")).to_be_visible()
        finally:
            browser.close()
    assert not [url for url in requests if "evil.example" in url]
    listed = cli("hold", "list", "--format", "json", "--api", up["api"],
                 env={"AGENTAUDIT_ADMIN_TOKEN": up["token"]})  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    (hold,) = json.loads(listed.stdout)
    expected: dict[str, Any] = {"kind": "session", "value": SESSION, "reason": REASON}
    assert {k: hold[k] for k in expected} == expected
    assert (hold["placed_by"], hold["released_by"], hold["active"]) == ("admin", "admin", False)
