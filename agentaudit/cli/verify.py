"""``agentaudit verify``: walk the audit chain, name what was changed after the fact."""

from __future__ import annotations

from agentaudit.config import Config
from agentaudit.errors import ExitCode

__all__ = ["run_verify"]


def run_verify(config: Config) -> int:
    from agentaudit.store import Store
    from agentaudit.store.audit_chain import verify_chain
    from agentaudit.store.migrations import apply_migrations

    with Store.open(config.clickhouse_url) as store:
        apply_migrations(store)
        links = store.read_only("SELECT count() FROM agentaudit.audit_chain").rows[0][0]
        problems = verify_chain(store, key=config.chain_key)
    for problem in problems:
        print(problem)
    if problems:
        print(f"agentaudit verify: {len(problems)} problem(s) in {links} chain link(s)")
        return ExitCode.TAMPERED
    print(f"agentaudit verify: chain intact ({links} link(s))")
    return ExitCode.OK
