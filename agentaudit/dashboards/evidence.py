"""A finding's evidence: its JSON, and the tool calls it names.

The detector stores ``evidence`` as JSON: observed vs baseline figures, the triggering
calls (objects with ``trace_id`` and ``span_id``, often ``session_id``) and their
untrusted sources. :func:`referenced_calls` finds every object naming a call wherever
it sits in that JSON (its encoding belongs to the detector), after the finding's own
call, so the Findings page can link each one to Session forensics. Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MAX_CALLS", "CallRef", "parse", "referenced_calls"]

MAX_CALLS: Final = 50
_MAX_DEPTH: Final = 8


@dataclass(frozen=True)
class CallRef:
    """A tool call a finding names: its trace and span, and its session when known."""

    trace_id: str
    span_id: str = ""
    session_id: str = ""


def parse(text: object) -> Any:
    """The evidence as JSON values, or the text itself when it is not JSON."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _walk(value: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _walk(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, depth + 1)


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def referenced_calls(finding: Mapping[str, Any], evidence: Any) -> list[CallRef]:
    """The finding's own call, then each call the evidence names (an object with a
    ``trace_id``), in order, without repeats; at most :data:`MAX_CALLS`."""
    found: list[CallRef] = []
    seen: set[tuple[str, str]] = set()
    for mapping in (finding, *_walk(evidence)):
        trace = _text(mapping, "trace_id")
        if not trace:
            continue
        ref = CallRef(trace, _text(mapping, "span_id"), _text(mapping, "session_id"))
        if (ref.trace_id, ref.span_id) in seen:
            continue
        seen.add((ref.trace_id, ref.span_id))
        found.append(ref)
        if len(found) >= MAX_CALLS:
            break
    return found
