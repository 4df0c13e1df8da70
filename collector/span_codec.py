"""A compact, exact serialisation of :class:`SpanRecord` batches for the write-ahead log.

The WAL stores decoded, *redacted* spans (never raw payloads), so replaying it rebuilds
exactly the spans that were acknowledged. The format is JSON (C-accelerated in both
directions, no pickle): one object ``{"r": [resource attribute maps], "s": [spans]}``,
each span a fixed-order array; spans of one resource share one map.

Invariant: ``decode(encode(spans)) == spans`` for every span the decoder can produce,
including ``bytes`` attribute values and map keys beginning with NUL. JSON has no bytes
type, so a bytes value becomes ``{"\\u0000b": "<hex>"}``; the first byte of the
payload says how tags must be read back:

* ``J`` plain JSON (no bytes anywhere; the common case);
* ``B`` bytes tags present, no map key begins with NUL;
* ``E`` escaped: map keys beginning with NUL were prefixed with one more NUL.
"""

from __future__ import annotations

import json
from typing import Any

from agentaudit.collector.spans import SpanEvent, SpanLink, SpanRecord

__all__ = ["CodecError", "decode_spans", "encode_spans"]

_TAG = "\x00b"
_TAG_JSON = '"\\u0000b"'
_PLAIN, _BYTES, _ESCAPED = b"J", b"B", b"E"


class CodecError(ValueError):
    """A WAL payload that does not decode to spans."""


def _span_tuple(span: SpanRecord, resource_index: int) -> list[Any]:
    return [
        span.trace_id,
        span.span_id,
        span.name,
        span.start_ns,
        span.end_ns,
        span.parent_span_id,
        span.trace_state,
        span.kind,
        span.status_code,
        span.status_message,
        span.attributes,
        resource_index,
        span.scope_name,
        span.scope_version,
        [[e.time_ns, e.name, e.attributes] for e in span.events],
        [[ln.trace_id, ln.span_id, ln.trace_state, ln.attributes] for ln in span.links],
        span.redactions,
    ]


def _document(spans: list[SpanRecord]) -> dict[str, Any]:
    resources: list[Any] = []
    index: dict[int, int] = {}
    rows = []
    for span in spans:
        key = id(span.resource_attributes)
        position = index.get(key)
        if position is None:
            position = index[key] = len(resources)
            resources.append(span.resource_attributes)
        rows.append(_span_tuple(span, position))
    return {"r": resources, "s": rows}


def _escape(value: Any) -> Any:
    """Tag bytes and escape NUL-prefixed keys everywhere (the rare, slow path)."""
    if isinstance(value, bytes):
        return {_TAG: value.hex()}
    if isinstance(value, dict):
        return {("\x00" + k if k.startswith("\x00") else k): _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def encode_spans(spans: list[SpanRecord]) -> bytes:
    """Serialise ``spans`` (see the module docstring for the format)."""
    document = _document(spans)
    tagged = 0

    def tag_bytes(value: Any) -> Any:
        nonlocal tagged
        if isinstance(value, bytes):
            tagged += 1
            return {_TAG: value.hex()}
        raise TypeError(f"cannot store a {type(value).__name__} attribute value in the WAL")

    text = json.dumps(document, default=tag_bytes, separators=(",", ":"))
    if not tagged:
        return _PLAIN + text.encode()
    if text.count(_TAG_JSON) == tagged:  # no other string spells the tag
        return _BYTES + text.encode()
    return _ESCAPED + json.dumps(_escape(document), separators=(",", ":")).encode()


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _TAG in obj:
        return bytes.fromhex(obj[_TAG])
    return obj


def _unescape(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _TAG in obj:
        return bytes.fromhex(obj[_TAG])
    if any(k.startswith("\x00") for k in obj):
        return {(k[1:] if k.startswith("\x00") else k): v for k, v in obj.items()}
    return obj


def decode_spans(payload: bytes) -> list[SpanRecord]:
    """The spans :func:`encode_spans` serialised; CodecError when ``payload`` is not one."""
    mode, body = payload[:1], payload[1:]
    try:
        if mode == _PLAIN:
            document = json.loads(body)
        elif mode == _BYTES:
            document = json.loads(body, object_hook=_untag)
        elif mode == _ESCAPED:
            document = json.loads(body, object_hook=_unescape)
        else:
            raise CodecError(f"unknown WAL payload format {mode!r}")
        resources = document["r"]
        return [
            SpanRecord(
                trace_id=s[0],
                span_id=s[1],
                name=s[2],
                start_ns=s[3],
                end_ns=s[4],
                parent_span_id=s[5],
                trace_state=s[6],
                kind=s[7],
                status_code=s[8],
                status_message=s[9],
                attributes=s[10],
                resource_attributes=resources[s[11]],
                scope_name=s[12],
                scope_version=s[13],
                events=[SpanEvent(e[0], e[1], e[2]) for e in s[14]],
                links=[SpanLink(k[0], k[1], k[2], k[3]) for k in s[15]],
                redactions=s[16],
            )
            for s in document["s"]
        ]
    except CodecError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CodecError(f"corrupt WAL payload: {exc}") from None
