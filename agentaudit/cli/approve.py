"""``agentaudit approve``: grant a signed approval for exactly one tool call.

Asks a running process's admin API (``POST /v1/approvals``, responder token) and prints
the grant on stdout; the runtime attaches it to the call with
``agentaudit.approval(grant=...)``. What was approved goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from agentaudit.client import AdminClient
from agentaudit.config import Config
from agentaudit.config.tokens import responder_token
from agentaudit.errors import ConfigError, ExitCode

__all__ = ["add_approve_parser", "run_approve"]


def add_approve_parser(commands: Any) -> None:
    approve = commands.add_parser(
        "approve",
        help="grant a signed approval for one exact tool call",
        description="Approve exactly one action (agent, tool, arguments, resources) for a "
        "short time, through a running process's admin API; prints the signed grant the "
        "agent's runtime attaches to the call (agentaudit.approval(grant=...)). The "
        "collector verifies it: the call is stored with approval_verified = 1.",
    )
    approve.add_argument("--agent", required=True, help="the agent id that will make the call")
    approve.add_argument("--tool", required=True, help="the tool name")
    what = approve.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--arguments-hash",
        metavar="HASH",
        help="sha256:... as the agent computed it (agentaudit.arguments_hash(tool, args))",
    )
    what.add_argument(
        "--arguments", metavar="JSON", help="the call's arguments (hashed with default settings)"
    )
    approve.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="ID",
        help="a resource the call touches (repeat)",
    )
    approve.add_argument("--user", default="", help="bind the approval to this user")
    approve.add_argument("--session", default="", help="bind the approval to this session")
    approve.add_argument("--approver", required=True, help="the human who decided")
    approve.add_argument(
        "--expires-in", type=int, default=300, metavar="S", help="lifetime, at most 900 s"
    )
    approve.add_argument("--reason", default="", help="recorded with the approval")
    approve.add_argument("--api", metavar="URL", help="admin API (default AGENTAUDIT_API_URL)")
    approve.add_argument("--config", metavar="FILE", help="TOML config file (AGENTAUDIT_CONFIG)")


def run_approve(
    args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]
) -> int:
    config = config_from(args)
    body: dict[str, Any] = {
        "agent": args.agent,
        "tool": args.tool,
        "resources": args.resource,
        "user": args.user,
        "session": args.session,
        "approver": args.approver,
        "expires_in": args.expires_in,
        "reason": args.reason,
    }
    if args.arguments_hash:
        body["arguments_hash"] = args.arguments_hash
    else:
        try:
            body["arguments"] = json.loads(args.arguments)
        except ValueError as exc:
            raise ConfigError(f"--arguments: not JSON: {exc}") from None
    client = AdminClient.for_responder(args.api, token=responder_token(config))
    answer = client.grant_approval(body)
    print(
        f"agentaudit: approved {args.tool} for {args.agent} by {answer.get('approver')} "
        f"until {answer.get('expires_at')} (grant {answer.get('id')})",
        file=sys.stderr,
    )
    print(answer["grant"])
    return ExitCode.OK
