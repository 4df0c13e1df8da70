"""End to end in a real browser: Debian's chromium (headless) driven by Playwright.

A seeded embedded store (with the detector's findings and baselines), the dashboard
started with ``streamlit run`` and a responder password; the browser logs in, finds the
demo injection incident on the Overview, opens Session forensics in one click, checks
that the provenance chain names the email and ``send_email``, requests revocation of the
agent (against a local recorder standing in for the admin API), and saves the README
screenshots to ``docs/img/``. A second test opens every page with a chart: each chart
with data draws marks chromium can see (Vega's SVG data marks, at least 1 x 1 px), and
no metric value is cut off; and the Findings page shows the finding's evidence, one
click from its triggering call's forensics.
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
from typing import Any, Final

import pytest

from agentaudit.dashboards.server import APP_PATH
from tests.dashboards.seed_store import (
    DEMO_AGENT,
    DEMO_EMAIL,
    DEMO_FINDING,
    DEMO_SESSION,
    DEMO_SUMMARY,
)
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
DEMO_CATALOG = REPO / "agentaudit" / "demo" / "catalog.toml"
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
    with running_dashboard(tmp_path, env, "--findings") as base:
        yield base


# Per Vega chart on the page: its data marks (``g.role-mark``: bars, lines, points; not
# axes, grid or legend), and how many of them are drawn: at least 1 x 1 px, and painted
# (a fill or a stroke that is not transparent, in no transparent group). Streamlit's own
# charts add invisible hover points; a line through one point has no width.
CHART_MARKS: Final = """() => {
  const alpha = (color) => {
    if (!color || color === 'none' || color === 'transparent') return 0;
    const rgba = color.match(/^rgba\\(.*,\\s*([\\d.]+)\\)$/);
    return rgba ? parseFloat(rgba[1]) : 1;
  };
  const painted = (m) => {
    for (let e = m; e && e.tagName !== 'svg'; e = e.parentElement) {
      if (parseFloat(getComputedStyle(e).opacity) === 0) return false;
    }
    const style = getComputedStyle(m);
    const fill = alpha(style.fill) * parseFloat(style.fillOpacity) > 0;
    const stroke = alpha(style.stroke) * parseFloat(style.strokeOpacity) > 0
      && parseFloat(style.strokeWidth) > 0;
    return fill || stroke;
  };
  return [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(chart => {
    const marks = [...chart.querySelectorAll('svg g.role-mark > *')];
    const drawn = marks.filter(m => {
      const box = m.getBoundingClientRect();
      return box.width >= 1 && box.height >= 1 && painted(m);
    });
    return {marks: marks.length, drawn: drawn.length, svg: !!chart.querySelector('svg')};
  });
}"""
# Per metric: its value and label, and whether either is wider than its box (Streamlit
# cuts such text off with an ellipsis).
METRICS: Final = """() => [...document.querySelectorAll('[data-testid=stMetric]')].map(m => {
  const value = m.querySelector('[data-testid=stMetricValue] > div');
  const label = m.querySelector('[data-testid=stMetricLabel] > div') ||
    m.querySelector('[data-testid=stMetricLabel]');
  const cut = e => !!e && e.scrollWidth > e.clientWidth + 1;
  return {value: value.innerText, label: label.innerText, cut: cut(value) || cut(label)};
})"""


def log_in(page: Any, base: str) -> None:
    page.goto(base)
    page.get_by_role("textbox", name="User").fill("admin")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


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
            log_in(page, dashboard)
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

            # The detector's finding of the incident, from the sidebar (same session).
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Findings").click()
            expect(page.get_by_role("heading", name="Findings", exact=True)).to_be_visible()
            expect(page.get_by_text(DEMO_SUMMARY).first).to_be_visible()
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "findings.png"), full_page=True)
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


@pytest.fixture
def open_dashboard(tmp_path: Path) -> Iterator[str]:
    """No login (loopback, no users): every link opens a page as a fresh session would."""
    with running_dashboard(tmp_path, {}, "--findings") as base:
        yield base


def test_charts_with_data_draw_marks_and_metrics_fit(open_dashboard: str, tmp_path: Path) -> None:
    """The Overview's activity chart over a day, a week and a burst (90 min: the demo
    incident's two calls, six seconds apart: one point per agent, which a line chart
    draws as nothing), the Agent profile's baseline and history charts (a learned
    agent, a learning one), and the Findings page."""
    dashboard = open_dashboard
    from playwright.sync_api import expect, sync_playwright

    def charts(page: Any, name: str, expected: int) -> None:
        """Every chart on the page (``expected`` of them) drew visible marks."""
        charts = page.get_by_test_id("stVegaLiteChart")
        expect(charts).to_have_count(expected)
        for index in range(expected):
            expect(charts.nth(index).locator("svg g.role-mark > *").first).to_be_attached()
        page.wait_for_timeout(500)  # let Vega finish laying out
        found = page.evaluate(CHART_MARKS)
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        assert len(found) == expected, (name, found)
        for chart in found:
            assert chart["svg"], (name, found)
            assert chart["drawn"] >= 1, (name, found)  # not empty axes

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            for window in ("24h", "7d", "90m"):
                page.goto(f"{dashboard}/?window={window}")
                expect(page.get_by_role("heading", name="Ingest health")).to_be_visible()
                charts(page, f"overview-{window}", 1)
                metrics = page.evaluate(METRICS)
                assert [m["label"] for m in metrics] == [
                    "Tool calls stored",
                    "Spans stored",
                    "Received, last 5 min",
                    "Last received",
                ], metrics
                assert not [m for m in metrics if m["cut"]], metrics  # every value in full
                # The seed receives each span shortly after it ended, which may be hours ago.
                assert re.fullmatch(r"\d+ (s|min|h) ago|none", metrics[-1]["value"]), metrics

            for agent, count in ((DEMO_AGENT, 4), ("research-agent", 4)):
                page.goto(f"{dashboard}/agent?agent={agent}&window=24h")
                expect(page.get_by_role("heading", name="Detector baseline and this window"))
                charts(page, f"agent-{agent}", count)

            # The Findings page, from the Overview: the evidence, and one click from the
            # triggering call to its forensics.
            page.goto(dashboard)
            page.get_by_role("link", name="Open the Findings page").click()
            expect(page.get_by_role("heading", name="Findings", exact=True)).to_be_visible()
            expect(page.get_by_text(DEMO_SUMMARY).first).to_be_visible()
            expect(page.get_by_test_id("stJson").first).to_contain_text("untrusted_sources")
            expect(page.get_by_role("button", name="Escalate")).to_be_visible()
            assert f"finding={DEMO_FINDING}" in page.url
            page.get_by_role("link", name=re.compile("called send_email")).click()
            expect(page.get_by_role("heading", name="Session forensics")).to_be_visible()
            assert f"session={DEMO_SESSION}" in page.url
        finally:
            browser.close()


def test_agents_page_shows_the_demo_agents_card_one_click_away(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    env = {"AGENTAUDIT_CATALOG": str(DEMO_CATALOG)}
    with running_dashboard(tmp_path, env, "--findings") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(base)
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Agents").click()
            expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
            expect(page.get_by_text(str(DEMO_CATALOG))).to_be_visible()
            card = page.get_by_role("link", name=re.compile(f"^{DEMO_AGENT}: card unsigned"))
            expect(card).to_contain_text("open findings 1")  # the incident's finding
            page.wait_for_timeout(1000)
            page.screenshot(path=str(tmp_path / "agents.png"), full_page=True)

            card.click()  # one click from the list to the card
            expect(page.get_by_role("heading", name="Identity card")).to_be_visible()
            expect(page.get_by_text(f"Agent: {DEMO_AGENT}")).to_be_visible()
            assert f"agent={DEMO_AGENT}" in page.url
            expect(page.get_by_text("Unsigned: no one has signed this card off")).to_be_visible()
            expect(page.get_by_text("Dana Reyes <dana@example.com>")).to_be_visible()
            revocation = page.get_by_text(re.compile("^Quarantine: POST /v1/revocations"))
            expect(revocation).to_be_visible()
            tools = page.get_by_test_id("stDataFrame").first
            expect(tools).to_contain_text("send_email")
            expect(tools).to_contain_text("mail.read")  # granted beyond the minimum
            problems = page.get_by_test_id("stDataFrame").nth(1)
            expect(problems).to_contain_text("excess_scope")
            page.screenshot(path=str(tmp_path / "agent-card.png"), full_page=True)

            page.get_by_role("link", name="All agents").click()
            expect(card).to_be_visible()

            # Blast radius judges each tool against the card, not by scope-name prefixes.
            page.goto(f"{base}/blast_radius?agent=calendar-assistant&window=24h")
            expect(page.get_by_role("heading", name="Blast radius")).to_be_visible()
            body = page.locator("body")
            expect(body).to_contain_text("Judged against calendar-assistant's identity card")
            expect(body).to_contain_text("Granted beyond what the tools need")
            expect(body).to_contain_text("allows create, update, delete on calendar")
            for label in ("Scopes granted (card)", "Excess scopes"):  # no calls here: the card's
                metric = page.get_by_test_id("stMetric").filter(has_text=label)
                expect(metric.get_by_test_id("stMetricValue")).to_have_text("2")
            page.screenshot(path=str(tmp_path / "blast-radius.png"), full_page=True)
        finally:
            browser.close()
