"""Every stored call says who sent it; a span's own claims cannot change that.

Through the real pipeline, WAL and writer into chdb: the principal a receiver
authenticated is stamped on each span, survives the WAL, and fills the attribution
columns; a claimed agent id that is not the token's is flagged (or, configured, refused).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentaudit.collector.identity.principals import AGENT, OPEN, TOOL_SERVER, Principal
from agentaudit.collector.ingest.pipeline import Pipeline
from agentaudit.collector.model import VERIFIED_AGENT, VERIFIED_PRINCIPAL
from agentaudit.collector.wal.codec import decode_spans, encode_spans
from agentaudit.collector.wal.log import Wal
from agentaudit.collector.writer.writer import Writer
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from tests.conftest import SpanFactory

COLUMNS = "agent_id, authenticated_agent, authentication, agent_mismatch"


def _rows(store: Store) -> list[tuple[Any, ...]]:
    return sorted(store.query(f"SELECT {COLUMNS} FROM agentaudit.tool_calls").rows)  # noqa: S608


def _span(make_span: SpanFactory, agent: str) -> Any:
    span = make_span()
    span.attributes[A.GEN_AI_AGENT_ID] = agent
    return span


def test_the_sender_is_stamped_survives_the_wal_and_fills_the_columns(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    wal = Wal(tmp_path / "wal", fsync=False)
    writer = Writer(store, wal=wal)
    pipeline = Pipeline(writer, wal=wal)
    own = Principal(AGENT, "mail-assistant")
    forged = _span(make_span, "billing-agent")
    forged.verified = {VERIFIED_AGENT: "billing-agent"}  # what a decoder never produces
    pipeline.accept([_span(make_span, "Mail-Assistant")], principal=own)
    pipeline.accept([forged], principal=own)
    pipeline.accept([_span(make_span, "anyone")], principal=Principal(AGENT))
    pipeline.accept([_span(make_span, "anyone")], principal=Principal(OPEN))
    pipeline.accept([_span(make_span, "its-caller")], principal=Principal(TOOL_SERVER, "mcp"))
    writer.flush()
    wal.close()
    assert _rows(store) == [
        ("Mail-Assistant", "mail-assistant", "agent_token", 0),
        ("anyone", "", "none", 0),
        ("anyone", "", "shared_token", 0),
        ("billing-agent", "mail-assistant", "agent_token", 1),
        ("its-caller", "mcp", "tool_server_token", 0),  # a server's record names its caller
    ]


def test_the_stamps_survive_the_wal_record_format(make_span: SpanFactory) -> None:
    span = make_span()
    span.verified = {VERIFIED_PRINCIPAL: AGENT, VERIFIED_AGENT: "mail-assistant"}
    for text in (False, True):
        (decoded,) = decode_spans(encode_spans([span], text=text))
        assert decoded.verified == span.verified
    # A record written before the stamps existed (17 fields per span) decodes unstamped.
    old = json.loads(encode_spans([make_span()], text=True)[1:])
    old["s"][0] = old["s"][0][:17]
    (decoded,) = decode_spans(b"J" + json.dumps(old).encode())
    assert decoded.verified == {}


def test_mismatches_can_be_refused(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    writer = Writer(store)
    pipeline = Pipeline(writer, refuse_mismatch=True)
    own = Principal(AGENT, "mail-assistant")
    anonymous = make_span()
    anonymous.attributes.pop(A.GEN_AI_AGENT_ID)
    anonymous.attributes.pop(A.GEN_AI_AGENT_NAME, None)
    outcome = pipeline.accept(
        [_span(make_span, "MAIL-ASSISTANT"), _span(make_span, "billing-agent"), anonymous],
        principal=own,
    )
    assert (outcome.accepted, outcome.rejected) == (2, 1)
    assert "agent_mismatch" in outcome.message
    assert pipeline.metrics.rejected.value("agent_mismatch") == 1
    # the shared token proves no agent in particular: nothing to mismatch
    shared = pipeline.accept([_span(make_span, "billing-agent")], principal=Principal(AGENT))
    assert shared.rejected == 0
    # nor does a tool server's token: its records name the agents that called it
    server = Principal(TOOL_SERVER, "calendar-mcp")
    assert pipeline.accept([_span(make_span, "billing-agent")], principal=server).rejected == 0
