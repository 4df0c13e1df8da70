"""Run the demo agent sessions and export their spans (``python -m agentaudit.demo``).

``--history`` first exports the agents' past twelve days of ordinary work (see
:mod:`.history`), so the detector has learned their baselines when the incident comes;
``--follow`` keeps the mail assistant working afterwards (see :mod:`.follow`) until the
process is stopped. ``agentaudit up --demo`` uses both: the detector quarantines the
injected mail assistant, and the follow loop shows its next calls refused.
The exit status is non-zero when a session failed or an audit span was dropped.
"""

from __future__ import annotations

import signal
import sys
import threading

from opentelemetry import trace

import agentaudit
import agentaudit.auto
from agentaudit.demo.follow import follow
from agentaudit.demo.runner import run_all


def _flush() -> bool:
    provider = trace.get_tracer_provider()
    return bool(getattr(provider, "force_flush", lambda *_: True)(10_000))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--history" in args:
        from agentaudit.demo.history import DAYS, export_history

        sent = export_history()
        print(f"agentaudit demo: {sent} past tool calls of {DAYS} days sent (the baselines)",
              flush=True)  # fmt: skip
    ok = run_all(pause=0.2)
    flushed = _flush()
    dropped = agentaudit.dropped_spans()
    print(
        f"agentaudit demo: sessions sent (flushed={flushed}, dropped spans={dropped})",
        flush=True,
    )
    if "--follow" in args:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        follow(stop)
        _flush()
    return 0 if ok and flushed and dropped == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
