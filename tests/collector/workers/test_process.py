"""A receive-only worker process loads what receiving needs, nothing that stores."""

from __future__ import annotations

import json
import subprocess
import sys

STORING = (
    "pyarrow",
    "chdb",
    "clickhouse_connect",
    "agentaudit.store",
    "agentaudit.collector.writer",
)


def test_a_worker_does_not_import_the_writer_the_store_or_pyarrow() -> None:
    # The worker's main module imports every part it runs at module level.
    probe = (
        "import json, sys\n"
        "import agentaudit.collector.workers.process\n"
        f"storing = {STORING!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(storing))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == []
    # ... and the same probe sees them when the store-owning side is imported (it can fail).
    owner = probe.replace("workers.process", "app")
    done = subprocess.run(
        [sys.executable, "-c", owner], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(done.stdout)
    assert "pyarrow" in loaded
    assert "agentaudit.store" in loaded
