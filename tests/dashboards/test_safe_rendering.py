"""Every page shows a hostile agent's markup as text: one session, every field hostile.

The store holds the demo data plus :func:`~tests.dashboards.seed_store.hostile_incident`
(agent, user, session, tool, source refs and kinds, prompt hash, model, resource,
credential, scope, approver and error type each hold links, a tracking image, HTML,
Streamlit directives, LaTeX, emoji, backticks and newline-started headings) and a
hostile quarantine and revocation row. Each page is opened with the query parameters
that show the hostile row. Two things are checked on every page:

- nothing Streamlit interprets as Markdown carries the markup: in every Markdown string
  of the page (titles, captions, alerts, metrics, labels, help texts, expanders, page
  links) the hostile text appears only inside code spans, never as syntax;
- the responder still sees the values: each one the page shows is the content of a code
  span (or a dataframe cell, or a plain-text widget) exactly, newlines shown as ``␊``.

The browser side (no link, image or request to evil.example) is tests/e2e/test_browser_injection.py.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlencode

import pandas as pd
import pytest
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

from agentaudit.config import Config
from agentaudit.dashboards import register_config, register_store
from agentaudit.dashboards._markdown import visible
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, User, hash_password
from agentaudit.dashboards.server import APP_PATH
from agentaudit.store import Store
from tests.dashboards.markdown_reader import code_spans, outside_code
from tests.dashboards.seed_store import (
    HOSTILE_AGENT,
    HOSTILE_MARKUP,
    HOSTILE_OLD_TOOL,
    HOSTILE_SESSION,
    HOSTILE_TOOL,
    hostile,
    seed,
)

TIMEOUT = 60
RITA = User("rita", RESPONDER)
WORD_JOINER = "\u2060"
# Pieces of HOSTILE_MARKUP that must never reach Markdown outside a code span.
MARKERS: Final = (
    "evil.example",
    "**bold**",
    "](",
    "<img",
    ":red[",
    "LaTeX",
    ":smile:",
    "material/home",
    ":streamlit:",
    "# Owned",
    "|---|",
    "`tick`",
)
# String fields that Streamlit shows as plain text or does not show at all.
PLAIN_FIELDS: Final = frozenset(
    {"id", "form_id", "default", "options", "query_string", "page", "page_script_hash"}
)
PLAIN_ELEMENTS: Final = {
    "json": {"body"},
    "text": {"body"},
    "code": {"code_text"},
    "graphviz_chart": {"spec"},  # DOT: checked by test_session_forensics_...
    "vega_lite_chart": {"spec"},  # chart JSON; its data is Arrow
}


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The demo store plus the hostile session, quarantine and revocation rows."""
    store = Store.open(f"chdb://{tmp_path_factory.mktemp('hostile-store')}")
    seed(store, hostile_rows=True)
    register_store(store)
    yield store
    register_store(None)
    store.close()


@pytest.fixture(scope="module", autouse=True)
def _users(seeded_store: Store) -> Iterator[None]:
    users = {"rita": {"role": RESPONDER, "password_hash": hash_password("rita-secret")}}
    register_config(
        Config(clickhouse_url="chdb:///unused", sections={"dashboard": {"users": users}})
    )
    yield
    register_config(None)


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = RITA
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _strings(message: Message, prefix: str = "") -> Iterator[tuple[str, str]]:
    for field, value in message.ListFields():
        for item in value if field.is_repeated else [value]:
            if isinstance(item, str):
                yield prefix + field.name, item
            elif isinstance(item, Message):
                yield from _strings(item, f"{prefix}{field.name}.")


def markdown_strings(at: AppTest) -> list[tuple[str, str, str]]:
    """``(element, field, text)`` of every string on the page Streamlit renders as Markdown."""
    found: list[tuple[str, str, str]] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        kind = str(getattr(node, "type", ""))
        if isinstance(proto, Message):
            for path, text in _strings(proto):
                name = path.rsplit(".", 1)[-1]
                if name not in PLAIN_FIELDS and name not in PLAIN_ELEMENTS.get(kind, ()):
                    found.append((kind, path, text))
        children = getattr(node, "children", None)
        for child in children.values() if isinstance(children, dict) else ():
            walk(child)

    walk(at._tree)
    return found


def assert_markup_is_inert(at: AppTest) -> None:
    """No Markdown string on the page has hostile markup outside a code span."""
    strings = markdown_strings(at)
    assert strings
    for kind, field, text in strings:
        interpreted = outside_code(text)
        leaked = [marker for marker in MARKERS if marker in interpreted]
        assert not leaked, f"{kind}.{field} renders {leaked} as Markdown: {text!r}"
        assert not any("\n" in span for span in code_spans(text)), (kind, field, text)


def values_in(text: str) -> list[str]:
    """The values ``text`` shows (its code spans, less the invisible word joiners)."""
    return [span.replace(WORD_JOINER, "") for span in code_spans(text)]


def shown(at: AppTest) -> set[str]:
    """Every value the page's Markdown shows as text."""
    return {value for _, _, text in markdown_strings(at) for value in values_in(text)}


def assert_shows(at: AppTest, *values: str) -> None:
    spans = shown(at)
    missing = [value for value in values if visible(value) not in spans]
    assert not missing, (missing, sorted(spans))


def cells(at: AppTest) -> set[str]:
    """Every string cell of the page's dataframes (plain text in the browser)."""
    out: set[str] = set()
    for frame in at.dataframe:
        value: pd.DataFrame = frame.value
        for column in value.columns:
            for cell in value[column]:
                items = cell if isinstance(cell, list | tuple) else [cell]
                out.update(str(item) for item in items)
    return out


def markdown_of(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


# --- the pages --------------------------------------------------------------------------


def test_overview_links_the_hostile_session_with_its_ids_as_text() -> None:
    at = open_page("overview")
    assert_markup_is_inert(at)
    (link,) = [p for p in at.get("page_link") if HOSTILE_SESSION[:20] in p.proto.label]
    spans = values_in(link.proto.label)
    assert visible(HOSTILE_SESSION) in spans
    assert visible(HOSTILE_AGENT) in spans
    assert visible(HOSTILE_TOOL) in spans
    assert visible(hostile("user")) in spans
    assert visible(hostile("source-ref")) in spans
    # One click still opens exactly that session.
    assert parse_qs(link.proto.query_string) == {"session": [HOSTILE_SESSION]}
    assert {HOSTILE_AGENT, HOSTILE_SESSION, HOSTILE_TOOL} <= cells(at)  # the tables


def test_investigate_shows_hostile_rows_and_links_them_to_forensics() -> None:
    at = open_page("investigate", agent=HOSTILE_AGENT)
    assert_markup_is_inert(at)
    agent_box = next(t for t in at.text_input if t.label == "Agent")
    assert agent_box.value == HOSTILE_AGENT  # the filter from the link, as typed
    (frame,) = [f.value for f in at.dataframe]
    assert frame["tool_name"].tolist() == [HOSTILE_TOOL]
    assert frame["link"].tolist() == ["./session?" + urlencode({"session": HOSTILE_SESSION})]


def test_investigate_quotes_a_hostile_filter_from_a_link_as_text() -> None:
    at = open_page("investigate", since=HOSTILE_MARKUP)
    assert_markup_is_inert(at)
    (error,) = markdown_of(at.error)
    assert "Invalid filter in the link" in outside_code(error)
    assert any(span.startswith("since: '**bold** [click](https://evil") for span in shown(at))


def test_session_forensics_shows_every_hostile_field_as_text() -> None:
    at = open_page("session", session=HOSTILE_SESSION)
    assert_markup_is_inert(at)
    assert next(t for t in at.text_input if t.label == "Session id").value == HOSTILE_SESSION
    assert_shows(
        at,
        HOSTILE_AGENT,  # metric
        hostile("user"),  # metric
        HOSTILE_TOOL,  # alert and expander
        HOSTILE_OLD_TOOL,
        hostile("source-ref"),  # alert
        hostile("resource"),
        hostile("credential"),
        hostile("scope"),
        hostile("approver"),
        hostile("error-type"),
        hostile("prompt-hash"),
    )
    (revoke,) = [p for p in at.get("page_link") if "Request revocation" in p.proto.label]
    assert parse_qs(revoke.proto.query_string) == {"target": ["agent"], "id": [HOSTILE_AGENT]}
    arguments = [json.loads(j.proto.body) for j in at.get("json")]
    assert {"to": hostile("argument"), hostile("argument-key"): 1} in arguments
    timeline = at.dataframe[0].value
    assert f"chat {hostile('model')}" in timeline["what"].tolist()


def test_session_forensics_graph_labels_are_escaped_dot_strings() -> None:
    at = open_page("session", session=HOSTILE_SESSION)
    spec = str(at.get("graphviz_chart")[0].proto.spec)
    lines = spec.splitlines()
    assert lines[0] == "digraph provenance {"
    assert lines[-1] == "}"
    labels = []
    allowed = {"label", "shape", "style", "color", "fillcolor", "penwidth", "fontcolor"}
    for line in lines[4:-1]:
        if "->" in line and "[" not in line:
            continue
        node, _, attrs = line.strip().partition(" [")
        assert re.fullmatch(r"n\d+", node), line
        assert attrs.endswith("];"), line
        parsed = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', attrs))
        assert set(parsed) <= allowed, line  # no URL/href/image attribute got in
        labels.append(parsed["label"])
    text = "\n".join(
        label.replace('\\"', '"').replace("\\\\", "\\").replace("&amp;", "&") for label in labels
    )
    assert visible(HOSTILE_TOOL)[:40] in text
    assert visible(hostile("source-ref"))[:40] in text
    assert visible(hostile("resource"))[:40] in text


def test_session_forensics_echoes_an_unknown_hostile_id_as_text() -> None:
    at = open_page("session", session=hostile("no-such-session"))
    assert_markup_is_inert(at)
    assert_shows(at, hostile("no-such-session"))


def test_agent_profile_shows_a_hostile_agent_and_its_new_tool_as_text() -> None:
    at = open_page("agent", agent=HOSTILE_AGENT)
    assert_markup_is_inert(at)
    agent_box = next(s for s in at.selectbox if s.label == "Agent")
    assert agent_box.value == HOSTILE_AGENT
    assert HOSTILE_AGENT in agent_box.options  # options are plain text
    (warning,) = markdown_of(at.warning)
    assert values_in(warning) == [visible(HOSTILE_TOOL)]  # never used in the baseline
    assert {HOSTILE_TOOL, hostile("resource"), hostile("scope")} <= cells(at)


def test_blast_radius_shows_hostile_scopes_as_text() -> None:
    at = open_page("blast_radius", agent=HOSTILE_AGENT)
    assert_markup_is_inert(at)
    (unknown,) = [i for i in markdown_of(at.info) if "No scope vocabulary knows" in i]
    assert values_in(unknown) == [visible(hostile("scope"))]  # what it allows is unknown
    assert {HOSTILE_TOOL, hostile("credential")} <= cells(at)


def test_revoke_lists_a_hostile_quarantine_and_history_as_text() -> None:
    at = open_page("revoke")
    assert_markup_is_inert(at)
    assert_shows(at, HOSTILE_AGENT, hostile("actor"), hostile("quarantine-reason"))
    assert_shows(at, hostile("revocation-id"))
    history = next(d.value for d in at.dataframe if "target_id" in d.value.columns)
    row = history[history["target_id"] == HOSTILE_AGENT].iloc[0]
    assert row["reason"] == hostile("revocation-reason")
    assert hostile("detail") in row["results"]


@pytest.mark.parametrize(
    ("target_id", "why"),
    [
        (HOSTILE_AGENT, "printable"),  # has newlines: refused without quoting it
        ("**bold** [click](https://evil.example/phish) ![x](https://evil.example/b.png)", "an id"),
    ],
)
def test_revoke_quotes_a_hostile_id_from_a_link_as_text(target_id: str, why: str) -> None:
    at = open_page("revoke", target="agent", id=target_id)
    assert at.text_input[0].value == target_id
    at.text_area[0].input("a reason")
    at.checkbox[0].check()
    at.button[0].click().run()
    assert_markup_is_inert(at)
    (error,) = [e for e in markdown_of(at.error) if why in e]
    if why == "an id":
        assert any(f"'{target_id}'" in value for value in values_in(error))
    assert not at.success


class _HostileApi(BaseHTTPRequestHandler):
    """An admin API whose answer quotes hostile ids and backend errors."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        answer = {
            "id": hostile("answer-id"),
            "status": "partial",
            "results": {
                hostile("backend"): {
                    "ok": False,
                    "attempts": 2,
                    "detail": hostile("backend-detail"),
                    "errors": [hostile("backend-error")],
                },
            },
            "quarantine": {"agent": HOSTILE_AGENT, "quarantined": True},
            "link": hostile("alert-link"),
        }
        body = json.dumps(answer).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hostile_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AGENTAUDIT_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", "responder-token")
    yield
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("hostile_api")
def test_revoke_shows_a_hostile_api_answer_as_text() -> None:
    at = open_page("revoke", target="agent", id="agent-ok")
    at.text_area[0].input("a reason")
    at.checkbox[0].check()
    at.button[0].click().run()
    assert not at.exception
    assert_markup_is_inert(at)
    assert any("status" in w for w in markdown_of(at.warning))  # partial: amber
    assert_shows(at, hostile("answer-id"), HOSTILE_AGENT, hostile("alert-link"))
    results = next(d.value for d in at.dataframe if "backend" in d.value.columns)
    assert results["detail"].tolist() == [hostile("backend-detail")]
    assert results["backend"].tolist() == [hostile("backend")]


def test_sql_console_shows_hostile_results_and_errors_as_text() -> None:
    at = open_page("sql")
    at.text_area[0].input(
        "SELECT agent_id, tool_name FROM agentaudit.tool_calls "
        "WHERE startsWith(agent_id, 'agent **bold**')"
    )
    at.button[0].click().run()
    assert_markup_is_inert(at)
    assert {HOSTILE_AGENT, HOSTILE_TOOL} <= cells(at)
    at.text_area[0].input("SELECT [click](https://evil.example/phish) ![x](https://evil.example/x)")
    at.button[0].click().run()
    assert at.error
    assert_markup_is_inert(at)
