"""A compact, exact serialisation of :class:`SpanRecord` batches for the write-ahead log.

The WAL stores decoded, *redacted* spans (never raw payloads), so replaying it rebuilds
exactly the spans that were acknowledged. The first byte of a payload names its encoding:

* ``R`` the WAL's format: a :mod:`marshal` (version 4) document ``(rows, nested)``, one
  tuple per span holding its fields in :class:`SpanRecord` order (events and links as
  tuples of their fields), ``nested`` the indexes of the spans that have events or links.
  Decoding calls ``SpanRecord(*row)`` from C (:func:`itertools.starmap`): ~27% less CPU
  per span than ``M``'s keyword calls, in the store-owning process that follows each
  worker's WAL. marshal writes an object referenced twice once, so spans that share a
  resource map share it again when decoded. A row shorter than the fields (written
  before a field was added at the end of :class:`SpanRecord`) leaves the missing fields
  at their defaults; inserting or reordering fields needs a new tag.
* ``M`` the WAL's format before ``R``: the marshal document
  ``{"r": [resource attribute maps], "s": [spans]}``, each span a fixed-order list with
  the index of its resource map; records of 0.1 have no ``verified`` field.
* ``J``, ``B``, ``E`` JSON (``text=True``: the dead-letter file, one record per line,
  readable with any tool), in the document shape of ``M``. JSON has no bytes type, so a
  bytes value becomes ``{"\\u0000b": "<hex>"}``: ``J`` has no bytes anywhere (the common
  case), ``B`` has bytes tags and no map key beginning with NUL, ``E`` is escaped (map
  keys beginning with NUL were prefixed with one more NUL).

marshal is C in both directions and exact for every value the decoders produce (bytes,
NUL-prefixed keys, big ints, NaN) without tagging. Never pickle: loading marshal data
builds plain values and runs no code. It is not meant for hostile input, which is why
each WAL record is CRC-checked before it is decoded.

Invariant: ``decode(encode(spans)) == spans`` for every span the decoder can produce, in
either encoding; payloads written by earlier versions (``M``, JSON) still decode.
"""

from __future__ import annotations

import json
import marshal
from itertools import starmap
from typing import Any

from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord

__all__ = ["CodecError", "decode_spans", "encode_spans"]

_TAG = "\x00b"
_TAG_JSON = '"\\u0000b"'
_PLAIN, _BYTES, _ESCAPED, _MARSHAL, _ROWS = b"J", b"B", b"E", b"M", b"R"
MARSHAL_VERSION = 4


class CodecError(ValueError):
    """A WAL payload that does not decode to spans."""


def _row(span: SpanRecord) -> tuple[Any, ...]:
    """``span``'s fields in :class:`SpanRecord` order (``R``)."""
    return (
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
        span.resource_attributes,
        span.scope_name,
        span.scope_version,
        [(e.time_ns, e.name, e.attributes) for e in span.events] if span.events else [],
        [(k.trace_id, k.span_id, k.trace_state, k.attributes) for k in span.links]
        if span.links
        else [],
        span.redactions,
        span.verified,
    )


_RESOURCE, _EVENTS, _LINKS = 11, 14, 15
"""Positions in a row of the resource map, the events and the links."""


def _span_list(span: SpanRecord, resource_index: int) -> list[Any]:
    """``span`` in the document shape (``M``, JSON): its row with the resource map's index
    and lists for tuples (what :func:`_escape` walks)."""
    row = list(_row(span))
    row[_RESOURCE] = resource_index
    row[_EVENTS] = [list(event) for event in row[_EVENTS]]
    row[_LINKS] = [list(link) for link in row[_LINKS]]
    return row


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
        rows.append(_span_list(span, position))
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
    """Serialise ``spans``: marshal rows (``R``), or JSON text (no newline) with ``text=True``."""
    if not text:
        nested = [i for i, span in enumerate(spans) if span.events or span.links]
        rows = [_row(span) for span in spans]
        return _ROWS + marshal.dumps((rows, nested), MARSHAL_VERSION)
    document = _document(spans)
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


def _from_rows(document: Any) -> list[SpanRecord]:
    rows, nested = document
    spans = list(starmap(SpanRecord, rows))
    for index in nested:
        span = spans[index]
        span.events = list(starmap(SpanEvent, span.events))
        span.links = list(starmap(SpanLink, span.links))
    return spans


def _from_document(document: Any) -> list[SpanRecord]:
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


_JSON_HOOKS = {_PLAIN: None, _BYTES: _untag, _ESCAPED: _unescape}


def decode_spans(payload: bytes | memoryview) -> list[SpanRecord]:
    """The spans :func:`encode_spans` serialised; CodecError when ``payload`` is not one.

    ``payload`` may be a memoryview (of a WAL segment read whole): ``R`` and ``M`` are
    decoded from it without a copy.
    """
    mode, body = bytes(payload[:1]), payload[1:]
    try:
        if mode == _ROWS:
            return _from_rows(marshal.loads(body))  # noqa: S302 - our CRC-checked WAL records
        if mode == _MARSHAL:
            return _from_document(marshal.loads(body))  # noqa: S302 - as above
        if mode not in _JSON_HOOKS:
            raise CodecError(f"unknown WAL payload format {mode!r}")
        return _from_document(json.loads(bytes(body), object_hook=_JSON_HOOKS[mode]))
    except CodecError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        raise CodecError(f"corrupt WAL payload: {exc}") from None
