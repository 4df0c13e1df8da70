"""The ``agentaudit`` command: a parser and a dispatcher; each command in its own module.

Every flag of ``up``/``collector``/``dashboard`` is also an environment variable
(``--grpc-port`` is ``AGENTAUDIT_GRPC_PORT``, ``--clickhouse`` is
``AGENTAUDIT_CLICKHOUSE_URL``) and a top-level key of the ``--config`` TOML file (the
flags are built from :data:`agentaudit.config.SETTINGS`). User mistakes (a busy port, a
locked store, a malformed DSN) print one line and exit with a code of
:class:`~agentaudit.errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from agentaudit.cli._flags import add_setting_flags, config_from
from agentaudit.cli.agents import add_agents_parser
from agentaudit.cli.approve import add_approve_parser
from agentaudit.cli.card import add_card_parser
from agentaudit.cli.catalog import add_catalog_parser
from agentaudit.cli.detect import add_detect_parser
from agentaudit.cli.erase import add_erase_parser
from agentaudit.cli.export import add_export_parser
from agentaudit.cli.hold import add_hold_parser
from agentaudit.cli.lint import add_lint_parser
from agentaudit.cli.migrate import add_migrate_parser
from agentaudit.cli.verify import add_verify_flags
from agentaudit.errors import AgentAuditError, ExitCode

__all__ = ["build_parser", "main"]

EPILOG = """\
environment: every flag is also AGENTAUDIT_<FLAG> (e.g. AGENTAUDIT_GRPC_PORT); the DSN is
AGENTAUDIT_CLICKHOUSE_URL; AGENTAUDIT_TOKEN (agents: OTLP export) and
AGENTAUDIT_ADMIN_TOKEN (responders: queries, revocations); when unset, up/collector
generate both into .agentaudit/agent.token and admin.token (docs/trust.md).
exit codes: 0 ok, 1 error (lint: a high problem), 2 usage/config, 3 store, 4 store locked,
5 port busy, 6 tampering found, 7 unavailable, 8 refused.
docs: docs/ARCHITECTURE.md, docs/configuration.md"""

SQL_EPILOG = """\
environment: AGENTAUDIT_API_URL (a running process's admin API, default
http://127.0.0.1:4320), AGENTAUDIT_ADMIN_TOKEN (sent as its bearer token); the store:
AGENTAUDIT_STORE, AGENTAUDIT_CLICKHOUSE_URL, AGENTAUDIT_CONFIG."""

DEMO_EPILOG = """\
environment: AGENTAUDIT_TOKEN (sent as the bearer token on exports), and the standard
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, ..."""

_FORMATTER = argparse.RawDescriptionHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentaudit",
        description="Provenance audit for AI-agent tool calls: who acted, for whom, why, "
        "with which credential - and the path to stop them.",
        epilog=EPILOG,
        formatter_class=_FORMATTER,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = commands.add_parser(
        "up",
        help="all-in-one on the embedded store: receivers, writer, admin API, dashboard",
        description="Run everything in one process (the embedded store allows one process "
        "per directory): OTLP receivers, the batch writer, the admin API and the dashboard.",
        epilog=EPILOG,
        formatter_class=_FORMATTER,
    )
    add_setting_flags(up, "store", "server", "bind", "dashboard", "chain", "catalog")
    up.add_argument(
        "--demo", action="store_true", help="also run a scripted agent that makes audited calls"
    )

    collector = commands.add_parser(
        "collector",
        help="receivers + writer + admin API against --clickhouse DSN",
        epilog=EPILOG,
        formatter_class=_FORMATTER,
    )
    add_setting_flags(collector, "store", "server", "bind", "chain", "catalog")

    dashboard = commands.add_parser(
        "dashboard",
        help="the forensics dashboard against --clickhouse DSN",
        epilog=EPILOG,
        formatter_class=_FORMATTER,
    )
    add_setting_flags(dashboard, "store", "bind", "dashboard", "catalog")

    sql = commands.add_parser(
        "sql",
        help="run a read-only SQL query",
        description="Run a read-only query: through a running process's admin API (--api,\n"
        "or AGENTAUDIT_API_URL when a process answers there), or on a store that no\n"
        "process holds (--store / --clickhouse). Writes are refused by ClickHouse.",
        epilog=SQL_EPILOG,
        formatter_class=_FORMATTER,
    )
    sql.add_argument("query", help='e.g. "SELECT tool_name, agent_id FROM agentaudit.tool_calls"')
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    where = add_setting_flags(sql, "store")
    assert where is not None
    where.add_argument("--api", metavar="URL", help="admin API of a running process")

    verify = commands.add_parser(
        "verify",
        help="check every audit table against its chain (and the signed digests); read-only",
        description="Walk the tool_calls batch chain and the seal chain of every other audit "
        "table, recompute every hash, and name each batch, insert or row modified, deleted "
        "or inserted after the fact; expiry by retention, merges and recorded erasures are "
        "accounted for. With --digests DIR --public-key FILE, also catch truncated or "
        "replaced chains. Never writes. Exit 0 intact, 6 a problem found, 3 not fully "
        "verifiable. With --chain-key-file, link signatures are checked too.",
        epilog=EPILOG,
        formatter_class=_FORMATTER,
    )
    add_setting_flags(verify, "store", "chain")
    add_verify_flags(verify)
    add_hold_parser(commands, add_setting_flags)
    add_erase_parser(commands, add_setting_flags)
    add_export_parser(commands, add_setting_flags)
    add_migrate_parser(commands, add_setting_flags)

    add_agents_parser(commands, lambda parser: add_setting_flags(parser, "store"))
    add_approve_parser(commands)
    add_detect_parser(commands, lambda parser: add_setting_flags(parser, "store"))
    add_lint_parser(commands, add_setting_flags)
    add_card_parser(commands, add_setting_flags)
    add_catalog_parser(commands, add_setting_flags)

    commands.add_parser(
        "hash-password",
        help="hash a dashboard password for the config file's [dashboard.users]",
        description="Read a password (prompted, or one line from stdin when not a terminal) "
        "and print its scrypt hash for [dashboard.users] in the config file.",
    )

    demo = commands.add_parser(
        "demo",
        help="send the demo agent traffic to a running collector",
        epilog=DEMO_EPILOG,
        formatter_class=_FORMATTER,
    )
    demo.add_argument(
        "--endpoint",
        default=None,
        help="OTLP/gRPC endpoint (default $OTEL_EXPORTER_OTLP_ENDPOINT or 127.0.0.1:4317)",
    )
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    if args.endpoint:
        # Before the import: importing the demo imports agentaudit.auto, which reads it.
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = args.endpoint
    from agentaudit.demo.__main__ import main as demo_main

    return demo_main([])


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command in ("up", "collector"):
        from agentaudit.cli.serve import serve

        config = config_from(args)
        dashboard = command == "up" and not config.no_dashboard
        return serve(config, dashboard=dashboard, demo=command == "up" and args.demo)
    if command == "dashboard":
        from agentaudit.cli.dashboard import run_dashboard

        return run_dashboard(config_from(args))
    if command == "sql":
        from agentaudit.cli.sql import run_sql

        return run_sql(args, config_from)
    if command == "verify":
        from agentaudit.cli.verify import run_verify

        return run_verify(config_from(args), digests=args.digests, public_keys=args.public_key)
    if command == "hold":
        from agentaudit.cli.hold import run_hold

        return run_hold(args, config_from)
    if command == "erase":
        from agentaudit.cli.erase import run_erase

        return run_erase(args, config_from)
    if command == "export":
        from agentaudit.cli.export import run_export

        return run_export(args, config_from)
    if command == "migrate":
        from agentaudit.cli.migrate import run_migrate

        return run_migrate(args, config_from)
    if command == "agents":
        from agentaudit.cli.agents import run_agents

        return run_agents(args, config_from)
    if command == "approve":
        from agentaudit.cli.approve import run_approve

        return run_approve(args, config_from)
    if command == "detect":
        from agentaudit.cli.detect import run_detect

        return run_detect(args, config_from)
    if command == "lint":
        from agentaudit.cli.lint import run_lint

        return run_lint(args, config_from)
    if command == "card":
        from agentaudit.cli.card import run_card

        return run_card(args, config_from)
    if command == "catalog":
        from agentaudit.cli.catalog import run_catalog

        return run_catalog(args, config_from)
    if command == "hash-password":
        from agentaudit.cli.dashboard import run_hash_password

        return run_hash_password()
    if command == "demo":
        return _run_demo(args)
    raise AssertionError(f"unknown command {command!r}")  # argparse refuses it first


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(_dispatch(args))
    except AgentAuditError as exc:
        print(f"agentaudit: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
