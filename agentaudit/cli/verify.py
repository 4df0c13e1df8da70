"""``agentaudit verify``: is every audit table as it was chained? (docs/evidence.md)

Read-only: it opens the store, runs SELECTs and never migrates or writes (a store whose
schema is older than this verifier is verified as far as its schema allows, and says so).
It walks the tool_calls batch chain and the seal chain of every other audit table, the
card sign-offs' own chain, and, with ``--digests DIR --public-key FILE``, the signed
digests: each problem on one line, naming the table and the batch, insert or row; then
what the evidence accounts for (expiry by retention, merges, erasures).

Exit codes: 0 intact; 6 anything changed, removed, truncated or a digest refused; 3 the
store cannot be verified completely (its schema predates what this verifier checks, or a
table is not covered) and nothing was found changed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from agentaudit.config import Config
from agentaudit.errors import ExitCode
from agentaudit.store import StoreError

__all__ = ["add_verify_flags", "run_verify"]


def add_verify_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--digests",
        metavar="DIR",
        type=Path,
        help="also check the store against the signed digests in DIR (catches truncation "
        "and a replaced chain)",
    )
    parser.add_argument(
        "--public-key",
        metavar="FILE",
        type=Path,
        action="append",
        default=[],
        help="a trusted digest public key (digest.pub); give it again for rotated keys",
    )


def _schema(store: object) -> tuple[list[str], list[str]]:
    """The migrations this verifier knows that the store lacks, and those it has that this
    verifier does not know."""
    from agentaudit.store import Store
    from agentaudit.store.migrations import load_migrations

    assert isinstance(store, Store)
    try:
        recorded = {
            int(r[0]) for r in store.query("SELECT version FROM agentaudit.schema_migrations").rows
        }
    except StoreError:
        raise StoreError(
            "not an agentaudit store: it has no agentaudit.schema_migrations table"
        ) from None
    known = {m.version: f"{m.version:04d}_{m.name}" for m in load_migrations()}
    missing = [name for version, name in sorted(known.items()) if version not in recorded]
    unknown = [f"{version:04d}" for version in sorted(recorded - set(known))]
    return missing, unknown


def run_verify(
    config: Config, *, digests: Path | None = None, public_keys: Sequence[Path] = ()
) -> int:
    from agentaudit.store import Store
    from agentaudit.store.evidence.digests import load_public_keys, verify_digests
    from agentaudit.store.evidence.verify import verify_store

    if digests is not None and not public_keys:
        print("agentaudit verify: --digests needs --public-key FILE (the digest.pub you trust)")
        return ExitCode.CONFIG
    keys = load_public_keys(public_keys) if public_keys else {}
    store_dir = config.store_dir
    if store_dir is not None and not (store_dir / "metadata").is_dir():
        raise StoreError(f"no store at {store_dir} (nothing to verify)")
    with Store.open(config.clickhouse_url) as store:
        missing, unknown = _schema(store)
        report = verify_store(store, key=config.chain_key)
        signoffs = _signoffs(store)
        checked = verify_digests(store, digests, keys) if digests is not None else None
    problems = [str(p) for p in report.problems] + signoffs
    notes = list(report.notes)
    if checked is not None:
        problems += [str(p) for p in checked.problems]
        notes += checked.notes
    for line in problems:
        print(line)
    for line in notes:
        print(f"accounted: {line}")
    warnings = list(report.warnings)
    if missing:
        warnings.insert(
            0,
            f"the store's schema lacks migration(s) {', '.join(missing)} that this verifier "
            "expects: what they add is not verified (start a collector of this version once to "
            "migrate it, or verify with the agentaudit version that wrote it)",
        )
    if unknown:
        warnings.insert(
            0,
            f"the store has migration(s) {', '.join(unknown)} this verifier does not know: "
            "verify with the agentaudit version that wrote it",
        )
    for line in warnings:
        print(f"WARNING: {line}")
    links = f"{report.batch_links} batch link(s), {report.seal_links} seal link(s)"
    anchored = f", {checked.trusted} signed digest(s)" if checked is not None else ""
    if problems:
        print(f"agentaudit verify: {len(problems)} problem(s) ({links}{anchored})")
        return ExitCode.TAMPERED
    if warnings:
        print(
            f"agentaudit verify: nothing changed in what could be checked ({links}{anchored}), "
            "but the store is not fully verifiable (see the warnings)"
        )
        return ExitCode.STORE
    print(f"agentaudit verify: chain intact ({links}{anchored})")
    return ExitCode.OK


def _signoffs(store: object) -> list[str]:
    """The card sign-offs' own per-agent chain (agentaudit.catalog.verify_signoffs)."""
    from agentaudit.catalog.observed import StoreSource
    from agentaudit.catalog.signoffs import verify_signoffs

    try:
        return verify_signoffs(StoreSource(store))
    except StoreError:
        return []
