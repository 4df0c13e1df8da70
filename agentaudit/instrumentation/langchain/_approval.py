"""Reading a LangGraph ``Command(resume=...)`` value as a human decision.

Pure (no framework import), so it is testable and documented on its own. The decision is
one of ``approved``, ``edited``, ``denied`` or ``unknown`` (``_approvals``): only a value
that says approve (or edit) is an approval; anything the reader does not recognise is
``unknown``, never an approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentaudit.schema.attributes import (
    DECISION_APPROVED,
    DECISION_DENIED,
    DECISION_EDITED,
    DECISION_UNKNOWN,
)

__all__ = ["approval_from_resume"]

_APPROVER_KEYS = ("approver", "approved_by", "reviewer")
_DECISION_KEYS = ("type", "action", "decision")
_WORDS = {
    **dict.fromkeys(
        ("approve", "approved", "accept", "accepted", "allow", "yes", "ok", "continue"),
        DECISION_APPROVED,
    ),
    **dict.fromkeys(
        ("reject", "rejected", "deny", "denied", "decline", "declined", "no", "cancel"),
        DECISION_DENIED,
    ),
    **dict.fromkeys(("edit", "edited", "update", "modify", "modified"), DECISION_EDITED),
}


def _word(value: Any) -> str | None:
    return _WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def _approver(value: Mapping[str, Any]) -> str | None:
    return next(
        (str(value[k]) for k in _APPROVER_KEYS if isinstance(value.get(k), str) and value[k]),
        None,
    )


def _decision_of(value: Any) -> str:
    """The decision one resume value states."""
    if value is True:
        return DECISION_APPROVED
    if value is False:
        return DECISION_DENIED
    if isinstance(value, str):
        return _word(value) or DECISION_UNKNOWN
    if not isinstance(value, Mapping):
        return DECISION_UNKNOWN
    if value.get("approved") is False:
        return DECISION_DENIED
    for key in _DECISION_KEYS:
        found = _word(value.get(key))
        if found is not None:
            return found
    if value.get("approved") is True:
        return DECISION_APPROVED
    return DECISION_UNKNOWN


def _combine(decisions: list[str]) -> str:
    """Several decisions at once: any denial or unknown wins, then any edit."""
    if not decisions:
        return DECISION_UNKNOWN
    for decision in (DECISION_DENIED, DECISION_UNKNOWN, DECISION_EDITED):
        if decision in decisions:
            return decision
    return DECISION_APPROVED


def approval_from_resume(resume: Any) -> tuple[str, str | None]:
    """Read ``Command(resume=...)`` as a human decision: (decision, approver or None).

    * ``True``, an approval word (``"approve"``, ``"accept"``, ``"yes"``...) or a mapping
      with ``approved: True`` or a ``type`` / ``action`` / ``decision`` that is one:
      ``approved``;
    * an edit word there (``"edit"``, ``"update"``...): ``edited``;
    * ``False``, a denial word, ``approved: False``: ``denied``;
    * anything else (free text, numbers, a mapping stating no decision): ``unknown``.

    The approver is the first of a mapping's ``approver``, ``approved_by``, ``reviewer``
    keys that is set. Several values at once (a mapping of interrupt ids to values, or
    LangChain's ``{"decisions": [...]}``) give ``denied`` if any is denied, else
    ``unknown`` if any is unknown, else ``edited`` if any is edited, else ``approved``.
    """
    values: list[Any] | None = None
    if isinstance(resume, Mapping) and isinstance(resume.get("decisions"), list):
        values = list(resume["decisions"])
    elif (
        isinstance(resume, Mapping)
        and resume
        and all(isinstance(value, Mapping) for value in resume.values())
        and not any(key in resume for key in ("approved", *_APPROVER_KEYS, *_DECISION_KEYS))
    ):
        values = list(resume.values())
    if values is not None:
        decision = _combine([_decision_of(v) for v in values])
        approver = next(
            (_approver(v) for v in values if isinstance(v, Mapping) and _approver(v)), None
        )
        if isinstance(resume, Mapping) and approver is None:
            approver = _approver(resume)
        return decision, approver
    approver = _approver(resume) if isinstance(resume, Mapping) else None
    return _decision_of(resume), approver
