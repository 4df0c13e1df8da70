"""The shared runtime every integration calls: one tool call = one contract span.

Integrations describe a tool once (:class:`ToolSpec`, precomputed attributes) and wrap
each call in :func:`tool_call` (or the lower-level :meth:`ToolSpec.begin`). The runtime:

1. merges the precomputed attributes of the tool, the provenance context (falling back
   to W3C baggage for user/session/agent), and the current prompt (hash + sources);
2. captures the arguments (policy in :mod:`._capture`) and resolves resource ids;
3. runs the ``before_tool_call`` hooks in two phases: checks first (the quarantine
   guard, policy hooks: :data:`PHASE_CHECK`), then the hooks that acquire something
   for the call (a just-in-time credential: :data:`PHASE_CREDENTIAL`), so nothing is
   minted for a call a check refuses. Between the two, a call whose access was revoked
   earlier (the broker refused to mint, or the tool's server refused its credential as
   revoked; see :mod:`._refusals`) is refused again locally, without a new credential.
   A hook raising :class:`ToolCallBlocked` (e.g. :class:`AgentQuarantined`) ends the
   span with ``agentaudit.decision=blocked`` and the exception reaches the agent;
4. starts the span as the current span, so the tool's own spans nest under it;
5. on success records the result's hash and size (content when opted in) and registers
   the result as a ``tool_result`` source with ref ``tool:<name>#<call id>``;
   on failure records ``error.type``; the tool's exception passes through unchanged.
   A failure caused by a revoked credential (:func:`._refusals.revocation_in`) is
   recorded as ``blocked`` with the refusal's error type, and remembered.

Fail-open: any error of the instrumentation itself is logged and the tool runs unaudited.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from agentaudit.instrumentation import _context, _refusals, _spans, _state
from agentaudit.instrumentation._capture import capture, capture_arguments
from agentaudit.instrumentation._errors import AccessRevoked, ToolCallBlocked
from agentaudit.instrumentation._prompt import PromptRecord, _error_type
from agentaudit.instrumentation._settings import Settings, ToolSettings, settings
from agentaudit.instrumentation._sources import Source, needles_for
from agentaudit.schema import attributes as A

__all__ = [
    "PHASE_CHECK",
    "PHASE_CREDENTIAL",
    "BeforeToolCall",
    "ResourceSpec",
    "ToolCall",
    "ToolCallInfo",
    "ToolSpec",
    "add_before_tool_call",
    "before_tool_call_hooks",
    "tool_call",
]

ResourceSpec = str | Callable[[Mapping[str, Any]], "str | Iterable[str] | None"] | None
"""An argument name, a ``str.format`` template over the arguments (``"calendar:{id}"``),
or a callable from the arguments to resource id(s)."""

_UNSET_RESULT = object()


@dataclass(frozen=True, slots=True)
class ToolCallInfo:
    """What a ``before_tool_call`` hook sees of a call about to run."""

    tool: str
    framework: str
    call_id: str | None
    arguments: Mapping[str, Any]
    attributes: Mapping[str, Any]
    """The span attributes so far (context, prompt linkage, arguments hash, resources);
    a read-only view, valid during the hook call."""
    scopes: tuple[str, ...] = ()
    """The scopes the tool declared (``audited_tool(scopes=...)`` or ``scopes`` in its
    ``[instrumentation.tools.<name>]`` settings)."""

    @property
    def agent_id(self) -> str:
        return str(self.attributes.get(A.GEN_AI_AGENT_ID, ""))

    @property
    def session_id(self) -> str:
        return str(self.attributes.get(A.SESSION_ID, ""))

    @property
    def user_id(self) -> str:
        return str(self.attributes.get(A.ENDUSER_ID, ""))

    @property
    def resource_ids(self) -> tuple[str, ...]:
        return tuple(self.attributes.get(A.RESOURCE_IDS, ()))


BeforeToolCall = Callable[[ToolCallInfo], "Mapping[str, Any] | None"]
"""A hook run before every tool call. It may return extra span attributes (e.g. the id of
a just-minted credential), raise :class:`ToolCallBlocked` to block the call; any other
exception is logged and ignored."""

PHASE_CHECK: Final = 0
"""Hooks that decide whether the call may run (the quarantine guard, policies)."""
PHASE_CREDENTIAL: Final = 100
"""Hooks that acquire something for the call (a just-in-time credential): they run after
every check, and after the refusal memory, so a refused call never gets a credential.
An :class:`AccessRevoked` raised by such a hook is remembered (see :mod:`._refusals`)."""


class _Hooks:
    """The registered hooks with their phases, in running order (stable by phase);
    replaced as a whole tuple so readers need no lock."""

    current: tuple[tuple[int, BeforeToolCall], ...] = ()
    lock = threading.Lock()


def add_before_tool_call(hook: BeforeToolCall, *, phase: int | None = None) -> Callable[[], None]:
    """Register ``hook``; returns a function that removes it again.

    ``phase``: :data:`PHASE_CHECK` (the default) or :data:`PHASE_CREDENTIAL`; when not
    given, the hook's ``agentaudit_phase`` attribute, if it has one. Hooks run by phase,
    then in registration order.
    """
    if phase is None:
        phase = getattr(hook, "agentaudit_phase", PHASE_CHECK)
        phase = phase if isinstance(phase, int) else PHASE_CHECK
    with _Hooks.lock:
        _Hooks.current = tuple(sorted((*_Hooks.current, (phase, hook)), key=lambda entry: entry[0]))

    def remove() -> None:
        with _Hooks.lock:
            _Hooks.current = tuple(e for e in _Hooks.current if e[1] is not hook)

    return remove


def before_tool_call_hooks() -> tuple[BeforeToolCall, ...]:
    """The registered hooks, in the order they run."""
    return tuple(hook for _, hook in _Hooks.current)


def _as_ids(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(item) for item in value if item is not None and item != ""]
    return [str(value)]


def _as_arguments(arguments: object) -> Mapping[str, Any]:
    """Arguments as a mapping: None -> {}, a JSON object string (as models send tool
    arguments) -> its object, any other non-mapping -> ``{"input": value}``."""
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return arguments
    if isinstance(arguments, str | bytes):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"input": arguments}


def resolve_resources(spec: ResourceSpec, arguments: Mapping[str, Any]) -> list[str]:
    """Resource ids named by ``spec`` for these arguments (empty when not resolvable)."""
    if spec is None:
        return []
    if callable(spec):
        try:
            return _as_ids(spec(arguments))
        except Exception:
            _state.report_error(f"the resource callable {spec!r} failed")
            return []
    if "{" in spec:
        try:
            return _as_ids(spec.format_map(arguments))
        except (KeyError, IndexError, ValueError, AttributeError):
            return []
    return _as_ids(arguments.get(spec))


@dataclass
class ToolSpec:
    """One tool as the runtime sees it; its static attributes are computed once."""

    name: str
    framework: str = "function"
    tool_type: str = "function"
    resource: ResourceSpec = None
    scopes: tuple[str, ...] = ()
    trust: str | None = None
    kind: SpanKind = SpanKind.INTERNAL
    attributes: dict[str, Any] = field(init=False)
    span_name: str = field(init=False)
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _tool_settings: ToolSettings | None = field(default=None, init=False, repr=False)
    _cache: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.attributes = _spans.tool_attributes(
            self.name, framework=self.framework, tool_type=self.tool_type
        )
        self.span_name = _spans.tool_span_name(self.name)

    def begin(
        self,
        arguments: Mapping[str, Any] | str | None,
        *,
        call_id: str | None = None,
        prompt: PromptRecord | None = None,
        resource_ids: Iterable[str] | None = None,
    ) -> ToolCall | None:
        """Start the span of one call; None when disabled or the instrumentation failed.

        ``arguments``: a mapping, a JSON object string (as models send them), or any other
        value (captured as ``{"input": value}``).

        Raises only :class:`ToolCallBlocked` (from a hook), after recording the block.
        This is the per-call hot path: keep it flat.
        """
        if not _state.enabled():
            return None
        try:
            current = settings()
            if current is not self._settings or self._tool_settings is None:
                self._tool_settings = current.tool(self.name)
                self._settings = current
            tool_settings = self._tool_settings
            frame = _context.current_frame()
            if prompt is None:
                prompt = frame.prompt() if frame is not None else _context.current_prompt()
            cached = self._cache
            if (
                cached is not None
                and cached[0] is frame
                and cached[1] is prompt
                and cached[2] is current
            ):
                base, session = cached[3], cached[4]
            else:
                base, session = self._base(frame, prompt, current)
            attributes = base.copy()
            if call_id:
                attributes[A.GEN_AI_TOOL_CALL_ID] = call_id
            if type(arguments) is not dict:
                arguments = _as_arguments(arguments)
            capture_arguments(self.name, arguments, current, attributes)
            resource = self.resource if self.resource is not None else tool_settings.resource
            if resource is not None or resource_ids is not None:
                resources = list(resource_ids) if resource_ids is not None else []
                if resource is not None:
                    resources.extend(resolve_resources(resource, arguments))
                if resources:
                    attributes[A.RESOURCE_IDS] = tuple(resources)
            hooks = _Hooks.current
            if hooks or _refusals.MEMORY.active:
                scopes = self.scopes or tool_settings.scopes or ()
                self._run_hooks(hooks, arguments, attributes, call_id, scopes)
            span = _state.tracer().start_span(self.span_name, kind=self.kind, attributes=attributes)
            token = otel_context.attach(trace.set_span_in_context(span))
        except ToolCallBlocked:
            raise
        except Exception:
            _state.report_error(f"starting the span of tool {self.name!r} failed")
            return None
        return ToolCall(
            self,
            span,
            token,
            call_id=call_id,
            session=session,
            current=current,
            tool_settings=tool_settings,
            principal=(
                str(attributes.get(A.GEN_AI_AGENT_ID, "")),
                str(attributes.get(A.ENDUSER_ID, "")),
            ),
        )

    def _base(
        self, frame: _context.Frame | None, prompt: PromptRecord | None, current: Settings
    ) -> tuple[dict[str, Any], str]:
        """Attributes shared by consecutive calls in one context: tool + context + prompt.

        Cached on the spec while the frame, the prompt and the settings stay the same
        objects (frames and prompt records are immutable), so a loop of calls copies one
        dict instead of merging three. Not cached when W3C baggage contributes (it can
        change without the frame changing).
        """
        base = self.attributes.copy()
        from_baggage = frame is None or not frame.complete
        if from_baggage:
            base.update(_context.baggage_attributes())
        if frame is not None:
            base.update(frame.attributes)
        session = str(base.get(A.SESSION_ID, ""))
        if prompt is not None:
            base.update(prompt.attributes)
        base[A.DECISION] = A.DECISION_ALLOWED
        self._cache = None if from_baggage else (frame, prompt, current, base, session)
        return base, session

    def _run_hooks(
        self,
        hooks: tuple[tuple[int, BeforeToolCall], ...],
        arguments: Mapping[str, Any],
        attributes: dict[str, Any],
        call_id: str | None,
        scopes: tuple[str, ...],
    ) -> None:
        info = ToolCallInfo(
            self.name, self.framework, call_id, arguments, MappingProxyType(attributes), scopes
        )
        remembered = _refusals.MEMORY
        checked = not remembered.active
        for phase, hook in hooks:
            if not checked and phase >= PHASE_CREDENTIAL:
                checked = True
                self._refuse_remembered(info, attributes)
            try:
                extra = hook(info)
            except ToolCallBlocked as blocked:
                if phase >= PHASE_CREDENTIAL and isinstance(blocked, AccessRevoked):
                    refusal = _refusals.refusal_of(blocked)
                    if refusal is not None:
                        remembered.remember(_key(info), refusal)
                self._blocked(attributes, blocked)
                raise
            except Exception:
                _state.report_error(f"before_tool_call hook {hook!r} failed")
                continue
            if extra:
                attributes.update(extra)
        if not checked:
            self._refuse_remembered(info, attributes)

    def _refuse_remembered(self, info: ToolCallInfo, attributes: dict[str, Any]) -> None:
        """Refuse a retry of a call whose access was revoked (recorded as blocked)."""
        key = _key(info)
        refusal = _refusals.MEMORY.refusal(key)
        if refusal is None:
            return
        blocked = refusal.again(key)
        self._blocked(attributes, blocked)
        raise blocked

    def _blocked(self, attributes: dict[str, Any], blocked: ToolCallBlocked) -> None:
        """Emit the span of a call a hook (or the refusal memory) stopped."""
        attributes[A.DECISION] = A.DECISION_BLOCKED
        attributes[A.ERROR_TYPE] = _error_type(blocked)
        span = _state.tracer().start_span(self.span_name, kind=self.kind, attributes=attributes)
        span.set_status(StatusCode.ERROR)
        span.end()


def _key(info: ToolCallInfo) -> _refusals.Key:
    return (info.agent_id, info.user_id, info.session_id, info.tool)


class ToolCall:
    """A started tool-call span. Finish it exactly once with :meth:`ok` or :meth:`error`.

    Also a context manager (``with tool_call(...) as call: call.result = value``): leaving
    the block with an exception records it and lets it propagate unchanged.
    """

    __slots__ = (
        "_principal",
        "_settings",
        "_tool_settings",
        "call_id",
        "result",
        "session",
        "span",
        "spec",
        "token",
    )

    def __init__(
        self,
        spec: ToolSpec,
        span: Span,
        token: object,
        *,
        call_id: str | None,
        session: str,
        current: Settings,
        tool_settings: ToolSettings,
        principal: tuple[str, str] = ("", ""),
    ) -> None:
        self.spec = spec
        self.span = span
        self.token = token
        self.call_id = call_id
        self.session = session
        self._settings = current
        self._tool_settings = tool_settings
        self._principal = principal
        self.result: Any = _UNSET_RESULT

    @property
    def source_ref(self) -> str:
        """The ref under which this call's result is registered as a source."""
        call_id = self.call_id or format(self.span.get_span_context().span_id, "016x")
        return f"tool:{self.spec.name}#{call_id}"

    def ok(self, result: Any) -> None:
        """Record ``result`` (hash, size, optional content; registered as a source), end."""
        span = self.span
        try:
            if result is None and self._settings.redact is None:
                span.set_attributes(_none_result(self._settings))
            else:
                self._record_result(result)
        except Exception:
            _state.report_error(f"recording the result of tool {self.spec.name!r} failed")
        try:
            otel_context.detach(self.token)  # type: ignore[arg-type]
        finally:
            span.end()

    def error(self, exc: BaseException) -> None:
        """Record the tool's failure (``error.type``), end. The caller re-raises ``exc``.

        A failure caused by a revoked credential (the tool's server refused it, see
        :func:`._refusals.revocation_in`) is recorded as ``decision=blocked`` with the
        refusal's error type, and remembered: a retry of this tool in this session is
        refused without a new credential.
        """
        try:
            refusal = _refusals.revocation_in(exc)
            if refusal is None:
                self.span.set_attribute(A.ERROR_TYPE, _error_type(exc))
            else:
                self.span.set_attributes(
                    {A.DECISION: A.DECISION_BLOCKED, A.ERROR_TYPE: refusal.error_type}
                )
                agent, user = self._principal
                _refusals.MEMORY.remember((agent, user, self.session, self.spec.name), refusal)
            self.span.set_status(StatusCode.ERROR)
        except Exception:
            _state.report_error(f"recording the error of tool {self.spec.name!r} failed")
        finally:
            self._end()

    def _end(self) -> None:
        try:
            otel_context.detach(self.token)  # type: ignore[arg-type]
        finally:
            self.span.end()

    def _record_result(self, result: Any) -> None:
        current = self._settings
        tool_settings = self._tool_settings
        keep = tool_settings.capture_results
        if keep is None:
            keep = current.capture_results
        payload = capture(
            self.spec.name, "result", result, current, keep=keep, max_bytes=current.max_result_bytes
        )
        attributes: dict[str, Any] = {A.RESULT_HASH: payload.hash, A.RESULT_SIZE: payload.size}
        if payload.text is not None:
            attributes[A.GEN_AI_TOOL_CALL_RESULT] = payload.text
        self.span.set_attributes(attributes)
        if result is None or result == "":
            return
        trust = tool_settings.trust or self.spec.trust or A.TRUST_UNTRUSTED
        canonical_text = payload.encoded.decode("utf-8", "replace")
        needles = needles_for(result, canonical_text, current.min_substring_match)
        source = Source(
            ref=self.source_ref,
            kind="tool_result",
            trust=trust,
            hash=payload.hash,
            needles=needles,
            size=sum(map(len, needles)),
        )
        _state.registry().add(self.session, source)

    def __enter__(self) -> ToolCall:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.error(exc)
        else:
            self.ok(None if self.result is _UNSET_RESULT else self.result)


class _NoneResult:
    """The result attributes of a tool returning None, per settings object."""

    settings: Settings | None = None
    attributes: ClassVar[dict[str, Any]] = {}


def _none_result(current: Settings) -> dict[str, Any]:
    if _NoneResult.settings is not current:
        payload = capture("", "result", None, current, keep=False, max_bytes=1)
        _NoneResult.attributes = {A.RESULT_HASH: payload.hash, A.RESULT_SIZE: payload.size}
        _NoneResult.settings = current
    return _NoneResult.attributes


class _NullCall:
    """Stands in for a ToolCall when the instrumentation is off or failed."""

    result: Any = None
    call_id = None
    source_ref = ""

    def ok(self, result: Any) -> None:
        return None

    def error(self, exc: BaseException) -> None:
        return None

    def __enter__(self) -> _NullCall:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def tool_call(
    name: str,
    *,
    framework: str,
    call_id: str | None = None,
    arguments: Mapping[str, Any] | str | None = None,
    tool_type: str = "function",
    resource: ResourceSpec = None,
    resource_ids: Iterable[str] | None = None,
    prompt: PromptRecord | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> ToolCall | _NullCall:
    """Context manager for one tool call of an integration::

        with tool_call("search", framework="langchain", call_id=tc.id, arguments=args) as c:
            c.result = run_tool(args)

    Raises :class:`ToolCallBlocked` on entry when a hook blocks the call.
    """
    spec = _spec(name, framework, tool_type, resource, kind)
    call = spec.begin(arguments, call_id=call_id, prompt=prompt, resource_ids=resource_ids)
    return call if call is not None else _NullCall()


_specs: dict[tuple[str, str, str, object, SpanKind], ToolSpec] = {}
_MAX_SPECS = 4096


def _spec(
    name: str, framework: str, tool_type: str, resource: ResourceSpec, kind: SpanKind
) -> ToolSpec:
    key = (name, framework, tool_type, resource, kind)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) >= _MAX_SPECS:
            _specs.clear()
        spec = _specs[key] = ToolSpec(name, framework, tool_type, resource, kind=kind)
    return spec
