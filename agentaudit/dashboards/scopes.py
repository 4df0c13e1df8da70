"""Which credential scopes a tool exercised, judged from the resources it touched.

A scope's resource type is the part before its first ``.``, ``:`` or ``/``
(``email.send`` -> ``email``); a resource's type is the part before its first ``:``
(``email:msg-42`` -> ``email``). A scope is exercised by a tool when its type is one
the tool touched. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["exercised_scopes", "scope_type"]

_SEPARATOR = re.compile(r"[.:/]")


def scope_type(scope: str) -> str:
    return _SEPARATOR.split(scope, maxsplit=1)[0].lower()


def exercised_scopes(scopes: Iterable[str], resource_types: Iterable[str]) -> set[str]:
    touched = {t.lower() for t in resource_types if t}
    return {s for s in scopes if scope_type(s) in touched}
