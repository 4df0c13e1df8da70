"""A compact, exact serialisation of :class:`SpanRecord` batches for the write-ahead log.

The WAL stores decoded, *redacted* spans (never raw payloads), so replaying it rebuilds
exactly the spans that were acknowledged. The document is one object
``{"r": [resource attribute maps], "s": [spans]}``, each span a fixed-order array;
spans of one resource share one map. The first byte of a payload names its encoding:

* ``M`` the document in :mod:`marshal` format (version 4): the WAL's format. C in both
  directions, several times faster than JSON, and exact for every value the decoders
  produce (bytes, NUL-prefixed keys, big ints, NaN) without tagging. Never pickle:
  loading marshal data builds plain values and runs no code. It is not meant for
  hostile input, which is why each WAL record is CRC-checked before it is decoded.
* ``J``, ``B``, ``E`` JSON (``text=True``: the dead-letter file, one record per line,
  readable with any tool). JSON has no bytes type, so a bytes value becomes
  ``{"\\u0000b": "<hex>"}``: ``J`` has no bytes anywhere (the common case), ``B`` has
  bytes tags and no map key beginning with NUL, ``E`` is escaped (map keys beginning
  with NUL were prefixed with one more NUL).

Invariant: ``decode(encode(spans)) == spans`` for every span the decoder can produce, in
either encoding; payloads written by earlier versions (JSON in the WAL) still decode.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord

__all__ = ["CodecError", "decode_spans", "encode_spans"]

_TAG = "\x00b"
_TAG_JSON = '"\\u0000b"'
_PLAIN, _BYTES, _ESCAPED, _MARSHAL = b"J", b"B", b"E", b"M"
MARSHAL_VERSION = 4


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
        span.verified,
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


def encode_spans(spans: list[SpanRecord], *, text: bool = False) -> bytes:
    """Serialise ``spans``: marshal, or JSON text (no newline) with ``text=True``."""
    document = _document(spans)
    if not text:
        return _MARSHAL + marshal.dumps(document, MARSHAL_VERSION)
    tagged = 0

    def tag_bytes(value: Any) -> Any:
        nonlocal tagged
        if isinstance(value, bytes):
            tagged += 1
            return {_TAG: value.hex()}
        raise TypeError(f"cannot store a {type(value).__name__} attribute value in the WAL")

    encoded = json.dumps(document, default=tag_bytes, separators=(",", ":"))
    if not tagged:
        return _PLAIN + encoded.encode()
    if encoded.count(_TAG_JSON) == tagged:  # no other string spells the tag
        return _BYTES + encoded.encode()
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
        elif mode == _MARSHAL:
            document = marshal.loads(body)  # noqa: S302 - our CRC-checked WAL records
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
                verified=s[17] if len(s) > 17 else {},  # absent in records of 0.1
            )
            for s in document["s"]
        ]
    except CodecError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        raise CodecError(f"corrupt WAL payload: {exc}") from None
