"""The ``agentaudit`` command.

Every flag of ``up``/``collector``/``dashboard`` is also an environment variable
(``--grpc-port`` is ``AGENTAUDIT_GRPC_PORT``, ``--clickhouse`` is
``AGENTAUDIT_CLICKHOUSE_URL``) and a top-level key of the ``--config`` TOML file.
User mistakes (a busy port, a locked store, a malformed DSN) print one line and exit
non-zero; exit codes: 1 error, 2 usage/config, 3 store, 4 store locked, 5 port busy,
6 ``verify`` found tampering.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from agentaudit.config import DEFAULT_API_URL, Config, load_config
from agentaudit.errors import AgentAuditError

__all__ = ["main"]

log = logging.getLogger("agentaudit")

EPILOG = """\
environment: every flag is also AGENTAUDIT_<FLAG> (e.g. AGENTAUDIT_GRPC_PORT); the DSN is
AGENTAUDIT_CLICKHOUSE_URL; AGENTAUDIT_TOKEN (agents: OTLP export) and
AGENTAUDIT_ADMIN_TOKEN (responders: queries, revocations) enable bearer-token auth.
docs: docs/ARCHITECTURE.md, docs/configuration.md"""

SQL_EPILOG = """\
environment: AGENTAUDIT_API_URL (a running process's admin API, default
http://127.0.0.1:4320), AGENTAUDIT_ADMIN_TOKEN (sent as its bearer token); the store:
AGENTAUDIT_STORE, AGENTAUDIT_CLICKHOUSE_URL, AGENTAUDIT_CONFIG."""

DEMO_EPILOG = """\
environment: AGENTAUDIT_TOKEN (sent as the bearer token on exports), and the standard
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, ..."""


def _add_store_flags(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """``--store`` / ``--clickhouse`` (one of them) and ``--config``; returns the group."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--store", metavar="DIR", help="embedded store directory (default ./.agentaudit/store)"
    )
    where.add_argument(
        "--clickhouse",
        metavar="DSN",
        dest="clickhouse_url",
        help="chdb:///abs/dir or http(s)://user:pass@host:8123/agentaudit",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file (AGENTAUDIT_CONFIG)")
    return where


def _add_server_flags(parser: argparse.ArgumentParser, *, dashboard: bool) -> None:
    _add_store_flags(parser)
    parser.add_argument(
        "--wal-dir", metavar="DIR", help="write-ahead log dir (default beside the store)"
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, metavar="N", help="OTLP/gRPC port (default 4317)")
    parser.add_argument("--http-port", type=int, metavar="N", help="OTLP/HTTP port (default 4318)")
    parser.add_argument("--api-port", type=int, metavar="N", help="admin API port (default 4320)")
    if dashboard:
        parser.add_argument(
            "--dashboard-port", type=int, metavar="N", help="dashboard port (default 8501)"
        )
    parser.add_argument(
        "--no-dashboard", action="store_true", default=None, help="do not serve the dashboard"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="N > 1: receive/decode/redact in N worker processes (SO_REUSEPORT, one WAL "
        "each) while this process only stores; default 1",
    )  # fmt: skip
    parser.add_argument(
        "--wal-max-bytes", type=int, metavar="N",
        help="WAL disk cap; past it clients get retryable backpressure",
    )  # fmt: skip
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: serve TLS")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    parser.add_argument(
        "--chain-key-file", metavar="FILE", help="HMAC key that signs the audit chain links"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentaudit",
        description="Provenance audit for AI-agent tool calls: who acted, for whom, why, "
        "with which credential - and the path to stop them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    up = commands.add_parser(
        "up",
        help="all-in-one on the embedded store: receivers, writer, admin API, dashboard",
        description="Run everything in one process (the embedded store allows one process "
        "per directory): OTLP receivers, the batch writer, the admin API and the dashboard.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_server_flags(up, dashboard=True)
    up.add_argument(
        "--demo", action="store_true", help="also run a scripted agent that makes audited calls"
    )

    collector = commands.add_parser(
        "collector",
        help="receivers + writer + admin API against --clickhouse DSN",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_server_flags(collector, dashboard=False)

    dashboard = commands.add_parser(
        "dashboard",
        help="the forensics dashboard against --clickhouse DSN",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_store_flags(dashboard)
    dashboard.add_argument("--host", help="address to bind (default 127.0.0.1)")
    dashboard.add_argument("--dashboard-port", type=int, metavar="N", help="port (default 8501)")

    sql = commands.add_parser(
        "sql",
        help="run a read-only SQL query",
        description="Run a read-only query: through a running process's admin API (--api,\n"
        "or AGENTAUDIT_API_URL when a process answers there), or on a store that no\n"
        "process holds (--store / --clickhouse). Writes are refused by ClickHouse.",
        epilog=SQL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sql.add_argument("query", help='e.g. "SELECT tool_name, agent_id FROM agentaudit.tool_calls"')
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    _add_store_flags(sql).add_argument(
        "--api", metavar="URL", help="admin API of a running process"
    )

    verify = commands.add_parser(
        "verify",
        help="check the audit chain: name batches modified, deleted or inserted after the fact",
        description="Walk the audit_chain table and recompute every batch's row hash. Exit 0 "
        "when the chain is intact, 6 when tampering is found (each problem on one line). "
        "With [collector] chain_key_file in the config, signatures are checked too.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_store_flags(verify)
    verify.add_argument(
        "--chain-key-file", metavar="FILE", help="HMAC key the chain links were signed with"
    )

    hashpw = commands.add_parser(
        "hash-password",
        help="hash a dashboard password for the config file's [dashboard.users]",
        description="Read a password (prompted, or one line from stdin when not a terminal) "
        "and print its scrypt hash for [dashboard.users] in the config file.",
    )
    hashpw.set_defaults(command="hash-password")

    demo = commands.add_parser(
        "demo",
        help="send the demo agent traffic to a running collector",
        epilog=DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--endpoint",
        default=None,
        help="OTLP/gRPC endpoint (default $OTEL_EXPORTER_OTLP_ENDPOINT or 127.0.0.1:4317)",
    )
    return parser


def _config_from(args: argparse.Namespace) -> Config:
    names = (
        "store",
        "clickhouse_url",
        "config",
        "wal_dir",
        "host",
        "grpc_port",
        "http_port",
        "api_port",
        "dashboard_port",
        "no_dashboard",
        "workers",
        "wal_max_bytes",
        "tls_cert",
        "tls_key",
        "chain_key_file",
    )
    return load_config({name: getattr(args, name, None) for name in names})


def _wait_for_signal() -> None:
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_demo(grpc_port: int, api_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "AGENTAUDIT_API_URL": f"http://127.0.0.1:{api_port}",  # the quarantine guard polls it
    }
    env.pop("AGENTAUDIT_ADMIN_TOKEN", None)  # never given to an agent
    return subprocess.Popen([sys.executable, "-m", "agentaudit.demo", "--follow"], env=env)


def _with_demo_webhook(config: Config, url: str, secret: str) -> Config:
    """``config`` plus a ``[[revocation.webhook]]`` to the demo's alert receiver."""
    revocation = dict(config.sections.get("revocation", {}))
    revocation.setdefault("dashboard_url", f"http://{config.host}:{config.dashboard_port}")
    hooks = list(revocation.get("webhook", []))
    revocation["webhook"] = [*hooks, {"name": "demo-secops", "url": url, "secret": secret}]
    return dataclasses.replace(config, sections={**config.sections, "revocation": revocation})


def _serve(config: Config, *, dashboard: bool, demo: bool) -> int:
    from agentaudit.collector.app import Collector
    from agentaudit.collector.tuning import tune_process

    receiver = None
    if demo:
        from agentaudit.demo.webhook_receiver import AlertReceiver

        secret = secrets.token_hex(16)
        receiver = AlertReceiver(secret).start()  # prints each verified alert
        config = _with_demo_webhook(config, receiver.url, secret)
    collector = Collector(config)
    try:
        collector.start()
    except BaseException:
        if receiver is not None:
            receiver.stop()
        raise
    tune_process()
    demo_process = None
    try:
        assert collector.admin is not None
        scheme = "https" if collector.options.tls_cert else "http"
        print(
            f"agentaudit: store {config.clickhouse_url}\n"
            f"  OTLP/gRPC  {config.host}:{collector.grpc_port}\n"
            f"  OTLP/HTTP  {scheme}://{config.host}:{collector.http_port}/v1/traces\n"
            f"  admin API  {scheme}://{config.host}:{collector.admin.port}",
            flush=True,
        )
        if receiver is not None:
            print(f"  alerts     {receiver.url} (demo webhook receiver)", flush=True)
        if demo:
            demo_process = _start_demo(collector.grpc_port, collector.admin.port)
        if dashboard:
            from agentaudit.dashboards import register_store
            from agentaudit.dashboards.server import serve

            assert collector.store is not None
            register_store(collector.store)
            # The Revoke page calls this process's own admin API.
            local = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
            os.environ.setdefault(
                "AGENTAUDIT_API_URL", f"{scheme}://{local}:{collector.admin.port}"
            )
            print(f"  dashboard  http://{config.host}:{config.dashboard_port}", flush=True)
            serve(host=config.host, port=config.dashboard_port, config=config)
        else:
            print("agentaudit: running; Ctrl-C to stop", flush=True)
            _wait_for_signal()
    finally:
        if demo_process is not None and demo_process.poll() is None:
            demo_process.terminate()
            demo_process.wait(10)
        print("agentaudit: flushing and stopping ...", flush=True)
        collector.stop()
        if receiver is not None:
            receiver.stop()
    return 0


ROW_LIMIT = 100_000  # READ_LIMITS["max_result_rows"] of the store; ClickHouse stops at a block


def _run_sql(args: argparse.Namespace) -> int:
    from agentaudit.collector.sql_client import api_is_up, format_result, query_api, query_store

    token = os.environ.get("AGENTAUDIT_ADMIN_TOKEN") or None
    if args.api:
        result = query_api(args.api, args.query, token=token)
    elif args.store or args.clickhouse_url:
        result = query_store(_config_from(args).clickhouse_url, args.query)
    else:
        api = os.environ.get("AGENTAUDIT_API_URL", DEFAULT_API_URL)
        if api_is_up(api):
            result = query_api(api, args.query, token=token)
        else:
            result = query_store(_config_from(args).clickhouse_url, args.query)
    print(format_result(result, args.format))
    if len(result.rows) >= ROW_LIMIT:
        print(
            f"agentaudit: note: the result was cut at about {ROW_LIMIT:,} rows; "
            "narrow the query or aggregate",
            file=sys.stderr,
        )
    return 0


def _run_dashboard(args: argparse.Namespace) -> int:
    from agentaudit.dashboards.server import serve

    config = _config_from(args)
    os.environ["AGENTAUDIT_CLICKHOUSE_URL"] = config.clickhouse_url
    serve(host=config.host, port=config.dashboard_port, config=config)
    return 0


TAMPERED_EXIT_CODE = 6


def _run_verify(args: argparse.Namespace) -> int:
    from agentaudit.collector.app import CollectorOptions
    from agentaudit.collector.chain import verify_chain
    from agentaudit.collector.migrations import apply_migrations
    from agentaudit.collector.store import Store

    config = _config_from(args)
    options = CollectorOptions.from_config(config)
    with Store.open(config.clickhouse_url) as store:
        apply_migrations(store)
        links = store.read_only("SELECT count() FROM agentaudit.audit_chain").rows[0][0]
        problems = verify_chain(store, key=options.chain_key)
    for problem in problems:
        print(problem)
    if problems:
        print(f"agentaudit verify: {len(problems)} problem(s) in {links} chain link(s)")
        return TAMPERED_EXIT_CODE
    print(f"agentaudit verify: chain intact ({links} link(s))")
    return 0


def _run_hash_password() -> int:
    import getpass

    from agentaudit.dashboards.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AgentAuditError("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise AgentAuditError("choose a password of at least 8 characters")
    print(hash_password(password))
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    if args.endpoint:
        # Before the import: importing the demo imports agentaudit.auto, which reads it.
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = args.endpoint
    from agentaudit.demo.__main__ import main as demo_main

    return demo_main([])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "up":
            config = _config_from(args)
            return _serve(config, dashboard=not config.no_dashboard, demo=args.demo)
        if args.command == "collector":
            return _serve(_config_from(args), dashboard=False, demo=False)
        if args.command == "dashboard":
            return _run_dashboard(args)
        if args.command == "sql":
            return _run_sql(args)
        if args.command == "demo":
            return _run_demo(args)
        if args.command == "verify":
            return _run_verify(args)
        if args.command == "hash-password":
            return _run_hash_password()
    except AgentAuditError as exc:
        print(f"agentaudit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command!r}")  # exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
