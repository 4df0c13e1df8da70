"""``agentaudit hold place|list|release``: legal holds (docs/evidence.md).

A hold keeps the rows of a session, an agent, a user or a time range past retention, and
keeps them verifiable. Through a running process's admin API (``--api URL``, or
``AGENTAUDIT_API_URL`` when a process answers there), else on a store no process holds
(``--store`` / ``--clickhouse``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from agentaudit.cli._evidence import direct_evidence, responder_client
from agentaudit.config import Config
from agentaudit.errors import ConfigError, ExitCode

__all__ = ["EPILOG", "add_hold_parser", "run_hold"]


EPILOG = """\
through a running process: --api URL, or AGENTAUDIT_API_URL when a process answers there
(default http://127.0.0.1:4320), with the responder token AGENTAUDIT_ADMIN_TOKEN; else on a
stopped store: --store DIR / --clickhouse DSN (AGENTAUDIT_STORE, AGENTAUDIT_CLICKHOUSE_URL).
exit codes: 0 ok, 2 bad arguments, 3 store, 7 unavailable, 8 refused (a legal hold, an
agent token). docs: docs/evidence.md"""


def add_hold_parser(commands: Any, add_setting_flags: Callable[..., Any]) -> None:
    hold = commands.add_parser(
        "hold",
        help="legal holds: keep a session's, agent's, user's or time range's rows past retention",
        description="Place a legal hold (its rows are kept past retention and stay "
        "verifiable), list the holds, or release one. Every hold and release is recorded "
        "with who and why, in a chained table.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = hold.add_subparsers(dest="hold_command", metavar="ACTION", required=True)
    place = actions.add_parser(
        "place", help="place a hold", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    scope = place.add_mutually_exclusive_group(required=True)
    scope.add_argument("--session", metavar="ID", help="every row of this session")
    scope.add_argument("--agent", metavar="ID", help="every row of this agent")
    scope.add_argument("--user", metavar="ID", help="every row acting for this user")
    scope.add_argument("--from", dest="start", metavar="TIME", help="a time range (with --to), "
                       "ISO 8601, UTC unless it says otherwise")  # fmt: skip
    place.add_argument("--to", dest="end", metavar="TIME", help="the end of the --from range")
    place.add_argument("--reason", required=True, help="the matter it is kept for (recorded)")
    listing = actions.add_parser("list", help="every hold, placed and released")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    release = actions.add_parser("release", help="release a hold")
    release.add_argument("hold_id")
    release.add_argument("--reason", required=True, help="why it ends (recorded)")
    for parser in (place, listing, release):
        where = add_setting_flags(parser, "store")
        where.add_argument("--api", metavar="URL", help="admin API of a running process")
        parser.add_argument(
            "--by",
            default="",
            help="who asks (recorded; default: the token's role over the API, 'cli' on a "
            "stopped store)",
        )


def _request(args: argparse.Namespace) -> dict[str, Any]:
    for kind in ("session", "agent", "user"):
        value = getattr(args, kind)
        if value:
            return {"kind": kind, "value": value}
    if not args.end:
        raise ConfigError("a time-range hold needs --from and --to")
    return {"kind": "time", "from": args.start, "to": args.end}


def _print(holds: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(holds))
        return
    for hold in holds:
        scope = (
            f"time {hold['from']} .. {hold['to']}"
            if hold["kind"] == "time"
            else f"{hold['kind']} {hold['value']}"
        )
        state = "active" if hold["active"] else f"released {hold['released_at']}"
        print(f"{hold['hold_id']}  {scope:<48} {state:<30} by {hold['placed_by']}: "
              f"{hold['reason']}")  # fmt: skip
    print(f"({len(holds)} hold{'s' if len(holds) != 1 else ''})")


def _direct(args: argparse.Namespace, config: Config) -> dict[str, Any]:
    from agentaudit.store.evidence.holds import HoldError, instant_us

    actor = args.by or "cli"
    with direct_evidence(config, actor=actor) as evidence:
        try:
            if args.hold_command == "list":
                return {"holds": [h.to_json() for h in evidence.holds()]}
            if args.hold_command == "release":
                hold = evidence.release_hold(args.hold_id, actor=actor, reason=args.reason)
                return {"hold": hold.to_json()}
            request = _request(args)
            if request["kind"] == "time":
                request = {
                    "kind": "time",
                    "from_us": instant_us(request["from"], "--from"),
                    "to_us": instant_us(request["to"], "--to"),
                }
            hold = evidence.place_hold(**request, actor=actor, reason=args.reason)
            return {"hold": hold.to_json()}
        except HoldError as exc:
            raise ConfigError(str(exc)) from None


def run_hold(args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]) -> int:
    config = config_from(args)
    client = responder_client(args, config)
    if client is None:
        answer = _direct(args, config)
    elif args.hold_command == "list":
        answer = {"holds": client.holds()}
    elif args.hold_command == "release":
        answer = client.release_hold(args.hold_id, reason=args.reason, requested_by=args.by)
    else:
        answer = client.place_hold(
            {**_request(args), "reason": args.reason, "requested_by": args.by}
        )
    if args.hold_command == "list":
        _print(list(answer.get("holds", [])), args.format)
        return ExitCode.OK
    hold = answer.get("hold", {})
    if args.hold_command == "release":
        print(f"agentaudit: hold {hold.get('hold_id')} released: its rows expire with retention")
    else:
        print(
            f"agentaudit: hold {hold.get('hold_id')} placed: the rows of "
            f"{hold.get('kind')} {hold.get('value') or ''} are kept past retention".rstrip()
        )
    return ExitCode.OK
