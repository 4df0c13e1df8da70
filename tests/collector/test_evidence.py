"""The collector's evidence service over a real store: it seals and writes signed digests
on its interval while running, and at stop seals everything, exports and writes the
shutdown digest; a configured export reaches a Splunk-HEC-compatible endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.evidence import EvidenceService
from agentaudit.export import build_exporter
from agentaudit.store import Store
from agentaudit.store.evidence.digests import PUBLIC_FILE, load_public_keys, verify_digests
from agentaudit.store.evidence.verify import verify_store
from tests.conftest import SpanFactory
from tests.store.evidence._seed import write_spans


class _Hec:
    """A Splunk HEC stand-in on a real port: records what it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append((self.headers["Authorization"], self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"text":"Success","code":0}')

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/collector/event"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        found = []
        for _, body in self.requests:
            found += [json.loads(line) for line in body.decode().splitlines()]
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hec() -> Iterator[_Hec]:
    server = _Hec()
    yield server
    server.close()


def test_running_service_seals_digests_and_exports(
    store: Store, tmp_path: Path, make_span: SpanFactory, hec: _Hec
) -> None:
    state = tmp_path / "state"
    exporter = build_exporter(
        store,
        {"export": {"hec_url": hec.url, "sources": ["tool_calls"]}},
        state_dir=state,
        environ={"AGENTAUDIT_HEC_TOKEN": "hec-secret"},
    )
    evidence = EvidenceService(
        store,
        state_dir=state,
        digest_interval=0.5,
        seal_seconds=0.2,
        exporter=exporter,
        retention={"tool_calls": 86_400},
    )
    evidence.open()
    evidence.start()
    try:
        write_spans(store, tmp_path / "wal", [make_span() for _ in range(4)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list(evidence.digest_dir.glob("*.json"))) < 2:
            time.sleep(0.2)
    finally:
        evidence.stop()
    digests = sorted(evidence.digest_dir.glob("*.digest.json"))
    reasons = [json.loads(p.read_text())["digest"]["reason"] for p in digests]
    assert reasons.count("interval") >= 1
    assert reasons[-1] == "shutdown"
    keys = load_public_keys([state / PUBLIC_FILE])
    assert verify_digests(store, evidence.digest_dir, keys).problems == []
    report = verify_store(store)
    assert report.problems == []
    assert report.seal_links >= 1  # otel_traces, retention_policies, ...
    # The export reached the HEC endpoint with its token, once per tool call.
    assert {auth for auth, _ in hec.requests} == {"Splunk hec-secret"}
    events = hec.events()
    assert [e["sourcetype"] for e in events] == ["ocsf:API Activity"] * 4
    assert all(e["event"]["class_uid"] == 6003 for e in events)
    assert len({e["event"]["metadata"]["uid"] for e in events}) == 4
