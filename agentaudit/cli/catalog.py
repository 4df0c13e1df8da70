"""``agentaudit catalog suggest``: a draft catalog from observed use (least privilege).

Writes TOML to stdout (or ``--output FILE``, refused when it exists unless ``--force``):
per agent and tool seen in the window, the scopes presented and exercised, the
narrowest scope per inferred action, the credentials and their longest lifetime, the
argument that names the resource, with ``TODO`` comments where a person must decide.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentaudit.cli._catalog_io import add_where_flags, open_where
from agentaudit.config import Config
from agentaudit.errors import ConfigError, ExitCode

__all__ = ["add_catalog_parser", "run_catalog"]


def add_catalog_parser(
    commands: Any, add_flags: Callable[[argparse.ArgumentParser, str], Any]
) -> None:
    catalog = commands.add_parser(
        "catalog",
        help="the identity-card catalog: `catalog suggest` drafts one from observed use",
    )
    actions = catalog.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    suggest = actions.add_parser(
        "suggest",
        help="a draft catalog from the tool calls in the store",
        description="Write a draft catalog: tools seen, scopes presented and exercised, the "
        "narrowest scope per action, credentials and lifetimes, the resource argument; an "
        "owner fills in the TODOs, runs `agentaudit lint`, and commits it.",
    )
    suggest.add_argument(
        "--since", default="30d", help="calls claimed or received this far back (default 30d)"
    )
    suggest.add_argument("--agent", help="only this agent")
    suggest.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    suggest.add_argument("--force", action="store_true", help="overwrite --output FILE")
    add_where_flags(suggest, lambda parser: add_flags(parser, "store"))


def run_catalog(
    args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]
) -> int:
    from agentaudit.catalog.observed import observe, parse_since, registry_owners
    from agentaudit.catalog.suggest import suggest_catalog

    config = config_from(args)
    since = parse_since(args.since)
    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        raise ConfigError(f"--output {output} exists; give --force to overwrite it")
    with open_where(args, config, required=True) as where:
        assert where is not None
        observations = observe(where.source, since_ns=since, agent=args.agent)
        text = suggest_catalog(
            observations, registry_owners=registry_owners(where.source), source=where.label
        )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        agents = len(observations.agents)
        print(
            f"agentaudit: draft catalog of {agents} agent(s) written to {output}", file=sys.stderr
        )
    if not observations.tools:
        print(f"agentaudit: note: no tool calls since {args.since}", file=sys.stderr)
    return ExitCode.OK
