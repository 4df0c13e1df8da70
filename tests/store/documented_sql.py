"""The investigator queries the documentation shows, which must pass the guard and run.

Collected from ``README.md`` and ``docs/*.md`` (every fenced ``sql`` block that is a
query, i.e. starts with SELECT or WITH after its comments: DDL such as the read-only
user of docs/sql.md is not one; and every ``agentaudit sql "..."`` command line) and the
dashboard's saved queries. Each entry is ``(where, sql)``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Final

from agentaudit.dashboards.examples import EXAMPLES

__all__ = ["DOCUMENTED"]

ROOT: Final = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
_COMMAND = re.compile(r"agentaudit sql (?P<args>\".*?\"|'.*?')")
_QUERY = re.compile(r"\A(?:\s*--[^\n]*\n)*\s*(?:SELECT|WITH)\b", re.IGNORECASE)


def _from_markdown(path: Path) -> list[tuple[str, str]]:
    found = []
    for fence in _FENCE.finditer(path.read_text()):
        body = fence["body"]
        where = f"{path.relative_to(ROOT)}:{path.read_text()[: fence.start()].count(chr(10)) + 1}"
        if fence["lang"] == "sql" and _QUERY.match(body):
            found.append((where, body.strip()))
        elif fence["lang"] in ("sh", "bash", "console", ""):
            found.extend((where, shlex.split(m["args"])[0]) for m in _COMMAND.finditer(body))
    return found


def _collect() -> list[tuple[str, str]]:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = [entry for path in documents for entry in _from_markdown(path)]
    found += [(f"dashboards/examples.py: {name}", sql) for name, sql in EXAMPLES.items()]
    return found


DOCUMENTED: Final[list[tuple[str, str]]] = _collect()
