"""Triage of detector findings: the real admin app on a real port over chdb.

``build_admin_app`` with the revocation path's routes and :func:`finding_routes` behind
one gate, as the collector mounts them; findings are rows the way the detector writes
them (``tests.dashboards.seed_store.insert_finding``). Checked through the typed client
(:class:`AdminClient`) and raw HTTP: responders triage, an agent token is refused and
recorded, no token is 401, a false positive needs a reason, an escalation revokes the
agent through the revocation service and records the revocation's id, and every change
is a new version row whose newest version wins.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentaudit.client import AdminApiRefused, AdminClient
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.admin.findings_api import finding_routes
from agentaudit.collector.admin.findings_log import EXCEPTIONS_SQL
from agentaudit.collector.admin.revocation import RevocationPath, build_revocation_path
from agentaudit.collector.identity.principals import Authenticator
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.detector.model import Finding
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.dashboards.seed_store import insert_finding

ADMIN = "responder-token-for-findings-0123456789"
AGENT = "agent-token-for-findings-0123456789ab"
AS_AGENT = {"authorization": f"Bearer {AGENT}"}
SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory: Path = tmp_path_factory.mktemp("findings") / "store"
    with Store.open(embedded_dsn(directory)) as opened:
        apply_migrations(opened)
        yield opened


@pytest.fixture(scope="module")
def path(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RevocationPath]:
    key = tmp_path_factory.mktemp("findings-state") / "broker.pem"
    built = build_revocation_path(store, {}, default_key_file=key)
    yield built
    built.close()


@dataclass
class Api:
    url: str

    def client(self, token: str | None = ADMIN) -> AdminClient:
        return AdminClient(self.url, token=token, timeout=30)


@pytest.fixture(scope="module")
def api(store: Store, path: RevocationPath) -> Iterator[Api]:
    gate = path.gate(Authenticator(agent_token=AGENT, admin_token=ADMIN))
    app = build_admin_app(
        store,
        gate=gate,
        extra_routes=[*path.routes(gate), *finding_routes(store, path.service, gate)],
    )
    server = HttpServer(app, host="127.0.0.1", port=0, what="the admin API", flag="--api-port")
    server.start()
    try:
        yield Api(f"http://127.0.0.1:{server.port}")
    finally:
        server.stop()


def new_finding(store: Store, **fields: Any) -> Finding:
    """An open finding of a fresh agent, stored the way the detector stores it."""
    suffix = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "finding_id": f"f-{suffix}",
        "ts_ns": time.time_ns() - 60 * SECOND,
        "agent_id": f"agent-{suffix}",
        "rule": "fanout",
        "severity": "high",
        "score": 0.9,
        "summary": "sent to 200 recipients; never more than 3 before",
        "evidence": {"observed": 200, "baseline": 3},
        "trace_id": uuid.uuid4().hex,
        "span_id": uuid.uuid4().hex[:16],
        "session_id": f"sess-{suffix}",
        "tool_name": "send_email",
        **fields,
    }
    finding = Finding(**values)
    insert_finding(store, finding)
    return finding


def versions(store: Store, finding_id: str) -> list[tuple[Any, ...]]:
    """Every stored version of a finding, oldest first: (state, triaged_by, reason, rev)."""
    return store.query(
        "SELECT state, triaged_by, triage_reason, revocation_id, summary, evidence "
        "FROM agentaudit.findings WHERE finding_id = {id:String} ORDER BY updated_at",
        {"id": finding_id},
    ).rows


def refused_rows(store: Store) -> list[dict[str, Any]]:
    return store.query(
        "SELECT target, target_id, requested_by, results FROM agentaudit.revocations FINAL "
        "WHERE status = 'refused'"
    ).as_dicts()


# --- reading ---------------------------------------------------------------------------


def test_listing_shows_the_newest_version_per_finding(api: Api, store: Store) -> None:
    finding = new_finding(store)
    other = new_finding(store, agent_id=finding.agent_id, ts_ns=finding.ts_ns - SECOND)
    insert_finding(
        store,
        dataclasses.replace(finding, state="acknowledged"),
        updated_ns=finding.ts_ns + SECOND,
        triaged_by="rita",
        triage_reason="looking",
    )
    listed = api.client().findings(agent=finding.agent_id)
    assert [(f["finding_id"], f["state"]) for f in listed] == [
        (finding.finding_id, "acknowledged"),  # one entry per finding, its newest version
        (other.finding_id, "open"),  # newest finding first
    ]
    first = listed[0]
    assert first["evidence"] == {"observed": 200, "baseline": 3}  # parsed JSON
    assert (first["triaged_by"], first["triage_reason"]) == ("rita", "looking")
    assert first["ts"].endswith("Z")

    assert [
        f["finding_id"] for f in api.client().findings(agent=finding.agent_id, state="open")
    ] == [other.finding_id]
    both = api.client().findings(agent=finding.agent_id, state=["open", "acknowledged"], limit=1)
    assert [f["finding_id"] for f in both] == [finding.finding_id]


@pytest.mark.parametrize(
    ("query", "message"),
    [("state=closed", '"state" must be one of'), ("limit=0", '"limit"'), ("limit=x", '"limit"')],
)
def test_listing_refuses_bad_parameters(api: Api, query: str, message: str) -> None:
    reply = httpx.get(
        f"{api.url}/v1/findings?{query}", headers={"authorization": f"Bearer {ADMIN}"}
    )
    assert reply.status_code == 400
    assert message in reply.json()["error"]


# --- who may ---------------------------------------------------------------------------


def test_an_agent_token_is_refused_and_recorded(api: Api, store: Store) -> None:
    finding = new_finding(store)
    with pytest.raises(AdminApiRefused) as refused:
        api.client(AGENT).triage_finding(
            finding.finding_id, state="false_positive", reason="not me", requested_by="agent"
        )
    assert refused.value.status == 403
    assert refused.value.reason == "agent_token"
    reply = httpx.get(f"{api.url}/v1/findings", headers=AS_AGENT)
    assert reply.status_code == 403
    assert reply.json()["recorded"]

    assert versions(store, finding.finding_id)[-1][0] == "open"  # nothing changed
    rows = refused_rows(store)
    assert any(r["target"] == "finding" and r["target_id"] == finding.finding_id for r in rows)
    assert any("triage" in r["results"].get("actions", "") for r in rows), rows


def test_no_token_is_401_and_a_wrong_one_too(api: Api, store: Store) -> None:
    finding = new_finding(store)
    for token in (None, "not-the-token"):
        with pytest.raises(AdminApiRefused) as refused:
            api.client(token).triage_finding(
                finding.finding_id, state="acknowledged", requested_by="x"
            )
        assert refused.value.status == 401
        with pytest.raises(AdminApiRefused) as listing:
            api.client(token).findings()
        assert listing.value.status == 401
    assert len(versions(store, finding.finding_id)) == 1


# --- triage ----------------------------------------------------------------------------


def test_acknowledge_writes_a_new_version_row(api: Api, store: Store) -> None:
    finding = new_finding(store)
    answer = api.client().triage_finding(
        finding.finding_id, state="acknowledged", reason="on it", requested_by="rita"
    )
    assert answer["revocation"] is None
    assert answer["finding"]["state"] == "acknowledged"
    assert answer["finding"]["summary"] == finding.summary  # every column carried over
    rows = versions(store, finding.finding_id)
    assert [r[:4] for r in rows] == [("open", "", "", ""), ("acknowledged", "rita", "on it", "")]
    assert rows[0][4:] == rows[1][4:]  # summary and evidence copied exactly

    api.client().triage_finding(finding.finding_id, state="open", requested_by="rita")
    api.client().triage_finding(
        finding.finding_id, state="acknowledged", reason="again", requested_by="ann"
    )
    assert [r[0] for r in versions(store, finding.finding_id)] == [
        "open",
        "acknowledged",
        "open",
        "acknowledged",
    ]
    (newest,) = api.client().findings(agent=finding.agent_id)
    assert (newest["state"], newest["triaged_by"], newest["triage_reason"]) == (
        "acknowledged",
        "ann",
        "again",
    )


def test_requested_by_defaults_to_the_principal(api: Api, store: Store) -> None:
    finding = new_finding(store)
    answer = api.client().triage_finding(finding.finding_id, state="acknowledged", requested_by="")
    assert answer["finding"]["triaged_by"] == "responder"


def test_a_false_positive_needs_a_reason_and_becomes_an_exception(api: Api, store: Store) -> None:
    finding = new_finding(store)
    for reason in ("", "   "):
        with pytest.raises(AdminApiRefused) as refused:
            api.client().triage_finding(
                finding.finding_id, state="false_positive", reason=reason, requested_by="rita"
            )
        assert refused.value.status == 400
        assert refused.value.reason == "reason_required"
        assert "needs a reason" in str(refused.value)
    assert len(versions(store, finding.finding_id)) == 1

    api.client().triage_finding(
        finding.finding_id,
        state="false_positive",
        reason="the newsletter goes to every customer",
        requested_by="rita",
    )
    exceptions = set(store.query(EXCEPTIONS_SQL).rows)
    assert (finding.agent_id, finding.rule) in exceptions
    # Reopening lifts the exception.
    api.client().triage_finding(finding.finding_id, state="open", requested_by="rita")
    assert (finding.agent_id, finding.rule) not in set(store.query(EXCEPTIONS_SQL).rows)


def test_escalate_revokes_the_agent_and_records_the_revocation(
    api: Api, store: Store, path: RevocationPath
) -> None:
    finding = new_finding(store)
    answer = api.client().triage_finding(
        finding.finding_id, state="escalated", reason="exfiltration", requested_by="rita"
    )
    revocation = answer["revocation"]
    assert revocation["status"] == "done"
    assert revocation["quarantine"]["agent"] == finding.agent_id
    assert answer["finding"]["revocation_id"] == revocation["id"]
    assert path.quarantine.is_quarantined(finding.agent_id)

    record = path.service.get(revocation["id"])
    assert record is not None
    assert (record.target, record.target_id, record.requested_by) == (
        "agent",
        finding.agent_id,
        "rita",
    )
    assert finding.finding_id in record.reason
    assert record.reason.endswith(": exfiltration")
    assert versions(store, finding.finding_id)[-1][:4] == (
        "escalated",
        "rita",
        "exfiltration",
        revocation["id"],
    )

    # Once escalated, a second click does not revoke again.
    with pytest.raises(AdminApiRefused) as again:
        api.client().triage_finding(finding.finding_id, state="escalated", requested_by="ann")
    assert again.value.status == 409
    assert revocation["id"] in str(again.value)
    revocations = store.query(
        "SELECT count() FROM agentaudit.revocations FINAL WHERE target_id = {a:String}",
        {"a": finding.agent_id},
    ).rows
    assert revocations == [(1,)]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"state": "closed"}, 400, '"state" must be one of'),
        ({"state": "acknowledged", "reason": 5}, 400, '"reason"'),
        ({"state": "acknowledged", "reason": "x" * 1001}, 400, '"reason"'),
        ({"state": "acknowledged", "requested_by": ["x"]}, 400, '"requested_by"'),
    ],
)
def test_bad_bodies_are_refused(
    api: Api, store: Store, body: dict[str, Any], status: int, message: str
) -> None:
    finding = new_finding(store)
    reply = httpx.post(
        f"{api.url}/v1/findings/{finding.finding_id}/triage",
        json=body,
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"]
    assert len(versions(store, finding.finding_id)) == 1


def test_an_unknown_finding_is_404(api: Api) -> None:
    with pytest.raises(AdminApiRefused) as refused:
        api.client().triage_finding("no-such-finding", state="acknowledged", requested_by="r")
    assert refused.value.status == 404
