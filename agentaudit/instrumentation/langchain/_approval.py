"""Reading a LangGraph ``Command(resume=...)`` value as a human approval decision.

Pure (no framework import), so it is testable and documented on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["approval_from_resume"]

_APPROVER_KEYS = ("approver", "approved_by", "reviewer")
_DENIAL_VALUES = frozenset({"reject", "rejected", "deny", "denied", "decline", "declined", "no"})
_DECISION_KEYS = ("type", "action", "decision")


def _decision_of(value: Any) -> tuple[bool, str | None] | None:
    """(approved, approver) stated by one resume value; None when it states nothing."""
    if value is False:
        return False, None
    if isinstance(value, str):
        return (value.strip().lower() not in _DENIAL_VALUES), None
    if not isinstance(value, Mapping):
        return (True, None) if value is not None else None
    if value.get("approved") is False:
        return False, None
    for key in _DECISION_KEYS:
        decision = value.get(key)
        if isinstance(decision, str) and decision.strip().lower() in _DENIAL_VALUES:
            return False, None
    approver = next(
        (
            str(value[key])
            for key in _APPROVER_KEYS
            if isinstance(value.get(key), str) and value[key]
        ),
        None,
    )
    return True, approver


def approval_from_resume(resume: Any) -> tuple[bool, str | None]:
    """Read ``Command(resume=...)`` as a human decision: (approved, approver or None).

    A resume value approves unless it says otherwise: ``False``, a denial word
    (``"reject"``, ``"deny"``...), or a mapping with ``approved: False`` or a ``type`` /
    ``action`` / ``decision`` that is a denial word. The approver is the first of the
    mapping's ``approver``, ``approved_by``, ``reviewer`` keys that is set. A
    mapping of interrupt ids to values (several interrupts resumed at once) approves
    only if every value does.
    """
    if (
        isinstance(resume, Mapping)
        and resume
        and all(isinstance(value, Mapping) for value in resume.values())
        and not any(key in resume for key in ("approved", *_APPROVER_KEYS, *_DECISION_KEYS))
    ):
        approver = None
        for value in resume.values():
            decision = _decision_of(value)
            if decision is not None and not decision[0]:
                return False, None
            if decision is not None and approver is None:
                approver = decision[1]
        return True, approver
    decision = _decision_of(resume)
    return decision if decision is not None else (True, None)
