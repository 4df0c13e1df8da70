"""The provenance chain of tool calls as a Graphviz DOT graph.

source content -> model call (prompt hash) -> tool call -> resource. Untrusted sources
are filled red; a tool call prompted by untrusted content without approval gets a red
border and says so. Pure functions over plain rows: no Streamlit, no store.

Invariant: every label and id is escaped, so content from the audited agents (refs,
tool names, resource ids) cannot break out of the DOT string, add attributes (no
``URL``/``href``: the graph has no links) or turn into Graphviz escapes or entities; it
is shown as its text, control characters made visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agentaudit.dashboards._markdown import visible
from agentaudit.schema import attributes as A

__all__ = ["ProvenanceCall", "as_list", "dot_escape", "provenance_dot"]

MAX_LABEL: Final = 60
_UNTRUSTED_FILL: Final = "#f8d7da"
_ALERT: Final = "#c0392b"


def dot_escape(text: str) -> str:
    """``text`` as the literal content of a double-quoted DOT string.

    Shortened to MAX_LABEL characters; control characters shown as symbols (a newline
    as ``␊``), so a value stays one line; backslashes doubled (no ``\\n``/``\\N``
    escapes), quotes escaped, and ``&`` as ``&amp;`` (Graphviz decodes entities).
    """
    text = visible(text)
    text = text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")


def as_list(value: Any) -> list[str]:
    """An array column, or a JSON-encoded array from a span attribute map, as strings."""
    if value is None:
        return []
    if isinstance(value, str):
        if not value:
            return []
        try:
            decoded = json.loads(value)
        except ValueError:
            return [value]
        return [str(v) for v in decoded] if isinstance(decoded, list) else [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


@dataclass(frozen=True)
class ProvenanceCall:
    """The provenance-relevant fields of one tool call."""

    span_id: str
    tool_name: str
    prompt_hash: str = ""
    model: str = ""
    source_refs: Sequence[str] = ()
    source_kinds: Sequence[str] = ()
    source_trust: Sequence[str] = ()
    resource_ids: Sequence[str] = ()
    approval_status: str = A.APPROVAL_NONE
    approver: str = ""
    approval_verified: bool = False
    status: str = "ok"
    credential_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def untrusted(self) -> bool:
        return A.TRUST_UNTRUSTED in self.source_trust

    @property
    def unapproved(self) -> bool:
        return self.approval_status in ("", A.APPROVAL_NONE)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], model: str = "") -> ProvenanceCall:
        return cls(
            span_id=str(row.get("span_id", "")),
            tool_name=str(row.get("tool_name", "")),
            prompt_hash=str(row.get("prompt_hash", "") or ""),
            model=model,
            source_refs=as_list(row.get("source_refs")),
            source_kinds=as_list(row.get("source_kinds")),
            source_trust=as_list(row.get("source_trust")),
            resource_ids=as_list(row.get("resource_ids")),
            approval_status=str(row.get("approval_status", "") or A.APPROVAL_NONE),
            approver=str(row.get("approver", "") or ""),
            approval_verified=bool(row.get("approval") == "verified"),
            status=str(row.get("status", "ok")),
            credential_id=str(row.get("credential_id", "") or ""),
        )


class _Graph:
    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.lines: list[str] = []
        self.edges: set[tuple[str, str]] = set()

    def node(self, key: str, label: str, **style: str) -> str:
        if key in self.ids:
            return self.ids[key]
        node_id = f"n{len(self.ids)}"
        self.ids[key] = node_id
        attrs = [f'label="{label}"'] + [f'{k}="{v}"' for k, v in sorted(style.items())]
        self.lines.append(f"  {node_id} [{', '.join(attrs)}];")
        return node_id

    def edge(self, tail: str, head: str) -> None:
        if (tail, head) not in self.edges:
            self.edges.add((tail, head))
            self.lines.append(f"  {tail} -> {head};")


def _short(digest: str) -> str:
    scheme, _, hexpart = digest.partition(":")
    return f"{scheme}:{hexpart[:12]}" if hexpart else digest[:16]


def provenance_dot(calls: Iterable[ProvenanceCall]) -> str:
    """One left-to-right DOT graph of the provenance chains of ``calls``."""
    graph = _Graph()
    for call in calls:
        alert = call.untrusted and call.unapproved
        if call.approval_verified:
            approval = f"approved (verified): {call.approver}"
        elif not call.unapproved:
            approval = f"approval claimed, unverified: {call.approver or call.approval_status}"
        else:
            approval = "NOT APPROVED" if alert else "no approval"
        call_style = {"shape": "box", "style": "rounded,bold"}
        if alert:
            call_style.update(color=_ALERT, penwidth="3", fontcolor=_ALERT)
        call_label = "\\n".join(
            [
                f"tool call: {dot_escape(call.tool_name)}",
                dot_escape(approval),
                dot_escape(f"status: {call.status}"),
            ]
        )
        call_node = graph.node(f"call:{call.span_id}", call_label, **call_style)
        target = call_node
        if call.prompt_hash:
            prompt_label = "\\n".join(
                [
                    f"model call{': ' + dot_escape(call.model) if call.model else ''}",
                    dot_escape(f"prompt {_short(call.prompt_hash)}"),
                ]
            )
            target = graph.node(
                f"prompt:{call.prompt_hash}",
                prompt_label,
                shape="ellipse",
                style="filled",
                fillcolor="#e8f0fe",
            )
            graph.edge(target, call_node)
        for index, ref in enumerate(call.source_refs):
            kind = call.source_kinds[index] if index < len(call.source_kinds) else ""
            trust = call.source_trust[index] if index < len(call.source_trust) else ""
            style = {"shape": "note", "style": "filled", "fillcolor": "#f5f5f5"}
            if trust == A.TRUST_UNTRUSTED:
                style.update(fillcolor=_UNTRUSTED_FILL, color=_ALERT, penwidth="2")
            label = "\\n".join(
                [dot_escape(ref), dot_escape(f"{kind or 'source'} · {trust or '?'}")]
            )
            graph.edge(graph.node(f"src:{ref}", label, **style), target)
        for resource in call.resource_ids:
            node = graph.node(f"res:{resource}", dot_escape(resource), shape="cylinder")
            graph.edge(call_node, node)
    header = [
        "digraph provenance {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    return "\n".join([*header, *graph.lines, "}"])
