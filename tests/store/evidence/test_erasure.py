"""Erasure of one user on a real store: no byte of their identifiers is left (a scan of
every string column and of every file of the store directory), other users' rows are
untouched, ``verify`` still passes and names the erasure, a legal hold refuses it, and a
change after the erasure is still caught."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.evidence import EvidenceService
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.evidence.erasure import ErasureRefused
from agentaudit.store.evidence.verify import verify_store
from tests.conftest import SpanFactory
from tests.store.evidence._seed import insert, mutate, seed, write_spans

SUBJECT = "subject-7f3a91"
EMAIL = "subject.person@example.org"


def _subject_span(make_span: SpanFactory) -> Any:
    span = make_span()
    attributes = {
        **span.attributes,
        A.ENDUSER_ID: SUBJECT,
        A.SESSION_ID: "sess-subject",
        A.GEN_AI_TOOL_CALL_ARGUMENTS: f'{{"to": "{EMAIL}", "body": "hi"}}',
        A.RESOURCE_IDS: [f"mailbox:{EMAIL}"],
    }
    return make_span(attributes=attributes)


def _seed_subject(store: Store, tmp_path: Path, make_span: SpanFactory) -> None:
    sealer = seed(store, tmp_path, make_span)  # other users' rows in every table
    calls = [_subject_span(make_span) for _ in range(3)]
    caller = calls[0]  # and the tool server's record of it (tool_call_server_sides)
    server = make_span(
        trace_id=caller.trace_id,
        parent_span_id=caller.span_id,
        kind="Server",
        attributes={**caller.attributes, A.CALL_SIDE: A.CALL_SIDE_SERVER},
    )
    write_spans(store, tmp_path / "wal2", [*calls, server])
    insert(
        store,
        "denylist",
        f"('user', '{SUBJECT}', now64(6), NULL, NULL, 'abuse', 'rev-9', now64(6))",
    )
    insert(
        store,
        "findings",
        f"(now64(3), 'f-9', now64(3), 'agent-1', '{SUBJECT}', 'sess-subject', 't9', 's9', "
        f"'send_email', 'new_tool', 'high', 0.9, 'mail to {EMAIL}', '{{}}', 'alert', '', 'g9', "
        "'open', '', '')",
    )
    sealer.seal(grace_seconds=0)


def _mentions(store: Store, term: str) -> dict[str, int]:
    """Rows of every agentaudit table whose text form holds ``term``."""
    found: dict[str, int] = {}
    for (table,) in store.query(
        "SELECT name FROM system.tables WHERE database = 'agentaudit' AND engine LIKE '%MergeTree'"
    ).rows:
        count = int(
            store.query(
                f"SELECT count() FROM agentaudit.`{table}` "  # noqa: S608 - names from system.tables
                "WHERE position(toJSONString(tuple(*)), {t:String}) > 0",
                {"t": term},
            ).rows[0][0]
        )
        if count:
            found[str(table)] = count
    return found


def _files_holding(directory: Path, term: str) -> list[str]:
    """Files under ``directory`` holding ``term``. ClickHouse removes old part
    directories in the background while the walk runs: one that vanishes is gone from
    the store, so it is skipped (every file that still exists is read)."""
    needle = term.encode()
    found = []
    for root, _dirs, names in os.walk(directory):  # onerror=None: a vanished dir is skipped
        for name in names:
            path = Path(root) / name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            if needle in data:
                found.append(str(path.relative_to(directory)))
    return found


def test_erasure_leaves_no_identifier_and_verify_passes(
    store: Store, store_dir: Path, tmp_path: Path, make_span: SpanFactory
) -> None:
    _seed_subject(store, tmp_path, make_span)
    assert _mentions(store, SUBJECT).keys() >= {
        "tool_calls", "tool_call_server_sides", "otel_traces", "denylist",
    }  # fmt: skip
    others_before = _mentions(store, "user-1")
    evidence = EvidenceService(store, state_dir=tmp_path / "state", offline=True)

    report = evidence.erase(
        SUBJECT, identifiers=[EMAIL], actor="dpo@corp", reason="ticket GDPR-12", wait_seconds=60
    )

    assert report.rows_changed >= 3 + 3 + 1 + 1  # tool calls, their spans, deny-list, finding
    assert {"tool_calls", "tool_call_server_sides", "otel_traces", "denylist", "findings"} <= set(
        report.tables
    )
    assert report.replacement.startswith("erased:")
    assert report.parts_left == 0
    for term in (SUBJECT, EMAIL):
        assert _mentions(store, term) == {}, term
        assert _files_holding(store_dir, term) == [], term
    # The person's rows still group together, under the replacement.
    assert _mentions(store, report.replacement).keys() >= {"tool_calls", "denylist"}
    assert _mentions(store, "user-1") == others_before  # nobody else was touched
    # The erasure record says who and why, never whose data.
    recorded = store.query("SELECT actor, reason, replacement FROM agentaudit.erasures").rows
    assert recorded == [("dpo@corp", "ticket GDPR-12", report.replacement)]

    result = verify_store(store)
    assert result.problems == []
    notes = "\n".join(result.notes)
    assert f"changed by erasure {report.erasure_id} (by dpo@corp)" in notes
    assert "tool_calls:" in notes

    # Tampering after the erasure is still caught.
    mutate(store, "ALTER TABLE agentaudit.tool_calls UPDATE tool_name = 'forged' WHERE 1")
    assert "modified" in {p.kind for p in verify_store(store).problems}


def test_a_legal_hold_refuses_the_erasure(
    store: Store, tmp_path: Path, make_span: SpanFactory
) -> None:
    _seed_subject(store, tmp_path, make_span)
    evidence = EvidenceService(store, state_dir=tmp_path / "state", offline=True)
    evidence.place_hold(kind="session", value="sess-subject", actor="legal", reason="m-1")
    with pytest.raises(ErasureRefused, match="legal hold"):
        evidence.erase(SUBJECT, actor="dpo", reason="ticket")
    assert _mentions(store, SUBJECT).keys() >= {"tool_calls", "otel_traces"}
    assert store.query("SELECT count() FROM agentaudit.erasures").rows[0][0] == 0


@pytest.mark.parametrize(
    ("subject", "identifiers", "reason", "message"),
    [
        ("", [], "ticket", "name the subject"),
        ("abc", [], "ticket", "shorter than"),
        (SUBJECT, ["x"], "ticket", "shorter than"),
        (SUBJECT, [], " ", "who asks for it and why"),
        (SUBJECT, [], f"erase {SUBJECT}", "must not name the subject"),
        (SUBJECT, [f"id-{n:04d}" for n in range(300)], "ticket", "at most"),
    ],
)
def test_bad_erasure_requests_are_refused_and_change_nothing(  # noqa: PLR0917 - pytest passes parameters positionally
    store: Store,
    tmp_path: Path,
    make_span: SpanFactory,
    subject: str,
    identifiers: list[str],
    reason: str,
    message: str,
) -> None:
    write_spans(store, tmp_path / "wal", [_subject_span(make_span)])
    evidence = EvidenceService(store, state_dir=tmp_path / "state", offline=True)
    with pytest.raises(ErasureRefused, match=message):
        evidence.erase(subject, identifiers=identifiers, actor="dpo", reason=reason)
    assert _mentions(store, SUBJECT) != {}
    assert store.query("SELECT count() FROM agentaudit.erasures").rows[0][0] == 0
