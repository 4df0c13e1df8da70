"""``agentaudit sql --store`` as a real process: the hostile corpus exits 8 with one line.

Every query of ``tests/store/hostile_sql.py`` runs as its own ``python -m agentaudit sql``
child (a few children at a time, each on a store directory of its own, since a store
has one owner). One the command line cannot carry (a NUL byte) runs in-process instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import SimpleQueue

import pytest

from agentaudit.cli import main
from agentaudit.config import embedded_dsn
from agentaudit.errors import ExitCode
from agentaudit.store import Store
from agentaudit.store.migrations import apply_migrations
from tests.store.documented_sql import DOCUMENTED
from tests.store.hostile_sql import HOSTILE

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_env")]

PARALLEL = 4
SECRET = "responder-token-that-must-never-leak-1f2e3d4c"


def sql_process(
    sql: str, store: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentaudit", "sql", sql, "--store", str(store), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def only_error_line(stderr: str) -> str:
    """The stderr of a refused query: exactly one ``agentaudit: error:`` line."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("agentaudit: error: refused: "), stderr
    return lines[0]


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    # The token is in the child's environment, where file('/proc/self/environ') would look.
    return {**subprocess_env, "AGENTAUDIT_ADMIN_TOKEN": SECRET}


@pytest.fixture
def stores(tmp_path: Path) -> SimpleQueue[Path]:
    """PARALLEL migrated store directories, handed out one per running child."""
    free: SimpleQueue[Path] = SimpleQueue()
    for number in range(PARALLEL):
        directory = tmp_path / f"store-{number}"
        with Store.open(embedded_dsn(directory)) as store:
            apply_migrations(store)
        free.put(directory)
    return free


def test_every_hostile_query_exits_8_naming_what_is_not_allowed(
    env: dict[str, str], stores: SimpleQueue[Path]
) -> None:
    runnable = [(sql, fragment) for sql, fragment in HOSTILE if "\x00" not in sql]

    def check(entry: tuple[str, str]) -> str | None:
        sql, fragment = entry
        store = stores.get()
        try:
            done = sql_process(sql, store, env)
        finally:
            stores.put(store)
        problems = []
        if done.returncode != ExitCode.REFUSED:
            problems.append(f"exit {done.returncode}")
        if done.stdout:
            problems.append(f"stdout {done.stdout[:80]!r}")
        lines = done.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("agentaudit: error: refused: "):
            problems.append(f"stderr {done.stderr[-300:]!r}")
        elif fragment not in lines[0]:
            problems.append(f"{fragment!r} not in {lines[0]!r}")
        if SECRET in done.stdout + done.stderr:
            problems.append("the token leaked")
        return f"{sql[:80]!r}: {'; '.join(problems)}" if problems else None

    with ThreadPoolExecutor(PARALLEL) as pool:
        failures = [problem for problem in pool.map(check, runnable) if problem]
    assert not failures, "\n".join(failures)


def test_a_nul_byte_is_refused_in_process(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for sql, fragment in HOSTILE:
        if "\x00" in sql:  # a command line cannot carry it
            assert main(["sql", sql, "--store", str(tmp_path / "store")]) == ExitCode.REFUSED
            assert fragment in only_error_line(capsys.readouterr().err)


def test_reading_the_process_environment_exits_8_without_the_token(
    env: dict[str, str], tmp_path: Path
) -> None:
    done = sql_process("SELECT file('/proc/self/environ')", tmp_path / "store", env)
    assert done.returncode == ExitCode.REFUSED
    assert done.stdout == ""
    line = only_error_line(done.stderr)
    assert "function 'file' is not allowed" in line
    assert SECRET not in done.stdout + done.stderr


def test_documented_queries_run(env: dict[str, str], stores: SimpleQueue[Path]) -> None:
    def check(entry: tuple[str, str]) -> str | None:
        where, sql = entry
        store = stores.get()
        try:
            done = sql_process(sql, store, env, "--format", "json")
        finally:
            stores.put(store)
        if done.returncode != 0:
            return f"{where}: exit {done.returncode}: {done.stderr[-300:]}"
        json.loads(done.stdout)
        return None

    with ThreadPoolExecutor(PARALLEL) as pool:
        failures = [problem for problem in pool.map(check, DOCUMENTED) if problem]
    assert not failures, "\n".join(failures)
