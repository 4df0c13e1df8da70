"""Normalise decoded spans into the rows of ``otel_traces`` and ``tool_calls``.

Every span becomes one ``otel_traces`` row. A span is a tool call when its
``gen_ai.operation.name`` is ``execute_tool`` (or, for producers that omit it, its name
starts with ``execute_tool ``); it then also becomes one ``tool_calls`` row with the
typed provenance columns of DESIGN §4. Attribute names come from
:mod:`agentaudit.schema.attributes`. Pure functions: no I/O.

``call_side`` says which side of a call the row records (``client`` / ``server`` /
``local``): both sides of an MCP call become rows, linked by trace, parent span and
``tool_call_id``; the writer stores a server row its caller linked in
``tool_call_server_sides`` and every other row in ``tool_calls``, and readers fold the
server's record into the client's row at read time (:mod:`agentaudit.schema.calls`; the
two often arrive in different batches, so :func:`duplicates` cannot pair them here).

Peers' tool spans land too (names in :mod:`agentaudit.schema.peers`): OpenInference
(``openinference.span.kind=TOOL``), OpenLLMetry/Traceloop (``traceloop.span.kind=tool``),
Pydantic AI's native spans (``running tool`` / ``execute_tool``; deferred calls that did
not run are not tool calls), the MCP SDK's native ``tools/call`` SERVER spans and plain
OTel GenAI ``execute_tool`` spans. Each column reads our attribute first, then the peers'
equivalents (a short chain of dict lookups: our own spans pay one lookup per column).
Peer rows carry what the peer recorded; the hashes and source arrays, which only
agentaudit computes, stay empty (``arguments_hash = ''`` tells a peer row from ours).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentaudit.collector.identity.principals import AGENT, OPEN, TOOL_SERVER
from agentaudit.collector.model import (
    VERIFIED_AGENT,
    VERIFIED_APPROVAL_GRANT,
    VERIFIED_APPROVER,
    VERIFIED_PRINCIPAL,
    AttributeValue,
    SpanRecord,
)
from agentaudit.schema import attributes as A
from agentaudit.schema import peers as P
from agentaudit.schema.calls import (
    AUTH_AGENT_TOKEN,
    AUTH_NONE,
    AUTH_SHARED_TOKEN,
    AUTH_TOOL_SERVER_TOKEN,
)
from agentaudit.schema.identifiers import same_principal

__all__ = [
    "TOOL_CALL_COLUMNS",
    "BlockedCheck",
    "duplicates",
    "encode_json",
    "is_tool_call",
    "string_map",
    "stringify",
    "tool_call_row",
    "tool_call_values",
]

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_BLOCKED = "blocked"


def _json_leaf(value: Any) -> str:
    """Bytes nested in arrays/maps read as hex, like top-level bytes (not ``b'..'``)."""
    return value.hex() if isinstance(value, bytes) else str(value)


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_leaf)``.

    Built once: ``json.dumps`` with arguments builds a JSONEncoder per call, and
    ``JSONEncoder.encode`` builds a C encoder per call; this keeps one C encoder (3x
    faster on the short lists spans carry). Decoded values hold no reference cycles, so
    it skips the cycle check (a cycle would still end in RecursionError, not a hang).
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_leaf)
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is None:  # an interpreter without the C accelerator
        return encoder.encode
    encode_chunks = make_c_encoder(
        None, _json_leaf, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda value: "".join(encode_chunks(value, 0))


encode_json = _json_encoder()
_encode_string = json.encoder.encode_basestring
"""How :data:`encode_json` writes a string (quoted, escaped, non-ASCII kept)."""


def stringify(value: AttributeValue) -> str:
    """The string form of an attribute value for a ``Map(String, String)`` column."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is list:
        if len(value) == 1 and type(value[0]) is str:  # the usual list attribute
            return f"[{_encode_string(value[0])}]"  # what encode_json gives, 2x faster
        return encode_json(value)
    if kind is dict:
        return encode_json(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float):
        return str(value)
    return encode_json(value)


def string_map(attributes: Mapping[str, AttributeValue]) -> dict[str, str]:
    """Every attribute value as text (see :func:`stringify`)."""
    return {
        key: value if type(value) is str else stringify(value) for key, value in attributes.items()
    }


def _text(attributes: Mapping[str, AttributeValue], key: str) -> str:
    value = attributes.get(key)
    if value is None:
        return ""
    return value if type(value) is str else stringify(value)


def _strings(attributes: Mapping[str, AttributeValue], key: str) -> list[str]:
    value = attributes.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [v if type(v) is str else stringify(v) for v in value]
    return [stringify(value)]


MAX_UNIX_SECONDS = 2**32 - 1
"""The last second a ``DateTime`` column holds (2106-02-07)."""


def _int(attributes: Mapping[str, AttributeValue], key: str) -> int:
    """Unix seconds for a ``DateTime`` column; 0 (unknown) for anything it cannot hold.

    A value out of range (milliseconds sent as seconds, inf, ...) must not fail the
    Arrow conversion of the whole batch; the raw value stays in ``attributes``.
    """
    value = attributes.get(key)
    if isinstance(value, bool):
        return 0
    if isinstance(value, float | str):
        try:
            value = int(float(value))
        except (ValueError, OverflowError):
            return 0
    if isinstance(value, int) and 0 <= value <= MAX_UNIX_SECONDS:
        return value
    return 0


def _not_a_call(attrs: dict[str, AttributeValue]) -> bool:
    """An execute_tool span that is not a tool call: deferred for approval, it did not run.

    (``agentaudit.audited_by`` is not trusted here: a span could claim it to hide a call.
    :func:`duplicates` checks each such claim against the batch.)
    """
    return P.PAI_DEFERRAL in attrs


def is_tool_call(span: SpanRecord) -> bool:
    attrs = span.attributes
    operation = attrs.get(A.GEN_AI_OPERATION_NAME)
    if operation is not None:
        return operation == A.OPERATION_EXECUTE_TOOL and not _not_a_call(attrs)
    kind = attrs.get(P.OI_SPAN_KIND)
    if kind is not None:
        return kind == P.OI_SPAN_KIND_TOOL and (
            P.OI_TOOL_NAME in attrs or not span.name.startswith(P.OI_HANDOFF_PREFIX)
        )
    if attrs.get(P.TL_SPAN_KIND) == P.TL_SPAN_KIND_TOOL:
        return True
    name = span.name
    if name == P.PAI_TOOL_SPAN_NAME:
        return A.GEN_AI_TOOL_NAME in attrs and not _not_a_call(attrs)
    return name.startswith(A.TOOL_SPAN_PREFIX)


def duplicates(spans: Sequence[SpanRecord], calls: Sequence[int]) -> set[int]:
    """Positions (among ``calls``, positions of tool-call spans) that record a call
    another span of the batch already records, so they get no ``tool_calls`` row.

    A framework's own span for a call our instrumentation records carries
    ``agentaudit.audited_by`` = the span id of ours. The claim is honoured only when that
    span is a tool call of the same trace and tool in the same batch, and each of ours
    absorbs one claim at most: a span cannot hide itself by pointing at another call, or
    at a span that is not there. (Both are exported together by one SDK processor; a
    claim whose referent landed in another batch keeps its row.)
    """
    by_id: dict[tuple[str, str], int] = {}
    claims: list[tuple[int, str]] = []
    for position in calls:
        span = spans[position]
        target = span.attributes.get(A.AUDITED_BY)
        if isinstance(target, str) and target:
            claims.append((position, target))
        else:
            by_id[(span.trace_id, span.span_id)] = position
    absorbed: set[int] = set()
    used: set[int] = set()
    for position, target in claims:
        span = spans[position]
        referent = by_id.get((span.trace_id, target))
        if (
            referent is not None
            and referent not in used
            and _tool_name(spans[referent]) == _tool_name(span)
        ):
            used.add(referent)
            absorbed.add(position)
    return absorbed


def _first(attributes: Mapping[str, AttributeValue], keys: tuple[str, ...]) -> str:
    """The first non-empty of ``keys`` as text (a chain of dict lookups)."""
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value if type(value) is str else stringify(value)
    return ""


_TOOL_NAME_KEYS = (A.GEN_AI_TOOL_NAME, P.OI_TOOL_NAME, P.TL_ENTITY_NAME)
_TOOL_CALL_ID_KEYS = (A.GEN_AI_TOOL_CALL_ID, P.OI_TOOL_CALL_ID, P.OI_TOOL_ID)
_AGENT_NAME_KEYS = (A.GEN_AI_AGENT_NAME, P.OI_AGENT_NAME)
_USER_KEYS = (A.ENDUSER_ID, P.OI_USER_ID, P.TL_USER_ID)
_SESSION_KEYS = (A.SESSION_ID, P.TL_SESSION_ID)
_CONVERSATION_KEYS = (
    A.GEN_AI_CONVERSATION_ID,
    P.MCP_SESSION_ID,
    P.TL_CONVERSATION_ID,
    P.TL_THREAD_ID,
    P.TL_CHAT_ID,
    P.PAI_RUN_ID,
)


def _tool_name(span: SpanRecord) -> str:
    name = _first(span.attributes, _TOOL_NAME_KEYS)
    if name:
        return name
    return span.name.removeprefix(A.TOOL_SPAN_PREFIX)


def _traceloop_input(attrs: Mapping[str, AttributeValue]) -> tuple[str, str]:
    """(arguments JSON, tool-call id) from Traceloop's input envelope, ``""`` if absent.

    LangChain tools: ``{"inputs": {...}, "input_str": ..., "kwargs": {"tool_call_id"}}``;
    decorated functions: ``{"args": [...], "kwargs": {...}}``. Anything else is kept as is.
    """
    raw = attrs.get(P.TL_ENTITY_INPUT) or attrs.get(A.GEN_AI_TOOL_CALL_ARGUMENTS)
    if not isinstance(raw, str) or not raw.startswith("{"):
        return ("" if raw is None else stringify(raw)), ""
    try:
        envelope = json.loads(raw)
    except ValueError:
        return raw, ""
    if not isinstance(envelope, dict):
        return raw, ""
    kwargs = envelope.get("kwargs")
    call_id = ""
    if isinstance(kwargs, dict) and isinstance(kwargs.get("tool_call_id"), str):
        call_id = kwargs["tool_call_id"]
    inputs = envelope.get("inputs")
    if isinstance(inputs, dict) and inputs:
        return _compact(inputs), call_id
    if "input_str" in envelope:
        return _compact(envelope["input_str"]), call_id
    if "args" in envelope and isinstance(kwargs, dict):
        args = envelope["args"]
        return _compact(kwargs if not args else {"args": args, "kwargs": kwargs}), call_id
    return raw, call_id


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _arguments(attrs: Mapping[str, AttributeValue]) -> tuple[str, str]:
    """(arguments JSON, tool-call id found alongside them) of a tool span."""
    if P.TL_SPAN_KIND in attrs:
        return _traceloop_input(attrs)
    value = attrs.get(A.GEN_AI_TOOL_CALL_ARGUMENTS)
    if value is None:
        value = attrs.get(P.PAI_TOOL_ARGUMENTS)
    if value is not None:
        return stringify(value), ""
    value = attrs.get(P.OI_INPUT_VALUE)
    if value is None:
        return "", ""
    if not isinstance(value, str):
        return stringify(value), ""
    parsed = _json_object(value)
    if parsed is not None:
        return _compact(_unwrap_call(parsed)), ""
    if attrs.get(P.OI_INPUT_MIME_TYPE) != P.OI_MIME_JSON:
        return _compact(value), ""  # plain text input: a JSON string, so the column stays JSON
    return value, ""


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed when it is a JSON object, else None (only ``{...}`` is parsed)."""
    if not text.startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _unwrap_call(value: dict[str, Any]) -> Any:
    """The arguments inside a bound-call envelope (``{"args", "kwargs"}``), else ``value``."""
    kwargs = value.get("kwargs")
    if not isinstance(kwargs, dict) or not value.keys() <= P.OI_CALL_ENVELOPE:
        return value
    args = value.get("args")
    return {"args": args, **kwargs} if args else kwargs


_SIDES = frozenset((A.CALL_SIDE_CLIENT, A.CALL_SIDE_SERVER, A.CALL_SIDE_LOCAL))
_SIDE_OF_KIND = {"Server": A.CALL_SIDE_SERVER, "Client": A.CALL_SIDE_CLIENT}


def _call_side(span: SpanRecord) -> str:
    """``client`` / ``server`` / ``local``: the span's ``agentaudit.call.side``, else its
    kind's. A claim, like every attribute: it folds a server row into a client row only
    where :mod:`agentaudit.schema.calls` finds the client row recording the same action."""
    side = span.attributes.get(A.CALL_SIDE)
    if isinstance(side, str) and side in _SIDES:
        return side
    return _SIDE_OF_KIND.get(span.kind, A.CALL_SIDE_LOCAL)


def _error_type(span: SpanRecord) -> str:
    found = _text(span.attributes, A.ERROR_TYPE)
    if found or span.status_code != "Error":
        return found
    for event in span.events:  # peers record the exception as an event only
        if event.name == P.EXCEPTION_EVENT:
            return _text(event.attributes, P.EXCEPTION_TYPE)
    return ""


BlockedCheck = Callable[[str, str, str, int], bool]
"""``was_blocked(agent_id, user_id, session_id, ts_ns)``: the collector's own knowledge
(quarantine, deny-list) that a call by them at that time would have been refused."""


def _status(
    span: SpanRecord, agent: str, user: str, session: str, check: BlockedCheck | None
) -> str:
    """``blocked`` only when the collector corroborates the span's claim (a span cannot
    relabel a call it made as one that was stopped); else ``error`` or ``ok``."""
    if (
        span.attributes.get(A.DECISION) == A.DECISION_BLOCKED
        and check is not None
        and check(agent, user, session, span.start_ns)
    ):
        return STATUS_BLOCKED
    if span.status_code == "Error" or span.attributes.get(A.ERROR_TYPE):
        return STATUS_ERROR
    return STATUS_OK


def _attribution(span: SpanRecord, claimed_agent: str) -> tuple[str, str, int]:
    """``(authenticated_agent, authentication, agent_mismatch)`` from the pipeline's stamp."""
    role = span.verified.get(VERIFIED_PRINCIPAL, "")
    agent = span.verified.get(VERIFIED_AGENT, "")
    if role == AGENT:
        if not agent:
            return "", AUTH_SHARED_TOKEN, 0
        return agent, AUTH_AGENT_TOKEN, 0 if same_principal(agent, claimed_agent) else 1
    if role == TOOL_SERVER:  # its records name their callers: no mismatch to flag
        return agent, AUTH_TOOL_SERVER_TOKEN, 0
    return "", AUTH_NONE if role == OPEN else "", 0


TOOL_CALL_COLUMNS = (
    "ts",
    "duration_ns",
    "trace_id",
    "span_id",
    "parent_span_id",
    "service_name",
    "agent_id",
    "agent_name",
    "user_id",
    "session_id",
    "conversation_id",
    "tool_name",
    "tool_call_id",
    "tool_type",
    "framework",
    "arguments",
    "arguments_hash",
    "result_hash",
    "prompt_hash",
    "source_refs",
    "source_kinds",
    "source_trust",
    "source_hashes",
    "untrusted_source",
    "resource_ids",
    "approval_status",
    "approver",
    "credential_id",
    "credential_scopes",
    "credential_expires_at",
    "decision",
    "status",
    "error_type",
    "redactions",
    "received_at",
    "authenticated_agent",
    "authentication",
    "agent_mismatch",
    "approval_verified",
    "approval_grant_id",
    "call_side",
)
"""The ``tool_calls`` columns :func:`tool_call_values` gives, in its order: all but
``attributes`` and ``resource_attributes`` (the span's string maps, which ``otel_traces``
holds too) and ``batch_id`` (the batch's)."""


def tool_call_values(
    span: SpanRecord,
    *,
    received_ns: int,
    was_blocked: BlockedCheck | None = None,
    first_use: Callable[[str], bool] | None = None,
) -> tuple[Any, ...]:
    """The :data:`TOOL_CALL_COLUMNS` of a tool-call span's ``tool_calls`` row, in order
    (see :func:`is_tool_call`; a tuple, the writer's cheapest row to build and convert).

    ``was_blocked``: corroborates a span's ``blocked`` decision (see :func:`_status`).
    ``first_use``: whether a verified approval grant is presented for the first time (a
    grant verifies one call; a replay is stored as a claim).
    """
    attrs = span.attributes
    agent_name = _first(attrs, _AGENT_NAME_KEYS)
    agent_id = _text(attrs, A.GEN_AI_AGENT_ID) or agent_name
    user_id = _first(attrs, _USER_KEYS)
    session_id = _first(attrs, _SESSION_KEYS)
    trust = _strings(attrs, A.SOURCE_TRUST)
    arguments, envelope_call_id = _arguments(attrs)
    authenticated, authentication, mismatch = _attribution(span, agent_id)
    verified_approval = span.verified.get(VERIFIED_APPROVAL_GRANT, "")
    if verified_approval and first_use is not None and not first_use(verified_approval):
        verified_approval = ""
    return (
        span.start_ns,  # ts
        span.duration_ns,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        _text(span.resource_attributes, A.SERVICE_NAME),  # service_name
        agent_id,
        agent_name or agent_id,  # agent_name
        user_id,
        session_id,
        _first(attrs, _CONVERSATION_KEYS),  # conversation_id
        _tool_name(span),
        _first(attrs, _TOOL_CALL_ID_KEYS) or envelope_call_id,  # tool_call_id
        _text(attrs, A.GEN_AI_TOOL_TYPE),  # tool_type
        _text(attrs, A.FRAMEWORK) or P.SCOPE_FRAMEWORKS.get(span.scope_name, ""),  # framework
        arguments,
        _text(attrs, A.ARGUMENTS_HASH),  # arguments_hash
        _text(attrs, A.RESULT_HASH),  # result_hash
        _text(attrs, A.PROMPT_HASH),  # prompt_hash
        _strings(attrs, A.SOURCE_REFS),  # source_refs
        _strings(attrs, A.SOURCE_KINDS),  # source_kinds
        trust,  # source_trust
        _strings(attrs, A.SOURCE_HASHES),  # source_hashes
        1 if A.TRUST_UNTRUSTED in trust else 0,  # untrusted_source
        _strings(attrs, A.RESOURCE_IDS),  # resource_ids
        (  # approval_status
            A.APPROVAL_HUMAN
            if verified_approval
            else _text(attrs, A.APPROVAL_STATUS) or A.APPROVAL_NONE
        ),
        (  # approver
            span.verified.get(VERIFIED_APPROVER, "")
            if verified_approval
            else _text(attrs, A.APPROVAL_APPROVER)
        ),
        _text(attrs, A.CREDENTIAL_ID),  # credential_id
        _strings(attrs, A.CREDENTIAL_SCOPES),  # credential_scopes
        _int(attrs, A.CREDENTIAL_EXPIRES_AT),  # credential_expires_at
        _text(attrs, A.DECISION) or A.DECISION_ALLOWED,  # decision
        _status(span, agent_id, user_id, session_id, was_blocked),  # status
        _error_type(span),
        dict(span.redactions),  # redactions
        received_ns,  # received_at
        authenticated,  # authenticated_agent
        authentication,
        mismatch,  # agent_mismatch
        1 if verified_approval else 0,  # approval_verified
        verified_approval,  # approval_grant_id
        _call_side(span),
    )


def tool_call_row(
    span: SpanRecord,
    *,
    received_ns: int,
    was_blocked: BlockedCheck | None = None,
    first_use: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """The ``tool_calls`` row of a tool-call span as a dict (``batch_id`` empty): the
    values of :func:`tool_call_values` and the span's string maps."""
    values = tool_call_values(
        span, received_ns=received_ns, was_blocked=was_blocked, first_use=first_use
    )
    row = dict(zip(TOOL_CALL_COLUMNS, values, strict=True))
    row["attributes"] = string_map(span.attributes)
    row["resource_attributes"] = string_map(span.resource_attributes)
    row["batch_id"] = ""
    return row
