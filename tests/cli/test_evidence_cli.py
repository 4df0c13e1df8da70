"""The evidence commands end to end, as child processes on a real stopped store:
``verify`` is read-only and, with ``--digests``, catches truncation of the newest batches;
``hold``, ``erase`` and ``export --ocsf`` work on a store no process holds; bad arguments
print one error line and exit 2, never a traceback."""

# ruff: noqa: S608 - test SQL splices constants and ids the test made itself

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.evidence import EvidenceService
from agentaudit.config import embedded_dsn
from agentaudit.errors import ExitCode
from agentaudit.schema import attributes as A
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations, load_migrations
from tests.cli.test_cli import error_line, run
from tests.conftest import SpanFactory
from tests.store.evidence._seed import ROWS, insert, mutate, write_spans


@contextmanager
def _open(directory: Path) -> Iterator[Store]:
    with Store.open(embedded_dsn(directory)) as store:
        yield store


def _state(store: Store) -> dict[str, Any]:
    """What a write would change: the tables, their active parts, the migration ledger."""
    return {
        "tables": store.query(
            "SELECT name FROM system.tables WHERE database = 'agentaudit' ORDER BY name"
        ).rows,
        "parts": store.query(
            "SELECT table, name FROM system.parts WHERE database = 'agentaudit' AND active "
            "ORDER BY table, name"
        ).rows,
        "ledger": store.query(
            "SELECT version FROM agentaudit.schema_migrations ORDER BY version"
        ).rows,
    }


@pytest.fixture
def sealed(tmp_path: Path, make_span: SpanFactory) -> Path:
    """A stopped store with rows in every audit table (a tool server's record of a call
    too), sealed, and one signed digest in
    ``<tmp>/.agentaudit/digests`` (the state directory a command run in tmp uses)."""
    directory = tmp_path / "store"
    with _open(directory) as store:
        apply_migrations(store)
        spans = [make_span() for _ in range(12)]
        caller = spans[-1]  # and a tool server's linked record of its call
        spans.append(
            make_span(
                trace_id=caller.trace_id,
                parent_span_id=caller.span_id,
                kind="Server",
                attributes={**caller.attributes, A.CALL_SIDE: A.CALL_SIDE_SERVER},
            )
        )
        write_spans(store, tmp_path / "wal", spans)
        for table, rows in ROWS.items():
            if table != "card_signoffs":  # their own per-agent chain needs real sign-offs
                for values in rows:
                    insert(store, table, values)
        evidence = EvidenceService(store, state_dir=tmp_path / ".agentaudit", offline=True)
        evidence.digest("shutdown")
    return directory


def _verify(tmp_path: Path, env: dict[str, str], *extra: str) -> Any:
    return run(["verify", "--store", str(tmp_path / "store"), *extra], env, tmp_path)


def test_verify_is_read_only_on_an_older_store(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """A store whose schema predates the seals: verify checks what it can, says so (exit
    3), and migrates nothing."""
    directory = tmp_path / "store"
    with _open(directory) as store:
        store.command("CREATE DATABASE IF NOT EXISTS agentaudit")
        older = [m for m in load_migrations() if m.version < 30]
        apply_migrations(store)  # then roll the ledger back to before the seals:
        newer = [m.version for m in load_migrations() if m.version >= 30]
        versions = ", ".join(str(v) for v in newer)
        mutate(
            store, f"ALTER TABLE agentaudit.schema_migrations DELETE WHERE version IN ({versions})"
        )
        for table in ("audit_seals", "audit_seal_entries", "legal_holds", "hold_units",
                      "retention_policies", "erasures", "erasure_units"):  # fmt: skip
            store.command(f"DROP TABLE IF EXISTS agentaudit.{table} SYNC")
        before = _state(store)
        assert len(before["ledger"]) == len(older)
    done = _verify(tmp_path, subprocess_env)
    assert done.returncode == ExitCode.STORE, done.stdout + done.stderr
    assert "0030_evidence" in done.stdout
    assert "not fully verifiable" in done.stdout
    with _open(directory) as store:
        assert _state(store) == before


def test_verify_with_digests_catches_truncation(
    sealed: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    digests, public = tmp_path / ".agentaudit" / "digests", tmp_path / ".agentaudit" / "digest.pub"
    with _open(sealed) as store:
        before = _state(store)
    intact = _verify(
        tmp_path, subprocess_env, "--digests", str(digests), "--public-key", str(public)
    )
    assert intact.returncode == ExitCode.OK, intact.stdout + intact.stderr
    assert "chain intact" in intact.stdout
    assert "1 signed digest(s)" in intact.stdout
    with _open(sealed) as store:
        assert _state(store) == before  # read-only
        newest = int(store.query("SELECT max(seq) FROM agentaudit.audit_chain").rows[0][0])
        newest_two = f"SELECT batch_id FROM agentaudit.audit_chain WHERE seq >= {newest - 1}"
        batches = [str(r[0]) for r in store.query(newest_two).rows]
        listed = ", ".join(f"'{b}'" for b in batches)
        mutate(store, f"ALTER TABLE agentaudit.tool_calls DELETE WHERE batch_id IN ({listed})")
        mutate(store, f"ALTER TABLE agentaudit.audit_chain DELETE WHERE seq >= {newest - 1}")
    alone = _verify(tmp_path, subprocess_env)
    assert alone.returncode == ExitCode.OK  # the shorter chain is consistent on its own
    caught = _verify(
        tmp_path, subprocess_env, "--digests", str(digests), "--public-key", str(public)
    )
    assert caught.returncode == ExitCode.TAMPERED, caught.stdout + caught.stderr
    assert f"had link {newest}" in caught.stdout
    assert "newest links (and what they chained) were removed" in caught.stdout


def test_verify_names_a_changed_server_record_of_a_call(
    sealed: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    assert _verify(tmp_path, subprocess_env).returncode == ExitCode.OK
    with _open(sealed) as store:
        assert store.query("SELECT count() FROM agentaudit.tool_call_server_sides").rows == [(1,)]
        mutate(
            store,
            "ALTER TABLE agentaudit.tool_call_server_sides UPDATE resource_ids = ['forged'] "
            "WHERE 1",
        )
    done = _verify(tmp_path, subprocess_env)
    assert done.returncode == ExitCode.TAMPERED, done.stdout + done.stderr
    assert "tool_call_server_sides" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--digests", "DIGESTS"], "--digests needs --public-key"),
        (["--digests", "DIGESTS", "--public-key", "missing.pub"], "cannot read it"),
        (["--digests", "DIGESTS", "--public-key", "NOTAKEY"], "not a PEM public key"),
    ],
)
def test_verify_refuses_bad_digest_arguments(
    sealed: Path, tmp_path: Path, subprocess_env: dict[str, str], args: list[str], message: str
) -> None:
    (tmp_path / "NOTAKEY").write_text("-----BEGIN PUBLIC KEY-----\nnope\n")
    digests = str(tmp_path / ".agentaudit" / "digests")
    args = [digests if a == "DIGESTS" else str(tmp_path / a) if a != "--public-key" and
            not a.startswith("--") else a for a in args]  # fmt: skip
    done = _verify(tmp_path, subprocess_env, *args)
    assert done.returncode == ExitCode.CONFIG
    assert message in done.stdout + done.stderr


def test_hold_erase_and_export_on_a_stopped_store(
    sealed: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    store = ["--store", str(sealed)]
    placed = run(["hold", "place", "--session", "sess-1", "--reason", "m-4", "--by", "legal",
                  *store], subprocess_env, tmp_path)  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    assert "placed" in placed.stdout
    listed = run(["hold", "list", "--format", "json", *store], subprocess_env, tmp_path)
    holds = json.loads(listed.stdout)
    assert [(h["kind"], h["value"], h["placed_by"], h["active"]) for h in holds] == [
        ("session", "sess-1", "legal", True)
    ]
    refused = run(["erase", "user-1", "--reason", "ticket 3", *store], subprocess_env, tmp_path)
    assert refused.returncode == ExitCode.REFUSED
    assert "legal hold" in error_line(refused.stderr)
    released = run(["hold", "release", holds[0]["hold_id"], "--reason", "closed", *store],
                   subprocess_env, tmp_path)  # fmt: skip
    assert released.returncode == 0, released.stderr
    erased = run(["erase", "user-1", "--reason", "ticket 3", "--by", "dpo", *store],
                 subprocess_env, tmp_path, timeout=300)  # fmt: skip
    assert erased.returncode == 0, erased.stderr
    assert "row(s) rewritten as erased:" in erased.stdout
    verified = _verify(tmp_path, subprocess_env)
    assert verified.returncode == ExitCode.OK, verified.stdout
    assert "changed by erasure" in verified.stdout

    out = tmp_path / "siem.jsonl"
    exported = run(["export", "--ocsf", "--file", str(out), *store], subprocess_env, tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "unit(s)" in exported.stderr  # progress on stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["class_uid"] for e in events} == {6003, 3004, 2004}
    assert not any("user-1" in json.dumps(e) for e in events)  # exported after the erasure
    again = run(["export", "--ocsf", "--file", str(out), *store], subprocess_env, tmp_path)
    assert "exported 0 event(s)" in again.stdout  # the checkpoint: nothing twice


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hold", "place", "--from", "2026-11-01", "--reason", "r"], "--from and --to"),
        (["hold", "place", "--from", "soon", "--to", "later", "--reason", "r"], "ISO 8601"),
        (["hold", "place", "--session", " ", "--reason", "r"], "needs the session id"),
        (["hold", "release", "nope", "--reason", "r"], "no hold"),
        (["erase", "ab", "--reason", "r"], "shorter than"),
        (["export", "--file", "x.jsonl"], "--ocsf"),
        (["export", "--ocsf", "--file", "x.jsonl", "--since", "someday"], "since"),
    ],
)
def test_bad_arguments_print_one_error_line(
    tmp_path: Path, subprocess_env: dict[str, str], args: list[str], message: str
) -> None:
    directory = tmp_path / "store"
    with _open(directory) as store:
        apply_migrations(store)
    done = run([*args, "--store", str(directory)], subprocess_env, tmp_path)
    assert done.returncode in (ExitCode.CONFIG, ExitCode.REFUSED)
    assert message in error_line(done.stderr)
