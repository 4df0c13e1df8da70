"""``record_source`` and ``record_prompt``: what entered the agent, and what the model saw.

``record_prompt(messages)`` hashes the model input (RFC 8785 canonical JSON, SHA-256 or
keyed HMAC), finds the registered sources inside it, emits a ``chat {model}`` span, and
makes the result the current prompt of the context: the tool calls that follow carry its
hash and source arrays. Message content itself is never recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from agentaudit.instrumentation import _context, _spans, _state
from agentaudit.instrumentation._canonical import canonical_json, digest, plain_strings
from agentaudit.instrumentation._settings import TRUST_LEVELS, settings
from agentaudit.instrumentation._sources import Source, needles_for, string_parts
from agentaudit.schema import attributes as A

__all__ = ["PromptRecord", "current_session", "model_call", "record_prompt", "record_source"]


@dataclass(frozen=True, slots=True)
class PromptRecord:
    """One model input: its hash, the sources found in it, and the span attributes."""

    hash: str
    model: str | None
    sources: tuple[Source, ...]
    attributes: dict[str, Any]
    """PROMPT_HASH and the SOURCE_* arrays; never mutated."""


def current_session() -> str:
    """The session id of the current context (or baggage), ``""`` when there is none."""
    frame = _context.current_frame()
    if frame is not None and frame.session:
        return frame.session
    session = _context.baggage_attributes().get(A.SESSION_ID)
    return session if isinstance(session, str) else ""


def make_source(content: Any, *, kind: str, ref: str, trust: str) -> Source:
    """A Source for ``content`` (hash over its canonical JSON, needles for matching)."""
    current = settings()
    encoded = canonical_json(content)
    needles = needles_for(content, encoded.decode("utf-8"), current.min_substring_match)
    return Source(
        ref=ref,
        kind=kind,
        trust=trust,
        hash=digest(encoded, current.hash_key),
        needles=needles,
        size=sum(map(len, needles)),
    )


def record_source(content: Any, *, kind: str, ref: str, trust: str = A.TRUST_UNTRUSTED) -> Source:
    """Register ``content`` that entered the agent (an email, a web page, a document).

    When a later model input contains it, the tool calls of that model response carry
    ``ref``, ``kind``, ``trust`` and the content's hash. Raises ValueError on a bad
    ``trust`` or an empty ``kind``/``ref``.
    """
    if trust not in TRUST_LEVELS:
        raise ValueError(f"agentaudit: trust {trust!r} is not one of {sorted(TRUST_LEVELS)}")
    if not isinstance(kind, str) or not kind or not isinstance(ref, str) or not ref:
        raise ValueError("agentaudit: record_source needs a non-empty kind= and ref=")
    source = make_source(content, kind=kind, ref=ref, trust=trust)
    return _state.registry().add(current_session(), source)


def _link(messages: Any, model: str | None) -> PromptRecord:
    current = settings()
    parts = plain_strings(messages)  # one walk: plain for the C encoder, and the parts
    if parts is None:
        encoded = canonical_json(messages, plain=False)
        parts = string_parts(messages)
    else:  # str.isascii is O(1): an ASCII-only prompt takes the encoder's ASCII mode
        encoded = canonical_json(messages, plain=True, ascii_hint=all(map(str.isascii, parts)))
    prompt_hash = digest(encoded, current.hash_key)
    sources = tuple(_state.registry().match(current_session(), parts))
    if sources:
        refs, kinds, trust, hashes = zip(
            *[(s.ref, s.kind, s.trust, s.hash) for s in sources], strict=True
        )
        attributes = _spans.prompt_attributes(prompt_hash, refs, kinds, trust, hashes)
    else:
        attributes = _spans.prompt_attributes(prompt_hash, (), (), (), ())
    record = PromptRecord(prompt_hash, model, sources, attributes)
    _context.set_current_prompt(record)
    return record


def _context_attributes() -> dict[str, Any]:
    frame = _context.current_frame()
    found = dict(frame.attributes) if frame is not None else {}
    if frame is None or not frame.complete:
        for key, value in _context.baggage_attributes().items():
            found.setdefault(key, value)
    return found


class _LastChat:
    """(frame, model, framework, attributes) of the last chat span built without baggage:
    frames are immutable, so consecutive model calls in one context reuse them. Replaced
    as one tuple, so threads need no lock."""

    entry: tuple[object, str | None, str, dict[str, Any]] | None = None


def _chat_attributes(model: str | None, framework: str, prompt: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a ``chat`` span for ``prompt`` in the current context."""
    frame = _context.current_frame()
    last = _LastChat.entry
    if last is not None and last[0] is frame and last[1] == model and last[2] == framework:
        attributes = last[3].copy()
    else:
        attributes = _spans.chat_attributes(
            model, framework=framework, context=_context_attributes(), prompt={}
        )
        if frame is not None and frame.complete:  # else baggage may change under it
            _LastChat.entry = (frame, model, framework, attributes.copy())
    attributes.update(prompt)
    return attributes


def record_prompt(
    messages: Any, *, model: str | None = None, framework: str = "function", span: bool = True
) -> PromptRecord | None:
    """Record the input of a model call; the next tool calls in this context link to it.

    Emits a ``chat {model}`` span unless ``span=False``. Returns None (and logs) if the
    instrumentation fails: it never raises into the agent.
    """
    try:
        record = _link(messages, model)
        if span and _state.enabled():
            attributes = _chat_attributes(model, framework, record.attributes)
            _state.tracer().start_span(
                _spans.chat_span_name(model), kind=SpanKind.CLIENT, attributes=attributes
            ).end()
        return record
    except Exception:
        _state.report_error("record_prompt failed")
        return None


@contextmanager
def model_call(
    messages: Any, *, model: str | None = None, framework: str = "function"
) -> Iterator[PromptRecord | None]:
    """Like :func:`record_prompt`, with the ``chat`` span lasting as long as the block.

    For integrations that wrap a model call; the model's exceptions pass through.
    """
    record = record_prompt(messages, model=model, framework=framework, span=False)
    span = None
    token = None
    if record is not None and _state.enabled():
        try:
            attributes = _chat_attributes(model, framework, record.attributes)
            span = _state.tracer().start_span(
                _spans.chat_span_name(model), kind=SpanKind.CLIENT, attributes=attributes
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        except Exception:
            _state.report_error("model_call span failed")
    try:
        yield record
    except BaseException as exc:
        if span is not None:
            span.set_attribute(A.ERROR_TYPE, _error_type(exc))
            span.set_status(trace.StatusCode.ERROR)
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
        if span is not None:
            span.end()


def _error_type(exc: BaseException) -> str:
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"
