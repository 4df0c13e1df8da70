"""``agentaudit verify`` on a store written by a real ``agentaudit up``: intact (also
against the signed digest its shutdown wrote), then tampered with, and the tampered batch
is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentaudit.store import Store
from tests.e2e._procs import agentaudit_up, cli, wait_for

pytestmark = pytest.mark.e2e


def test_verify_names_the_tampered_batch(tmp_path: Path) -> None:
    with agentaudit_up(tmp_path) as up:
        demo = cli("demo", "--endpoint", f"http://127.0.0.1:{up.grpc_port}", env=up.agent_env)
        assert demo.returncode == 0, demo.stderr

        def sent() -> bool:
            done = cli(
                "sql",
                "SELECT (SELECT count() FROM agentaudit.tool_calls) AS n, "
                "(SELECT count() FROM agentaudit.tool_call_server_sides) AS served",
                "--api",
                up.api,
                "--format",
                "json",
                env=up.responder_env,
            )
            if done.returncode:
                return False
            # The demo's seven calls (three mail, four calendar), and the MCP server's
            # records of the four calendar calls: verify covers both tables.
            (counts,) = json.loads(done.stdout)
            return bool(counts["n"] >= 7 and counts["served"] >= 4)

        wait_for(sent, timeout=30, what="the demo rows")
    intact = cli("verify", "--store", str(up.store))
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "chain intact" in intact.stdout
    # The shutdown sealed every table and wrote a signed digest beside the store.
    state = up.store.parent
    anchored = cli(
        "verify", "--store", str(up.store), "--digests", str(state / "digests"),
        "--public-key", str(state / "digest.pub"),
    )  # fmt: skip
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    assert "signed digest(s)" in anchored.stdout

    with Store.open(f"chdb://{up.store}") as store:
        (batch,) = store.query(
            "SELECT batch_id FROM agentaudit.tool_calls WHERE tool_name = 'send_email'"
        ).rows[0]
        store.command(
            "ALTER TABLE agentaudit.tool_calls UPDATE approval_status = 'human' "
            "WHERE tool_name = 'send_email' SETTINGS mutations_sync = 2"
        )
    tampered = cli("verify", "--store", str(up.store))
    assert tampered.returncode == 6, tampered.stdout + tampered.stderr
    assert batch in tampered.stdout
    assert "Traceback" not in tampered.stderr
