"""Human-in-the-loop decisions, recorded the same way by every framework integration.

A framework's approval step ends in one of four decisions, and the tool span says which
(``agentaudit.approval.decision``), next to the status the rest of the pipeline reads:

==========  ===========================  ================================================
decision    ``agentaudit.approval.status``  the call
==========  ===========================  ================================================
approved    ``human``                    runs as the model asked
edited      ``human``                    runs with the arguments the human changed (the
                                         span records the arguments that ran)
denied      ``none``                     does not run: :func:`record_denied` emits its
                                         span, ``agentaudit.decision=blocked``
unknown     ``none``                     the framework resumed with a value that is none
                                         of the above; whatever ran is not approved
==========  ===========================  ================================================

Only ``approved`` and ``edited`` set status ``human``: a denial or an answer the
integration cannot read never counts as an approval downstream (every consumer treats a
status other than ``none`` as a claimed approval).

Invariant: :func:`record_denied` runs no ``before_tool_call`` hook, so a denied call is
never given a just-in-time credential.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from opentelemetry.trace import SpanKind

from agentaudit.instrumentation import _context, _state
from agentaudit.instrumentation._capture import capture_arguments
from agentaudit.instrumentation._prompt import PromptRecord
from agentaudit.instrumentation._runtime import _as_arguments, _spec
from agentaudit.instrumentation._settings import settings
from agentaudit.schema import attributes as A

__all__ = ["Denials", "decision_attributes", "record_denied"]

_APPROVING: Final = frozenset({A.DECISION_APPROVED, A.DECISION_EDITED})


class Denials:
    """(conversation id, tool-call id) of the denials already recorded: a framework
    resends a denied call's answer with every later request of the conversation, and
    the integration reads it there. Bounded (LRU)."""

    limit = 4096
    lock = threading.Lock()
    seen: ClassVar[OrderedDict[tuple[str, str], None]] = OrderedDict()

    @classmethod
    def first(cls, conversation: str, call_id: str) -> bool:
        """True the first time this denial is seen (and remember it)."""
        with cls.lock:
            key = (conversation, call_id)
            if key in cls.seen:
                cls.seen.move_to_end(key)
                return False
            cls.seen[key] = None
            while len(cls.seen) > cls.limit:
                cls.seen.popitem(last=False)
            return True


def decision_attributes(decision: str, approver: str | None = None) -> dict[str, Any]:
    """The span attributes of one human decision (see the module table)."""
    attributes: dict[str, Any] = {
        A.APPROVAL_DECISION: decision,
        A.APPROVAL_STATUS: A.APPROVAL_HUMAN if decision in _APPROVING else A.APPROVAL_NONE,
    }
    if approver and decision in _APPROVING | {A.DECISION_DENIED}:
        attributes[A.APPROVAL_APPROVER] = approver
    return attributes


def record_denied(
    name: str,
    *,
    framework: str,
    call_id: str | None = None,
    arguments: Mapping[str, Any] | str | None = None,
    tool_type: str = "function",
    prompt: PromptRecord | None = None,
    approver: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Emit the span of a call a human denied: it did not run (``decision=blocked``).

    Runs no ``before_tool_call`` hook (nothing is minted or checked for a call that does
    not run). Never raises.
    """
    if not _state.enabled():
        return
    try:
        current = settings()
        spec = _spec(name, framework, tool_type, None, SpanKind.INTERNAL)
        frame = _context.current_frame()
        if prompt is None:
            prompt = frame.prompt() if frame is not None else _context.current_prompt()
        base, _session = spec._base(frame, prompt, current)
        attributes = base.copy()
        if extra:
            for key, value in extra.items():
                attributes.setdefault(key, value)
        if call_id:
            attributes[A.GEN_AI_TOOL_CALL_ID] = call_id
        capture_arguments(name, dict(_as_arguments(arguments)), current, attributes)
        attributes[A.DECISION] = A.DECISION_BLOCKED
        attributes.update(decision_attributes(A.DECISION_DENIED, approver))
        _state.tracer().start_span(spec.span_name, kind=spec.kind, attributes=attributes).end()
    except Exception:
        _state.report_error(f"recording the denied call of tool {name!r} failed")
