"""The serving-process settings are applied (in a child process: they are global)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, sys
from agentaudit.collector.interpreter import GC_THRESHOLDS, SWITCH_INTERVAL, tune_process
before = gc.get_freeze_count()
tune_process()
assert gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()
assert abs(sys.getswitchinterval() - SWITCH_INTERVAL) < 1e-9, sys.getswitchinterval()
assert gc.get_freeze_count() > before
tune_process(0.004)
assert abs(sys.getswitchinterval() - 0.004) < 1e-9, sys.getswitchinterval()
print("ok")
"""


def test_tune_process_sets_the_gc_and_the_switch_interval() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
