"""``agentaudit agents add|list|revoke``: the registry of per-agent tokens.

Through a running process's admin API (``--api URL``, or ``AGENTAUDIT_API_URL`` when a
process answers there), else on a store no process holds (``--store`` /
``--clickhouse``). The token of ``add`` is printed once, on stdout, and nowhere else:
store it where the agent reads ``AGENTAUDIT_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from agentaudit.client import AdminClient
from agentaudit.collector.identity.principals import TOOL_SERVER
from agentaudit.config import Config
from agentaudit.config.tokens import responder_token
from agentaudit.errors import AgentAuditError, ConfigError, ExitCode

__all__ = ["add_agents_parser", "run_agents"]


def add_agents_parser(
    commands: Any, add_store_flags: Callable[[argparse.ArgumentParser], Any]
) -> None:
    agents = commands.add_parser(
        "agents",
        help="register agents: per-agent tokens that attribute every span",
        description="Register an agent and print its export token once (add), list the "
        "registered agents (list), or revoke an agent's token (revoke). Spans exported with "
        "an agent's own token are stored with authenticated_agent set; the shared "
        "AGENTAUDIT_TOKEN keeps working, unattributed.",
    )
    actions = agents.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="register an agent; prints its token once")
    add.add_argument("name", help="the agent id its spans carry (gen_ai.agent.id)")
    add.add_argument("--owner", required=True, help="the person or team answerable for it")
    add.add_argument("--description", default="", help="what the agent does")
    add.add_argument(
        "--rotate", action="store_true", help="replace the token of a registered agent"
    )
    add.add_argument(
        "--tool-server",
        action="store_true",
        help="register a tool server (an MCP server, say), not an agent: its spans are the "
        "server's records of the calls it ran, which name their callers; its token reads "
        "any agent's quarantine state and gets no credentials. With --rotate, makes a "
        "registered agent a tool server",
    )
    listing = actions.add_parser("list", help="the registered agents (never their tokens)")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    revoke = actions.add_parser("revoke", help="refuse an agent's token from now on")
    revoke.add_argument("name")
    revoke.add_argument("--reason", required=True, help="recorded with the revocation")
    for parser in (add, listing, revoke):
        where = add_store_flags(parser)
        where.add_argument("--api", metavar="URL", help="admin API of a running process")
        parser.add_argument(
            "--by", default="", help="who asks (recorded; default: the responder token)"
        )


def _client(args: argparse.Namespace, config: Config) -> AdminClient | None:
    """The admin API to use, or None to open the store directly."""
    token = responder_token(config)
    if args.api:
        return AdminClient.for_responder(args.api, token=token)
    if args.store or args.clickhouse_url:
        return None
    client = AdminClient.for_responder(token=token)
    return client if client.healthy() else None


def _kind(args: argparse.Namespace) -> str | None:
    """The kind ``add`` asks for; None keeps a rotated registration's kind."""
    return TOOL_SERVER if args.tool_server else None


def _print_agents(agents: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(agents))
        return
    for agent in agents:
        print(
            f"{agent['name']:<32} {agent.get('kind', 'agent'):<11} {agent['state']:<8} "
            f"owner={agent['owner']} token={agent['token_hint']}…"
        )
    print(f"({len(agents)} agent{'s' if len(agents) != 1 else ''})")


def _direct(args: argparse.Namespace, config: Config) -> Any:
    from agentaudit.collector.identity.registry import (
        TOKEN_SNAPSHOT,
        AgentRegistry,
        ClickHouseAgentStore,
        RegistryError,
        TokenSnapshot,
    )
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    actor = args.by or "cli"
    with Store.open(config.clickhouse_url) as store:
        apply_migrations(store)
        registry = AgentRegistry(
            ClickHouseAgentStore(store), snapshot=TokenSnapshot(config.state_dir / TOKEN_SNAPSHOT)
        )
        try:
            if args.agents_command == "add":
                record, token = registry.add(
                    args.name,
                    owner=args.owner,
                    description=args.description,
                    actor=actor,
                    rotate=args.rotate,
                    kind=_kind(args),
                )
                return {"agent": record.to_json(), "token": token}
            if args.agents_command == "revoke":
                return {
                    "agent": registry.revoke(args.name, actor=actor, reason=args.reason).to_json()
                }
            return {"agents": [r.to_json() for r in registry.agents()]}
        except RegistryError as exc:
            raise ConfigError(str(exc)) from None


def run_agents(
    args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]
) -> int:
    config = config_from(args)
    client = _client(args, config)
    if client is None:
        answer = _direct(args, config)
    elif args.agents_command == "add":
        answer = client.add_agent(
            args.name,
            owner=args.owner,
            description=args.description,
            rotate=args.rotate,
            kind=_kind(args),
        )
    elif args.agents_command == "revoke":
        answer = client.revoke_agent(args.name, reason=args.reason, requested_by=args.by or "cli")
    else:
        answer = {"agents": client.agents()}
    if args.agents_command == "list":
        _print_agents(list(answer.get("agents", [])), args.format)
        return ExitCode.OK
    agent = answer.get("agent", {})
    if args.agents_command == "add":
        token = answer.get("token")
        if not isinstance(token, str):
            raise AgentAuditError("the admin API answered without a token")
        what = "tool server" if agent.get("kind") == TOOL_SERVER else "agent"
        print(
            f"agentaudit: {what} {agent.get('name')} registered (owner {agent.get('owner')}); "
            f"its token follows, shown this once: give it to the {what} as AGENTAUDIT_TOKEN",
            file=sys.stderr,
        )
        print(token)
        return ExitCode.OK
    print(f"agentaudit: agent {agent.get('name')} revoked: its token is refused from now on")
    return ExitCode.OK
