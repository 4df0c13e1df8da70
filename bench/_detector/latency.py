"""Export to quarantine, with real processes: the machinery of tests/e2e/test_detector.py.

Each run starts a fresh ``agentaudit up --no-dashboard`` (detector on, the default on the
embedded store) with a ``[[revocation.webhook]]`` to the demo's alert receiver,
backfills ten days of a support agent's ordinary history over OTLP/HTTP (old ``ts``,
believed by ``[detector] max_claimed_age_seconds``: learned, never acted on), then runs
the instrumented agent process (``tests/e2e/_detector_agent.py``: ``import
agentaudit.auto``, whose quarantine guard polls the admin API every 2 s): five ordinary
rounds, then an injected ticket makes it mail one new recipient after another, every
0.1 s, until it is refused.

Per run, from the call the detector's revocation names (its ``trigger``):

* **export → quarantine**: that call's ``received_at`` (the collector received its
  export) to the revocation's ``requested_at`` (the quarantine is in force: the admin
  API refuses the agent from then on);
* **call → refusal**: the call's start (``ts``) to the moment the agent's next call was
  refused by its guard — what the agent experiences, bounded by the guard's 2 s poll.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Timing", "measure", "summarise"]


@dataclass
class Timing:
    export_to_quarantine: float
    call_to_refusal: float
    call_to_export: float


def _once(workdir: Path) -> Timing:
    from agentaudit.demo.webhook_receiver import AlertReceiver
    from agentaudit.store.sql_guard import quote_string
    from tests.detector._data import DAY, History
    from tests.e2e import test_detector as e2e
    from tests.e2e._procs import agentaudit_up, wait_for

    with AlertReceiver(e2e.SECRET, show=lambda alert: None) as receiver:
        config = workdir / "agentaudit.toml"
        config.write_text(
            "[detector]\n"
            f"max_claimed_age_seconds = {12 * DAY // 1_000_000_000}\n"
            "[[revocation.webhook]]\n"
            'name = "secops"\n'
            f'url = "{receiver.url}"\n'
            'secret_env = "AGENTAUDIT_WEBHOOK_SECRET"\n'
        )
        with agentaudit_up(workdir, "--config", str(config)) as up:
            now = time.time_ns()
            history = History(
                agent=e2e.AGENT,
                start=now - now % DAY - 11 * DAY,
                sessions_per_day=24,
                first_hour=0,
                hours=24,
            )
            calls = history.calls()
            e2e._export(up, calls)
            wait_for(
                lambda: up.healthz().get("detector_calls", 0) >= len(calls),
                timeout=120,
                what="the detector to learn the backfilled history",
            )
            agent = e2e.AgentProcess(up, rounds=5)
            try:
                for _ in range(5):
                    agent.next_line("ok send_email", timeout=60)
                agent.next_line("attack", timeout=30)
                refused_at = float(agent.next_line("blocked", timeout=60).split()[3])
            finally:
                agent.stop()
            revoke = wait_for(
                lambda: [
                    a for a in receiver.alerts if a.payload.get("event") == "agentaudit.revoke"
                ],
                timeout=30,
                what="the revocation alert",
            )[0]
            span = revoke.payload["trigger"]["span_id"]
            (row,) = e2e._query(
                up,
                "SELECT toUnixTimestamp64Nano(ts) AS ts, "  # noqa: S608 - quoted literals
                "toUnixTimestamp64Milli(received_at) AS received, "
                "(SELECT toUnixTimestamp64Milli(min(requested_at)) FROM agentaudit.revocations "
                f"WHERE id = {quote_string(revoke.payload['id'])}) AS requested "
                f"FROM agentaudit.tool_calls WHERE span_id = {quote_string(span)}",
            )
    started, received, requested = (
        int(row["ts"]) / 1e9,
        row["received"] / 1e3,
        row["requested"] / 1e3,
    )
    return Timing(requested - received, refused_at - started, received - started)


def measure(runs: int) -> list[Timing]:
    """``runs`` end-to-end runs, each with fresh processes and store."""
    names = ("AGENTAUDIT_TOKEN", "AGENTAUDIT_ADMIN_TOKEN", "AGENTAUDIT_WEBHOOK_SECRET")
    saved = {k: os.environ.get(k) for k in (*names, "AGENTAUDIT_CONFIG")}
    from tests.e2e import test_detector as e2e

    os.environ.update(
        AGENTAUDIT_TOKEN=e2e.AGENT_TOKEN,
        AGENTAUDIT_ADMIN_TOKEN=e2e.ADMIN,
        AGENTAUDIT_WEBHOOK_SECRET=e2e.SECRET,
    )
    os.environ.pop("AGENTAUDIT_CONFIG", None)
    try:
        out = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                out.append(_once(Path(tmp)))
        return out
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def summarise(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (max {max(values):.2f} s)"
