"""The dashboard's revocation client against the real admin API: answers and errors.

The admin app (``build_admin_app`` with the ``build_revocation_path`` routes) runs on a
free port over the module's seeded chdb store. Timeouts use a listening socket that
never answers.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator

import pytest

from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.dashboards.revocation_client import (
    TIMEOUT_SECONDS,
    AdminApiRefused,
    AdminApiTimeout,
    AdminApiUnreachable,
    RevocationRequestError,
    backend_rows,
    build_release,
    build_request,
    release,
    retry,
    submit,
    summarise_results,
)
from agentaudit.store import Store

ADMIN = "responder-token"
AGENT = "agent-token"


@pytest.fixture(scope="module")
def path(seeded_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RevocationPath]:
    key_file = tmp_path_factory.mktemp("revoke-client") / "broker.pem"
    built = build_revocation_path(seeded_store, {}, default_key_file=key_file)
    yield built
    built.close()


@pytest.fixture(scope="module")
def base_url(seeded_store: Store, path: RevocationPath) -> Iterator[str]:
    shared = path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = build_admin_app(seeded_store, gate=shared, extra_routes=path.routes(shared))
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def agent_id() -> str:
    return f"client-{uuid.uuid4().hex[:10]}"


def test_the_default_timeout_covers_backend_retries() -> None:
    assert TIMEOUT_SECONDS == 30.0


def test_revoke_retry_and_release_round_trip(base_url: str, path: RevocationPath) -> None:
    agent = agent_id()
    answer = submit(
        build_request("agent", agent, "exfiltration", "rita"), base_url=base_url, token=ADMIN
    )
    assert (answer["action"], answer["status"]) == ("revoke", "done")
    assert backend_rows(answer) == [
        {
            "backend": "broker",
            "ok": True,
            "attempts": 1,
            "detail": answer["results"]["broker"]["detail"],
            "errors": "",
        }
    ]
    assert answer["quarantine"]["quarantined"] is True
    assert path.quarantine.is_quarantined(agent)

    with pytest.raises(AdminApiRefused, match=r"HTTP 409.*nothing to retry") as refused:
        retry(answer["id"], base_url=base_url, token=ADMIN)
    assert refused.value.status == 409

    released = release(
        build_release(agent, "false positive", "rita"), base_url=base_url, token=ADMIN
    )
    assert (released["action"], released["status"]) == ("release", "done")
    assert not path.quarantine.is_quarantined(agent)


def test_an_agent_id_with_a_slash_and_spaces_is_released_by_its_exact_id(
    base_url: str, path: RevocationPath
) -> None:
    agent = f"team a/{agent_id()}?x=1#y"  # recorded by the detector, not typed in the form
    path.service.revoke(target="agent", target_id=agent, reason="r", requested_by="detector")
    answer = release(build_release(agent, "ok again", "rita"), base_url=base_url, token=ADMIN)
    assert answer["quarantine"]["agent"] == agent
    assert not path.quarantine.is_quarantined(agent)


def test_releasing_an_agent_that_is_not_quarantined_is_404(base_url: str) -> None:
    with pytest.raises(AdminApiRefused, match=r"HTTP 404: agent .* is not quarantined") as exc:
        release(build_release(agent_id(), "why", "rita"), base_url=base_url, token=ADMIN)
    assert exc.value.status == 404


def test_retrying_an_unknown_revocation_is_404(base_url: str) -> None:
    with pytest.raises(AdminApiRefused, match=r"HTTP 404: no revocation"):
        retry(uuid.uuid4().hex, base_url=base_url, token=ADMIN)


def test_a_malformed_revocation_id_is_not_sent() -> None:
    with pytest.raises(RevocationRequestError, match="not a revocation id"):
        retry("../v1/query", base_url="http://127.0.0.1:9", token=ADMIN)


@pytest.mark.parametrize(
    ("token", "status", "hint"),
    [("wrong", 401, "AGENTAUDIT_ADMIN_TOKEN"), (AGENT, 403, "attempt recorded")],
)
def test_a_token_that_is_not_the_responders_is_explained(
    base_url: str, token: str, status: int, hint: str
) -> None:
    request = build_request("agent", agent_id(), "r", "rita")
    with pytest.raises(AdminApiRefused, match=rf"HTTP {status}.*{hint}") as exc:
        submit(request, base_url=base_url, token=token)
    assert exc.value.status == status
    with pytest.raises(AdminApiRefused, match=rf"refused the release: HTTP {status}"):
        release(build_release(agent_id(), "r", "rita"), base_url=base_url, token=token)


def test_an_unreachable_api_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening
    with pytest.raises(AdminApiUnreachable, match=r"unreachable.*AGENTAUDIT_API_URL"):
        submit(build_request("agent", "a", "r", "u"), base_url=url, token=ADMIN)


def test_a_silent_api_times_out_with_a_clear_error(silent_url: str) -> None:
    with pytest.raises(AdminApiTimeout, match=r"did not answer within 0.5 s.*check before asking"):
        submit(build_request("agent", "a", "r", "u"), base_url=silent_url, token=ADMIN, timeout=0.5)
    with pytest.raises(AdminApiTimeout, match="the release may still complete"):
        release(build_release("a", "r", "u"), base_url=silent_url, token=ADMIN, timeout=0.5)


@pytest.mark.parametrize(
    ("target_id", "message"),
    [
        ("x'; DROP TABLE agentaudit.revocations; --", "is not an id"),
        ("a/../../v1/query", "is not an id"),
        ("/etc/passwd", "is not an id"),
        ("_private", "is not an id"),
        ("a" * 257, "at most 256"),
        ("a\tb", "printable"),
    ],
)
def test_ids_that_are_not_ids_are_refused(target_id: str, message: str) -> None:
    with pytest.raises(RevocationRequestError, match=message):
        build_request("agent", target_id, "r", "u")


@pytest.mark.parametrize(
    "target_id", ["mail-assistant", "alice@example.com", "sess-42", "org/agent.v2", "cred:9b1e=="]
)
def test_ordinary_ids_are_accepted(target_id: str) -> None:
    assert build_request("agent", target_id, "r", "u").id == target_id


def test_release_needs_a_reason_and_a_printable_agent() -> None:
    with pytest.raises(RevocationRequestError, match="give a reason"):
        build_release("a", " ", "u")
    with pytest.raises(RevocationRequestError, match="not printable"):
        build_release("a\nb", "r", "u")
    with pytest.raises(RevocationRequestError, match="at most 1000"):
        build_release("a", "r" * 1001, "u")


def test_stored_results_read_as_one_line() -> None:
    results = {
        "vault": json.dumps(
            {"ok": False, "attempts": 3, "detail": "Vault unavailable", "errors": ["503"]}
        ),
        "broker": json.dumps({"ok": True, "attempts": 1, "detail": "agent a deny-listed"}),
        "refused": "agent token presented to POST /v1/revocations",
    }
    assert summarise_results(results) == (
        "broker: ok (1 attempt) agent a deny-listed; "
        "refused: agent token presented to POST /v1/revocations; "
        "vault: FAILED after 3 attempts: Vault unavailable"
    )
    assert summarise_results({}) == ""
    assert summarise_results(None) == ""
