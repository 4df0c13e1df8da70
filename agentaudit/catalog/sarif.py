"""Lint problems as SARIF 2.1.0, for code-scanning UIs (GitHub, GitLab, Azure DevOps).

One run, tool ``agentaudit lint``; one rule per problem kind (:data:`PROBLEM_KINDS`);
one result per problem, located at the catalog file and the line of the offending key
(its logical location is the dotted key). Severity maps to SARIF ``level``: ``high`` ->
``error``, ``medium`` -> ``warning``, ``low`` -> ``note``. ``partialFingerprints``
let a code-scanning UI follow one problem across commits.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from agentaudit.catalog.linter import PROBLEM_KINDS, Problem

__all__ = ["LEVELS", "SARIF_SCHEMA", "to_sarif"]

SARIF_SCHEMA: Final = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVELS: Final = {"high": "error", "medium": "warning", "low": "note"}
INFORMATION_URI: Final = "https://github.com/agentaudit/agentaudit/blob/main/docs/catalog.md"


def _uri(path: str) -> str:
    """The artifact URI: relative to the working directory when the file is under it
    (what code scanning expects: repository-relative), else an absolute file URI."""
    if not path or path.startswith("<"):
        return path or "catalog.toml"
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path(os.getcwd()).resolve()).as_posix()
    except ValueError:
        return absolute.as_uri()


def _rule_id(kind: str) -> str:
    return f"agentaudit/{kind}"


def to_sarif(
    problems: Sequence[Problem], *, catalog_path: str, version: str = ""
) -> dict[str, Any]:
    """The SARIF log (a JSON-ready dict) of ``problems`` found in ``catalog_path``."""
    kinds = list(PROBLEM_KINDS)
    rules = [
        {
            "id": _rule_id(kind),
            "name": "".join(part.capitalize() for part in kind.split("_")),
            "shortDescription": {"text": text},
            "helpUri": f"{INFORMATION_URI}#{kind}",
        }
        for kind, text in PROBLEM_KINDS.items()
    ]
    uri = _uri(catalog_path)
    results = []
    for problem in problems:
        location = problem.location
        line = max(1, location.line) if location else 1
        key = location.key if location else ""
        fingerprint = hashlib.sha256(
            "\x1f".join((problem.agent, problem.tool, problem.problem, problem.detail)).encode()
        ).hexdigest()
        result: dict[str, Any] = {
            "ruleId": _rule_id(problem.problem),
            "level": LEVELS[problem.severity],
            "message": {"text": problem.detail},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri},
                        "region": {"startLine": line},
                    },
                    **(
                        {"logicalLocations": [{"fullyQualifiedName": key, "kind": "member"}]}
                        if key
                        else {}
                    ),
                }
            ],
            "partialFingerprints": {"agentauditProblem/v1": fingerprint},
            "properties": {
                "agent": problem.agent,
                "tool": problem.tool,
                "severity": problem.severity,
            },
        }
        if problem.problem in kinds:
            result["ruleIndex"] = kinds.index(problem.problem)
        results.append(result)
    driver: dict[str, Any] = {
        "name": "agentaudit lint",
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    if version:
        driver["version"] = version
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "artifacts": [{"location": {"uri": uri}}],
                "results": results,
            }
        ],
    }
