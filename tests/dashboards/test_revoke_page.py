"""The Revoke page against the real admin API, over the store the page reads.

The revocation path (``build_revocation_path``: broker deny-list, quarantine registry, a
signed webhook to a loopback receiver whose answer the test switches between 200 and
500) is mounted in the real admin app (``build_admin_app``) served by ``HttpServer`` on a
free port; it writes to the same seeded chdb store the page reads through
``register_store``. An ASGI wrapper counts the requests that reach the API, so "sends
nothing" is checked where it matters.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import Config
from agentaudit.dashboards import register_config
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, VIEWER, User, hash_password
from agentaudit.dashboards.server import APP_PATH
from agentaudit.store import Store
from tests.dashboards.markdown_reader import outside_code, rendered

TIMEOUT = 60
ADMIN = "responder-token"
AGENT = "agent-token"
RITA = User("rita", RESPONDER)
VAL = User("val", VIEWER)
REVOKE_PAGE = APP_PATH.parent / "views" / "revoke.py"


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver answering ``status`` (200 or 500) to every alert."""

    status = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"ok" if self.status == 200 else b"receiver down"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Counting:
    """ASGI wrapper recording (method, path) of every HTTP request reaching the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.url = ""
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def users() -> Iterator[None]:
    accounts = {
        "rita": {"role": RESPONDER, "password_hash": hash_password("rita-secret")},
        "val": {"role": VIEWER, "password_hash": hash_password("val-secret")},
    }
    register_config(
        Config(clickhouse_url="chdb:///unused", sections={"dashboard": {"users": accounts}})
    )
    yield
    register_config(None)


@dataclass
class Hook:
    """The running receiver: its URL, and the status it answers (set by the tests)."""

    url: str

    def answer(self, status: int) -> None:
        _Receiver.status = status


@pytest.fixture(scope="module")
def receiver() -> Iterator[Hook]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.status = 200
    yield Hook(f"http://127.0.0.1:{server.server_address[1]}/hook")
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def path(
    seeded_store: Store, receiver: Hook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RevocationPath]:
    sections = {
        "revocation": {
            "retry": {"attempts": 1, "base_delay": 0.0},
            "webhook": [{"name": "secops", "url": receiver.url, "secret": "whsec"}],
        }
    }
    key_file: Path = tmp_path_factory.mktemp("revoke-page") / "broker.pem"
    built = build_revocation_path(seeded_store, sections, default_key_file=key_file)
    yield built
    built.close()


@pytest.fixture(scope="module")
def api(seeded_store: Store, path: RevocationPath) -> Iterator[_Counting]:
    app = _Counting(
        build_admin_app(
            seeded_store,
            gate=(shared := path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))),
            extra_routes=path.routes(shared),
        )
    )
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    app.url = f"http://127.0.0.1:{server.port}"
    yield app
    server.stop()


@pytest.fixture(autouse=True)
def _environment(
    users: None, api: _Counting, receiver: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTAUDIT_API_URL", api.url)
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    monkeypatch.delenv("AGENTAUDIT_DASHBOARD_PASSWORD", raising=False)
    receiver.answer(200)


# --- helpers ----------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def texts(elements: Any) -> list[str]:
    """The elements' text as shown (quoted values are code spans: see markdown_reader)."""
    return [rendered(str(e.value)) for e in elements]


def open_revoke(user: User = RITA, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("views/revoke.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def request_revocation(
    at: AppTest, target_id: str | None, reason: str, target: str = "agent"
) -> AppTest:
    """Fill and submit the revoke form (``target_id`` None: keep the id from the link)."""
    at.selectbox[0].select(target)
    if target_id is not None:
        at.text_input[0].input(target_id)
    at.text_area[0].input(reason)
    at.checkbox[0].check()
    at.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def quarantined_on_page(at: AppTest) -> list[str]:
    return [e.label for e in at.expander]


def history(at: AppTest) -> Any:
    return next(d.value for d in at.dataframe if "target_id" in d.value.columns)


def backend_results(at: AppTest) -> Any:
    """The per-backend table of the last outcome (a dataframe: its cells are plain text)."""
    return next((d.value for d in at.dataframe if "backend" in d.value.columns), None)


def rows_for(at: AppTest, target_id: str) -> list[dict[str, Any]]:
    frame = history(at)
    return frame[frame["target_id"] == target_id].to_dict("records")  # type: ignore[no-any-return]


def revoke_via_api(api: _Counting, agent: str) -> dict[str, Any]:
    reply = httpx.post(
        f"{api.url}/v1/revocations",
        json={"target": "agent", "id": agent, "reason": "set up", "requested_by": "oncall"},
        headers={"authorization": f"Bearer {ADMIN}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def release_form(at: AppTest, agent: str, reason: str, confirm: bool = True) -> AppTest:
    at.text_area(key=f"release-reason:{agent}").input(reason)
    if confirm:
        at.checkbox(key=f"release-confirm:{agent}").check()
    at.button(key=f"release-submit:{agent}").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- revoke ----------------------------------------------------------------------------


def test_revoke_shows_per_backend_results_and_the_agent_is_quarantined(api: _Counting) -> None:
    agent = unique("rogue")
    at = request_revocation(open_revoke(), agent, "sent the customer list to msg-42's sender")

    assert any(f"{agent} requested: status done" in s for s in texts(at.success)), texts(
        at.success
    ) + texts(at.error)
    results = backend_results(at)
    assert sorted(results["backend"]) == ["broker", "secops"]
    assert results["ok"].tolist() == [True, True]
    assert results["attempts"].tolist() == [1, 1]
    assert any("delivered" in d for d in results["detail"])
    assert any(f"{agent} is quarantined" in i for i in texts(at.info))
    assert not [b for b in at.button if b.label == "Retry failed backends"]

    assert any(agent in label for label in quarantined_on_page(at))
    (row,) = rows_for(at, agent)
    assert (row["action"], row["status"], row["requested_by"]) == ("revoke", "done", "rita")
    assert "broker: ok (1 attempt)" in row["results"]
    assert "secops: ok" in row["results"]
    assert ("POST", "/v1/revocations") in api.requests

    overview = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    overview.session_state[USER_KEY] = RITA
    overview.run()
    held = [d.value for d in overview.dataframe if "revocation_id" in d.value.columns]
    assert held
    assert agent in held[0]["agent_id"].tolist()


def test_a_failed_backend_is_shown_and_retried(receiver: Hook) -> None:
    receiver.answer(500)
    agent = unique("flaky")
    at = request_revocation(open_revoke(), agent, "webhook receiver down")
    assert any("status partial" in w for w in texts(at.warning)), texts(at.warning)
    results = backend_results(at).set_index("backend")
    assert bool(results.loc["broker", "ok"]) is True
    assert bool(results.loc["secops", "ok"]) is False
    assert "500" in results.loc["secops", "detail"] + results.loc["secops", "errors"]
    assert "secops: FAILED after 1 attempt" in rows_for(at, agent)[0]["results"]

    receiver.answer(200)
    retry_button = next(b for b in at.button if b.label == "Retry failed backends")
    retry_button.click()
    at.run()
    assert not at.exception
    assert any("status done after a retry" in s for s in texts(at.success)), texts(
        at.success
    ) + texts(at.error)
    assert backend_results(at)["ok"].tolist() == [True, True]
    (row,) = rows_for(at, agent)
    assert row["status"] == "done"
    assert "secops: ok" in row["results"]


def test_a_credential_revocation_has_no_quarantine() -> None:
    credential = unique("cred-")
    at = request_revocation(open_revoke(), credential, "leaked in a log", target="credential")
    assert any("status done" in s for s in texts(at.success)), texts(at.error)
    assert not any("quarantined" in i for i in texts(at.info))
    assert not any(credential in label for label in quarantined_on_page(at))
    (row,) = rows_for(at, credential)
    assert (row["action"], row["target"]) == ("revoke", "credential")


# --- release ---------------------------------------------------------------------------


def test_release_removes_the_agent_and_both_are_in_the_history(
    api: _Counting, path: RevocationPath
) -> None:
    agent = unique("released")
    at = request_revocation(open_revoke(), agent, "looked like exfiltration")
    assert any(agent in label for label in quarantined_on_page(at))

    at = release_form(at, agent, "false positive: the recipient was internal")
    assert any(f"Release of agent {agent} requested: status done" in s for s in texts(at.success))
    assert any(f"{agent} is no longer quarantined (state released)" in i for i in texts(at.info))
    assert not any("is quarantined" in i for i in texts(at.info))  # the revoke's is gone
    assert not any(agent in label for label in quarantined_on_page(at))
    assert not path.quarantine.is_quarantined(agent)
    assert ("DELETE", f"/v1/quarantine/{agent}") in api.requests

    rows = sorted((r["action"], r["status"], r["requested_by"]) for r in rows_for(at, agent))
    assert rows == [("release", "done", "rita"), ("revoke", "done", "rita")]
    release_row = next(r for r in rows_for(at, agent) if r["action"] == "release")
    assert release_row["reason"] == "false positive: the recipient was internal"


def test_release_needs_a_reason_and_confirmation_and_sends_nothing_without(
    api: _Counting, path: RevocationPath
) -> None:
    agent = unique("held")
    revoke_via_api(api, agent)
    before = len(api.requests)
    at = release_form(open_revoke(), agent, "   ")
    assert any("give a reason" in e for e in texts(at.error)), texts(at.error)
    at = release_form(at, agent, "a good reason", confirm=False)
    assert any("confirmation" in e for e in texts(at.error)), texts(at.error)
    assert len(api.requests) == before
    assert path.quarantine.is_quarantined(agent)
    assert any(agent in label for label in quarantined_on_page(at))


# --- who may ---------------------------------------------------------------------------


def test_a_viewer_sees_neither_results_nor_release_forms(api: _Counting) -> None:
    agent = unique("hidden")
    revoke_via_api(api, agent)
    before = len(api.requests)

    at = AppTest.from_file(str(REVOKE_PAGE), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = VAL
    at.run()
    assert any("Only responders" in e for e in texts(at.error))
    assert not at.button
    assert not at.text_area
    assert not at.expander
    assert backend_results(at) is None
    assert not at.dataframe
    assert not any(agent in m for m in texts(at.markdown))

    app = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    app.session_state[USER_KEY] = VAL
    app.run()
    with pytest.raises(ValueError, match=r"revoke\.py"):
        app.switch_page("views/revoke.py")
    assert len(api.requests) == before


def test_the_agent_token_is_refused_and_the_attempt_recorded(
    monkeypatch: pytest.MonkeyPatch, path: RevocationPath
) -> None:
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", AGENT)
    agent = unique("victim")
    at = request_revocation(open_revoke(), agent, "an agent trying to revoke another")
    assert any("HTTP 403" in e and "AGENTAUDIT_ADMIN_TOKEN" in e for e in texts(at.error)), texts(
        at.error
    )
    assert backend_results(at) is None
    assert not path.quarantine.is_quarantined(agent)
    (row,) = rows_for(at, agent)
    assert (row["action"], row["status"]) == ("revoke", "refused")


def test_a_wrong_token_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", "not-the-token")
    at = request_revocation(open_revoke(), unique("someone"), "a reason")
    assert any("HTTP 401" in e and "AGENTAUDIT_ADMIN_TOKEN" in e for e in texts(at.error))


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target_id", "reason", "message"),
    [
        ("agent-ok", "   ", "give a reason"),
        ("a" * 300, "a reason", "at most 256"),
        ("x'; DROP TABLE agentaudit.revocations; --", "a reason", "is not an id"),
        ("../../v1/query", "a reason", "is not an id"),
        ("<script>alert(1)</script>", "a reason", "is not an id"),
        ("agent\u0000x", "a reason", "printable"),
        ("[open me](https://evil.example)", "a reason", "is not an id"),
    ],
)
def test_bad_input_gets_a_clear_error_and_sends_nothing(
    api: _Counting, target_id: str, reason: str, message: str
) -> None:
    before = len(api.requests)
    # Through the link (``/revoke?id=...``): the text box itself stops typing at 256.
    at = request_revocation(open_revoke(target="agent", id=target_id), None, reason)
    assert any(message in e for e in texts(at.error)), texts(at.error)
    assert all("](" not in outside_code(str(e.value)) for e in at.error)  # the id is text
    assert not at.success
    assert backend_results(at) is None
    assert len(api.requests) == before


# --- the API down ----------------------------------------------------------------------


def test_an_unreachable_api_is_a_clear_error(
    api: _Counting, path: RevocationPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = unique("stuck")
    revoke_via_api(api, agent)
    monkeypatch.setenv("AGENTAUDIT_API_URL", f"http://127.0.0.1:{closed_port()}")

    at = request_revocation(open_revoke(), unique("other"), "a reason")
    assert any("unreachable" in e and "AGENTAUDIT_API_URL" in e for e in texts(at.error))
    assert backend_results(at) is None

    at = release_form(at, agent, "false positive")
    assert any(f"Release of {agent} failed" in e and "unreachable" in e for e in texts(at.error))
    assert path.quarantine.is_quarantined(agent)
    assert any(agent in label for label in quarantined_on_page(at))
