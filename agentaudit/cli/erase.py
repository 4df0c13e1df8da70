"""``agentaudit erase USER --reason …``: erase one person's data (GDPR Art. 17).

Every occurrence of the user id, of the further ``--identifier`` values (email address,
phone number) and of the redaction pseudonyms of all of them is replaced, in every audit
table, by ``erased:<erasure id>``; the old data parts are removed from disk; an erasure
record (who, when, why, each changed unit's digest before and after - never whose data) is
chained, so ``agentaudit verify`` still proves every other byte untouched
(docs/evidence.md). Refused while a legal hold covers the user's rows. Through a running
process's admin API, else on a store no process holds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from agentaudit.cli._evidence import direct_evidence, responder_client
from agentaudit.cli.hold import EPILOG
from agentaudit.config import Config
from agentaudit.errors import ExitCode

__all__ = ["add_erase_parser", "run_erase"]


def add_erase_parser(commands: Any, add_setting_flags: Callable[..., Any]) -> None:
    erase = commands.add_parser(
        "erase",
        help="erase one user's personal data (GDPR Art. 17), keeping the evidence verifiable",
        description="Replace the user's id, the given identifiers and their redaction "
        "pseudonyms in every audit table by an unlinkable token, remove the old bytes from "
        "disk, and record (chained) who erased what unit, when and why. Refused while a "
        "legal hold covers the user's rows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    erase.add_argument("user", help="the user id (enduser.id) to erase")
    erase.add_argument(
        "--identifier",
        action="append",
        default=[],
        metavar="TEXT",
        help="another identifier of the same person (an email address); repeatable",
    )
    erase.add_argument("--reason", required=True, help="why (recorded; must not name the user)")
    erase.add_argument(
        "--by",
        default="",
        help="who asks (recorded; default: the token's role over the API, 'cli' on a stopped "
        "store)",
    )
    where = add_setting_flags(erase, "store")
    where.add_argument("--api", metavar="URL", help="admin API of a running process")


def run_erase(args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]) -> int:
    config = config_from(args)
    client = responder_client(args, config)
    print(
        "agentaudit: erasing (every audit table holding the user is rewritten, then the old "
        "bytes must leave the disk: this can take minutes)",
        file=sys.stderr,
    )
    if client is None:
        with direct_evidence(config, actor=args.by or "cli") as evidence:
            report = evidence.erase(
                args.user, identifiers=args.identifier, actor=args.by or "cli",
                reason=args.reason,
            ).to_json()  # fmt: skip
    else:
        report = client.erase(
            args.user, identifiers=args.identifier, reason=args.reason, requested_by=args.by,
        ).get("erasure", {})  # fmt: skip
    tables = report.get("tables", {})
    where = ", ".join(f"{name} ({count})" for name, count in sorted(tables.items()))
    print(
        f"agentaudit: erasure {report.get('erasure_id')}: {report.get('rows_changed', 0)} "
        f"row(s) rewritten as {report.get('replacement')}" + (f" in {where}" if where else "")
    )
    for name, count in sorted(dict(report.get("kept") or {}).items()):
        print(f"agentaudit: {count} row(s) of {name} mention the user and were kept (attestations)")
    if report.get("old_parts_left"):
        print(
            f"agentaudit: {report['old_parts_left']} old data part(s) were still on disk when "
            "it finished; ClickHouse removes them shortly"
        )
    return ExitCode.OK
