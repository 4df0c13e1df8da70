"""The provenance graph: the chain it draws, what it highlights, and escaping."""

from __future__ import annotations

import re

from agentaudit.dashboards.provenance import ProvenanceCall, as_list, dot_escape, provenance_dot

INJECTED = ProvenanceCall(
    span_id="s2",
    tool_name="send_email",
    prompt_hash="sha256:" + "ab" * 32,
    model="gpt-4o",
    source_refs=["user:alice#1", "email:msg-42"],
    source_kinds=["user", "email"],
    source_trust=["user", "untrusted"],
    resource_ids=["email:outbound/x@evil.example"],
)


def _nodes(dot: str) -> dict[str, str]:
    return dict(re.findall(r'^\s+(n\d+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M))


def test_chain_source_prompt_call_resource() -> None:
    dot = provenance_dot([INJECTED])
    nodes = {label.split("\\n")[0]: node for node, label in _nodes(dot).items()}
    email, prompt = nodes["email:msg-42"], nodes["model call: gpt-4o"]
    call, resource = nodes["tool call: send_email"], nodes["email:outbound/x@evil.example"]
    for tail, head in [(email, prompt), (prompt, call), (call, resource)]:
        assert f"{tail} -> {head};" in dot
    assert "NOT APPROVED" in dot
    email_line = next(line for line in dot.splitlines() if line.strip().startswith(f"{email} ["))
    assert "#f8d7da" in email_line  # untrusted source filled red
    user_line = next(line for line in dot.splitlines() if "user:alice#1" in line)
    assert "#f8d7da" not in user_line


def test_approved_call_is_not_alerted() -> None:
    approved = ProvenanceCall(
        span_id="s3",
        tool_name="create_event",
        source_refs=["email:m"],
        source_trust=["untrusted"],
        approval_status="human",
        approver="bob",
    )
    dot = provenance_dot([approved])
    assert "approval claimed, unverified: bob" in dot  # the runtime says so
    assert 'penwidth="3"' not in dot
    verified = ProvenanceCall(**{**approved.__dict__, "approval_verified": True})
    assert "approved (verified): bob" in provenance_dot([verified])  # a signed grant


def test_shared_sources_and_prompts_are_drawn_once() -> None:
    second = ProvenanceCall(**{**INJECTED.__dict__, "span_id": "s4", "tool_name": "delete_mail"})
    dot = provenance_dot([INJECTED, second])
    assert dot.count('label="email:msg-42') == 1
    assert dot.count("model call") == 1


def test_hostile_labels_cannot_break_out() -> None:
    evil = ProvenanceCall(
        span_id='x"]; n99 [label="owned',
        tool_name='t"; } digraph x {',
        source_refs=['a\\"b\nc'],
        source_trust=["untrusted"],
        resource_ids=['r"]'],
    )
    dot = provenance_dot([evil])
    for line in dot.splitlines()[4:-1]:
        # every node line is `nX [label="..."...];` with only escaped quotes inside
        unescaped = re.sub(r"\\.", "", line)
        assert unescaped.count('"') % 2 == 0, line
    assert "owned" not in "".join(re.findall(r"^\s+(n\d+)", dot, re.M))
    assert dot_escape('a"b\\c\n') == 'a\\"b\\\\c\u240a'  # the newline shown as a symbol
    assert len(dot_escape("x" * 500)) <= 60


def test_as_list_reads_arrays_and_json_attributes() -> None:
    assert as_list('["email:msg-42","tool:x"]') == ["email:msg-42", "tool:x"]
    assert as_list(["a"]) == ["a"]
    assert as_list("") == []
    assert as_list("plain") == ["plain"]
    assert as_list(None) == []


def test_labels_show_entities_and_graphviz_escapes_literally() -> None:
    # Graphviz decodes &...; entities and expands \N, \G in labels: both stay as typed.
    assert dot_escape("&lt;b&gt; \\N") == "&amp;lt;b&amp;gt; \\\\N"
    dot = provenance_dot(
        [ProvenanceCall(span_id="s", tool_name="[x](https://evil.example)", resource_ids=["r"])]
    )
    assert "URL" not in dot
    assert "href" not in dot
