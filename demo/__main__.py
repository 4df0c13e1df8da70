"""Run the demo agent sessions and export their spans (``python -m agentaudit.demo``)."""

from __future__ import annotations

import sys

from opentelemetry import trace

import agentaudit.auto  # noqa: F401 - configures the OTLP exporter, instruments frameworks
from agentaudit.demo.runner import run_all


def main() -> int:
    ok = run_all(pause=0.2)
    provider = trace.get_tracer_provider()
    flushed = getattr(provider, "force_flush", lambda *_: True)(10_000)
    print(f"agentaudit demo: sessions sent (flushed={flushed})", flush=True)
    return 0 if flushed and ok else 1


if __name__ == "__main__":
    sys.exit(main())
