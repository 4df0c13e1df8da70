"""A hostile agent's markup, in a real browser: every page shows it as text.

The store holds the demo data plus a session whose every text field is hostile
(:func:`tests.dashboards.seed_store.hostile_incident`: disguised links, a tracking image,
HTML with ``onerror``, Streamlit colour directives, LaTeX, emoji and icon shortcodes, a
bare URL and e-mail address, backticks, newlines starting a table and a heading), a
hostile quarantine and revocation row, and a hostile finding and detector baseline.
Debian's chromium (headless, via Playwright) opens each page the way a responder would:
the Overview, one click to the hostile session, the Investigate, Agent profile and
Blast radius links for the hostile agent, the Findings page of the hostile finding
(every field and its evidence hostile), the Revoke page (with an admin API whose answer
quotes hostile text) and the SQL console. On every page: no link off the dashboard (none
to evil.example, no mailto:), no external image, no heading from a newline, no LaTeX,
colour, emoji or icon rendering of the data, the literal ``**bold**`` visible, and no
request from the browser to evil.example (every request is recorded; those leaving the
machine are aborted so the test never reaches the network).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import pytest

from tests.dashboards.seed_store import (
    EVIL_HOST,
    HOSTILE_AGENT,
    HOSTILE_FINDING,
    HOSTILE_SESSION,
    hostile,
)
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, running_dashboard

pytestmark = pytest.mark.e2e

# What the page's DOM holds that Markdown or HTML made of the hostile text.
PROBE: Final = """() => {
  const here = location.origin;
  const external = (url) => !url.startsWith(here) && !url.startsWith('data:')
    && !url.startsWith('blob:') && !url.startsWith('about:');
  return {
    external_links: [...document.querySelectorAll('a[href]')].map(a => a.href).filter(external),
    external_images: [...document.querySelectorAll('img[src], image[href]')]
      .map(i => i.src || i.getAttribute('href')).filter(external),
    owned_headings: [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
      .map(h => h.innerText).filter(t => t.includes('Owned')),
    emphasis: [...document.querySelectorAll('strong,em,del')]
      .map(e => e.innerText).filter(t => /^(bold|two|red)$/.test(t.trim())),
    latex: document.querySelectorAll('.katex').length,
    colored: document.querySelectorAll('[class*="Colored"], [class*="Badge"]').length,
    markdown_tables: document.querySelectorAll('[data-testid="stMarkdownContainer"] table').length,
    emoji: document.body.innerText.includes('\\u{1F604}'),
    home_icons: [...document.querySelectorAll('[data-testid="stIconMaterial"]')]
      .filter(e => e.innerText.trim() === 'home').length,
    streamlit_logo: document.querySelectorAll('img[alt="Streamlit logo"]').length,
  };
}"""
CLEAN: Final = {
    "external_links": [],
    "external_images": [],
    "owned_headings": [],
    "emphasis": [],
    "latex": 0,
    "colored": 0,
    "markdown_tables": 0,
    "emoji": False,
    "home_icons": 0,
    "streamlit_logo": 0,
}


class _HostileAdminApi(BaseHTTPRequestHandler):
    """An admin API whose answer quotes hostile ids and backend errors."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(
            {
                "id": hostile("answer-id"),
                "status": "partial",
                "results": {
                    hostile("backend"): {
                        "ok": False,
                        "attempts": 2,
                        "detail": hostile("backend-detail"),
                    }
                },
                "quarantine": {"agent": HOSTILE_AGENT, "quarantined": True},
                "link": hostile("alert-link"),
            }
        ).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hostile_dashboard(tmp_path: Path) -> Iterator[str]:
    """The dashboard over the hostile store, no login (loopback), a hostile admin API."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileAdminApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "AGENTAUDIT_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "AGENTAUDIT_ADMIN_TOKEN": "responder-token",
    }
    try:
        with running_dashboard(tmp_path, env, "--hostile", "--findings") as base:
            yield base
    finally:
        server.shutdown()
        server.server_close()


def test_every_page_shows_hostile_markup_as_text_and_loads_nothing_from_it(
    hostile_dashboard: str, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, Route, expect, sync_playwright

    requests: list[str] = []
    dialogs: list[str] = []  # an onerror=alert(1) that ran would open one
    local = urlsplit(hostile_dashboard).netloc

    def stay_local(route: Route) -> None:
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            route.abort()  # recorded below; never sent

    def check(page: Page, name: str, *, in_text: bool = True) -> None:
        """The page rendered none of the hostile markup and shows it literally.

        ``in_text``: the page shows it in Markdown (code spans); else only in a
        dataframe, whose cells (the grid's accessible table) must hold it as bare text.
        """
        page.wait_for_timeout(1500)  # images, KaTeX and emoji load asynchronously
        assert page.get_by_test_id("stException").count() == 0, name  # every element drew
        assert not dialogs, (name, dialogs)
        found = page.evaluate(PROBE)
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        assert found == CLEAN, (name, found)
        offsite = [r for r in requests if urlsplit(r).netloc != local]
        assert not offsite, (name, offsite)  # none to evil.example, nor anywhere else
        if in_text:
            shown = page.get_by_text("**bold**", exact=False).filter(visible=True)
            expect(shown.first).to_be_visible()  # (the first match may be a table cell)
        else:
            cell = page.locator("[data-testid=stDataFrame] td", has_text="**bold** [click]")
            expect(cell.first).to_be_attached()
            assert cell.first.evaluate("c => c.children.length") == 0

    def open_page(page: Page, path: str, heading: str, **query: str) -> None:
        page.goto(f"{hostile_dashboard}/{path}?{urlencode(query)}")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.on("request", lambda request: requests.append(request.url))
            context.route("**/*", stay_local)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

            open_page(page, "", "Overview", window="24h")  # the default page is /
            incident = page.get_by_role("link", name=re.compile(re.escape("session **bold**")))
            expect(incident).to_be_visible()
            check(page, "overview")

            # One click from the Overview to the hostile session, as for any incident.
            incident.click()
            expect(page.get_by_role("heading", name="Session forensics")).to_be_visible()
            expect(page.get_by_test_id("stGraphVizChart").locator("svg")).to_be_visible()
            assert "session" in page.url
            check(page, "session")
            graph = page.get_by_test_id("stGraphVizChart").inner_text()
            assert "tool **bold** [click](https://evil.example/phish)" in graph
            # A text box shows the id as typed (an <input> drops the newlines).
            expect(page.get_by_role("textbox", name="Session id")).to_have_value(
                HOSTILE_SESSION.replace("\n", "")
            )

            open_page(page, "investigate", "Investigate", agent=HOSTILE_AGENT)
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            agent_box = page.get_by_role("textbox", name="Agent")
            expect(agent_box).to_have_value(HOSTILE_AGENT.replace("\n", ""))
            check(page, "investigate", in_text=False)

            open_page(page, "agent", "Agent profile", agent=HOSTILE_AGENT)
            expect(page.get_by_text("Tools never used in the baseline")).to_be_visible()
            expect(page.get_by_text("Still learning")).to_be_visible()  # its hostile baseline
            check(page, "agent")

            open_page(page, "findings", "Findings", finding=HOSTILE_FINDING, state="all")
            expect(page.get_by_test_id("stJson")).to_contain_text("evidence-value **bold**")
            check(page, "findings")

            open_page(page, "blast_radius", "Blast radius", agent=HOSTILE_AGENT)
            expect(page.get_by_text("Excess scopes")).to_be_visible()
            check(page, "blast_radius")

            open_page(page, "agents", "Agents")  # every agent, no catalog: card none
            expect(page.get_by_role("link", name=re.compile(re.escape("agent **bold**"))))
            check(page, "agents")
            open_page(page, "agents", "Agents", agent=HOSTILE_AGENT)
            expect(page.get_by_text("has no identity card in the catalog")).to_be_visible()
            check(page, "agents-card")

            open_page(page, "revoke", "Revoke")
            check(page, "revoke")  # the hostile quarantine row and history
            page.get_by_label(re.compile("^Id")).fill("agent-ok")
            page.get_by_label("Reason (recorded with the revocation)").fill("checking the answer")
            page.get_by_text("I confirm: revoke this now").click()
            page.get_by_role("button", name="Request revocation").click()
            expect(page.get_by_text(re.compile("requested: status partial"))).to_be_visible()
            check(page, "revoke-answer")

            open_page(page, "sql", "SQL")
            page.get_by_label("Query").fill(
                'SELECT agent_id AS "**hdr** [h](https://evil.example/h)", tool_name '
                "FROM agentaudit.tool_calls WHERE startsWith(agent_id, 'agent **bold**')"
            )
            page.get_by_role("button", name="Run").click()
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            check(page, "sql-result", in_text=False)
            header = page.locator("[data-testid=stDataFrame] th", has_text="**hdr** [h](https")
            expect(header.first).to_be_attached()  # a column name is text too
            assert header.first.evaluate("h => h.children.length") == 0
            page.get_by_label("Query").fill("SELECT **bold** [click](https://evil.example/phish)")
            page.get_by_role("button", name="Run").click()
            expect(page.get_by_test_id("stAlertContentError")).to_be_visible()
            check(page, "sql")
        finally:
            browser.close()
    assert requests, "no requests recorded: the recorder is not working"
    assert any(EVIL_HOST in r for r in requests)  # the links carried it, percent-encoded
