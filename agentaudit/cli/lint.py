"""``agentaudit lint``: the scope linter over the catalog (and, when given, observed use).

Exit status: 0 when no problem is ``high``; 1 (``ExitCode.ERROR``, DESIGN §5) when any
is, so it gates a deploy in CI; 2 when the catalog cannot be loaded (every problem
named ``file:line: key: message``). Formats: ``table`` (one problem a line, the most
severe first), ``json`` (a list of ``{agent, tool, problem, detail, severity}``),
``sarif`` (SARIF 2.1.0, results at the catalog file and line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agentaudit.cli._catalog_io import add_where_flags, catalog_path, open_where
from agentaudit.config import Config
from agentaudit.errors import ExitCode

__all__ = ["add_lint_parser", "format_table", "run_lint"]

FORMATS = ("table", "json", "sarif")
EPILOG = """\
exit status: 0 no high problem, 1 a high problem, 2 the catalog cannot be loaded.
observed use is read only when --store/--clickhouse/--api (or AGENTAUDIT_STORE /
AGENTAUDIT_CLICKHOUSE_URL) names where. docs/catalog.md lists every problem kind."""


def add_lint_parser(
    commands: Any, add_flags: Callable[[argparse.ArgumentParser, str], Any]
) -> None:
    lint = commands.add_parser(
        "lint",
        help="scope lint: credentials wider than the tools' actions, behaviour outside the card",
        description="Check the catalog: per agent and tool, granted scopes beyond the minimum, "
        "tools without a minimum, agents without an owner; with observed use, scopes and "
        "tools outside the catalog and credentials that outlive it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(lint, "catalog")
    add_where_flags(lint, lambda parser: add_flags(parser, "store"))
    lint.add_argument(
        "--since",
        default="30d",
        help="observed use: calls claimed or received this far back (default 30d)",
    )
    lint.add_argument("--agent", help="only this agent")
    lint.add_argument("--format", choices=FORMATS, default="table")


def format_table(problems: Sequence[Any]) -> str:
    if not problems:
        return "no problems"
    lines = []
    for p in problems:
        where = f"{p.location.path}:{p.location.line}" if p.location else ""
        subject = f"{p.agent}/{p.tool}" if p.tool else p.agent
        lines.append(f"{p.severity:<6} {p.problem:<19} {subject}: {p.detail}  [{where}]")
    high = sum(1 for p in problems if p.severity == "high")
    lines.append(f"({len(problems)} problem{'s' if len(problems) != 1 else ''}, {high} high)")
    return "\n".join(lines)


def run_lint(args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]) -> int:
    from agentaudit.catalog.linter import HIGH, lint_catalog
    from agentaudit.catalog.loader import load_catalog
    from agentaudit.catalog.observed import observe, parse_since, registry_owners
    from agentaudit.catalog.sarif import to_sarif

    config = config_from(args)
    path = catalog_path(args, config)
    catalog = load_catalog(path)
    since = parse_since(args.since)
    with open_where(args, config, required=False) as where:
        observations = owners = None
        if where is not None:
            observations = observe(where.source, since_ns=since, agent=args.agent)
            owners = registry_owners(where.source)
        problems = lint_catalog(
            catalog, observations=observations, registry_owners=owners, agent=args.agent
        )
    if args.format == "json":
        print(json.dumps([p.to_json() for p in problems], ensure_ascii=False))
    elif args.format == "sarif":
        from agentaudit import __version__

        print(json.dumps(to_sarif(problems, catalog_path=str(path), version=__version__)))
    else:
        print(format_table(problems))
    if where is None and args.format == "table":
        print(
            "agentaudit: note: catalog only (give --store or --api to check observed use)",
            file=sys.stderr,
        )
    return ExitCode.ERROR if any(p.severity == HIGH for p in problems) else ExitCode.OK
