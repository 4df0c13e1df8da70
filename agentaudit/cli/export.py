"""``agentaudit export --ocsf``: the chained audit rows as OCSF events, for a SIEM.

A backfill (``--since 30d``) or a catch-up after an outage: reads a store no process holds
(embedded) or a ClickHouse server, sends every chained unit not yet in the checkpoint to a
JSON-lines file (``--file``; exactly once) or a Splunk-HEC-compatible endpoint (``--hec``;
token in ``AGENTAUDIT_HEC_TOKEN``; at least once), and saves the checkpoint after each
unit, so a second run continues where the first stopped. The running collector exports
continuously with ``[export]`` in the config file (docs/evidence.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentaudit.config import Config
from agentaudit.config.values import parse_since
from agentaudit.errors import ConfigError, ExitCode

__all__ = ["add_export_parser", "run_export"]

EPILOG = """\
environment: AGENTAUDIT_HEC_TOKEN (the Splunk HEC token for --hec); the store:
AGENTAUDIT_STORE, AGENTAUDIT_CLICKHOUSE_URL, AGENTAUDIT_CONFIG. A store a running process
holds cannot be opened: stop it, or configure [export] in that process (docs/evidence.md).
exit codes: 0 ok, 2 bad arguments, 3 store, 4 store locked, 7 the sink did not take the
events (the checkpoint stays; run again)."""


def add_export_parser(commands: Any, add_setting_flags: Callable[..., Any]) -> None:
    export = commands.add_parser(
        "export",
        help="export tool calls, revocations and findings as OCSF events (SIEM backfill)",
        description="Send the chained audit rows as OCSF events (tool calls: API Activity "
        "with the AI Operation profile; revocations: Entity Management; findings: Detection "
        "Finding), each with its chain position, to a JSON-lines file or a Splunk HEC "
        "endpoint; the checkpoint makes a second run continue where the first stopped.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--ocsf", action="store_true", help="OCSF events (the only format)")
    export.add_argument("--since", help="skip rows older than this (30d, 12h, 2026-11-01)")
    sink = export.add_mutually_exclusive_group(required=True)
    sink.add_argument("--file", type=Path, metavar="PATH", help="append JSON lines to PATH")
    sink.add_argument(
        "--hec", metavar="URL", help="POST to a Splunk HEC endpoint (AGENTAUDIT_HEC_TOKEN)"
    )
    export.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="where the progress is kept (default: PATH.checkpoint.json beside --file, "
        "<state dir>/export-hec.checkpoint.json for --hec)",
    )
    export.add_argument(
        "--source",
        action="append",
        choices=("tool_calls", "tool_call_server_sides", "revocations", "findings"),
        help="what to export (repeatable; default all)",
    )
    add_setting_flags(export, "store")


class _Progress:
    """One line on stderr at most every few seconds: units done of pending, events sent."""

    def __init__(self, every: float = 5.0) -> None:
        self._every = every
        self._last = time.monotonic()

    def __call__(self, done: int, pending: int, sent: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._every or done == pending:
            self._last = now
            print(f"agentaudit: export: {done}/{pending} unit(s), {sent} event(s)", file=sys.stderr)


def run_export(
    args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]
) -> int:
    from agentaudit.export import SOURCES, EventSink, Exporter, FileSink, HecSink
    from agentaudit.export.exporter import HEC_TOKEN_ENV
    from agentaudit.store import Store

    if not args.ocsf:
        raise ConfigError("agentaudit export: say --ocsf (OCSF events are the only format)")
    config = config_from(args)
    since = parse_since(args.since) if args.since else 0
    sink: EventSink
    if args.hec:
        token = os.environ.get(HEC_TOKEN_ENV)
        if not token:
            raise ConfigError(f"--hec needs the HEC token in {HEC_TOKEN_ENV}")
        sink = HecSink(args.hec, token)
        checkpoint = args.checkpoint or config.state_dir / "export-hec.checkpoint.json"
    else:
        sink = FileSink(args.file)
        checkpoint = args.checkpoint or args.file.with_name(args.file.name + ".checkpoint.json")
    with Store.open(config.clickhouse_url) as store:
        exporter = Exporter(store, sink, checkpoint, sources=args.source or SOURCES, since_ns=since)
        try:
            sent = exporter.run(progress=_Progress())
        finally:
            exporter.close()
    print(f"agentaudit: exported {sent} event(s) to {sink.name}; checkpoint {checkpoint}")
    return ExitCode.OK
