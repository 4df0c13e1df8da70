"""The engine-decode measurement of the ingest bench (bench/_ingest/engine_decode.py):
the real engine (chDB) decodes real SDK-encoded requests, and the measurement refuses
to report a figure when what it decoded differs from upb's decode.

Each case runs in a child process: the measurement opens an in-memory chDB session of
its own, which must not meet the stores other tests open in this process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_engine_decodes_the_spans_and_keys_upb_decodes() -> None:
    done = _run(
        """
        from bench._ingest import engine_decode
        from bench._ingest.workload import encoded_requests, make_spans
        spans = make_spans(700, 3)
        result = engine_decode.measure(encoded_requests(spans, 512), len(spans), runs=1)
        assert result["rate"] > 0 and result["cpu_us"] > 0, result
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_request_decoded_differently_is_refused() -> None:
    # The engine is given one request the reference never sees: the figure is refused.
    done = _run(
        """
        from bench._ingest import engine_decode
        from bench._ingest.workload import encoded_requests, make_spans
        requests = encoded_requests(make_spans(600, 4), 512)
        reference = engine_decode._reference
        engine_decode._reference = lambda given: reference(given[1:])
        engine_decode.measure(requests, 600, runs=1)
        """
    )
    assert done.returncode != 0
    assert "the engine decoded other spans or attributes than upb did" in done.stderr


def test_a_truncated_request_is_an_engine_error_not_a_figure() -> None:
    done = _run(
        """
        from bench._ingest import engine_decode
        from bench._ingest.workload import encoded_requests, make_spans
        requests = encoded_requests(make_spans(600, 5), 512)
        engine_decode._reference = lambda given: []
        engine_decode.measure([requests[0][:-7], *requests[1:]], 600, runs=1)
        """
    )
    assert done.returncode != 0
    assert "Protobuf messages are corrupted" in done.stderr
