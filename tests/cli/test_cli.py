"""The ``agentaudit`` command: help, exit codes and one-line errors for bad input.

In-process through :func:`agentaudit.cli.main` (fast, captures output) and as a real
``python -m agentaudit`` child where the exit code and the absence of a traceback are
the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentaudit.cli import main
from agentaudit.collector.admin.api import build_admin_app
from agentaudit.collector.serving.server import HttpServer
from agentaudit.config import embedded_dsn
from agentaudit.errors import ExitCode
from agentaudit.store import Store
from tests.collector.admin.gates import gate

pytestmark = pytest.mark.usefixtures("clean_env")

SUBCOMMANDS = ("up", "collector", "dashboard", "sql", "demo")
ADMIN = "responder-secret"


def run(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 90,
    *,
    traceback_ok: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python -m agentaudit ARGS`` to completion; a user error never shows a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "agentaudit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert traceback_ok or "Traceback" not in done.stderr, done.stderr
    return done


def error_line(stderr: str) -> str:
    """The single ``agentaudit: error:`` line, which must be the last line of stderr."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("agentaudit: error:")]
    assert len(errors) == 1, stderr
    assert lines[-1] == errors[0], stderr
    return errors[0]


# --- help ------------------------------------------------------------------------------


def test_top_level_help_mentions_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in out
    assert "AGENTAUDIT_CLICKHOUSE_URL" in out
    assert "AGENTAUDIT_ADMIN_TOKEN" in out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_help_mentions_the_environment(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: agentaudit {command}" in out
    assert "AGENTAUDIT_" in out


@pytest.mark.parametrize("command", ["up", "collector"])
def test_server_help_lists_the_contract_flags(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--store",
        "--clickhouse",
        "--host",
        "--grpc-port",
        "--http-port",
        "--api-port",
        "--no-dashboard",
        "--wal-dir",
        "--config",
        "AGENTAUDIT_GRPC_PORT",
    ):
        assert flag in out


def test_sql_help_names_the_admin_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sql", "--help"])
    out = capsys.readouterr().out
    assert "AGENTAUDIT_ADMIN_TOKEN" in out
    assert "AGENTAUDIT_API_URL" in out


def test_hash_password_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["hash-password", "--help"])
    assert caught.value.code == 0


def test_help_as_a_process(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["--help"], subprocess_env, tmp_path)
    assert done.returncode == 0
    assert "AGENTAUDIT_" in done.stdout
    assert done.stderr == ""


# --- usage errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["up", "--bogus"], "--bogus"),
        (["up", "--grpc-port", "http"], "--grpc-port"),
        (["sql", "SELECT 1", "--format", "xml"], "--format"),
        (["sql", "SELECT 1", "--store", "a", "--clickhouse", "http://h"], "--clickhouse"),
        (["nosuchcommand"], "nosuchcommand"),
        ([], "COMMAND"),
    ],
)
def test_usage_errors_exit_2_naming_the_problem(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse exits (SystemExit 2); a value it takes as text but the settings refuse is
    # returned as the same exit code, with the same one-line message.
    try:
        code = main(args)
    except SystemExit as exited:
        code = exited.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert needle in err.strip().splitlines()[-1]
    assert "Traceback" not in err


def test_unknown_flag_as_a_process(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["up", "--bogus"], subprocess_env, tmp_path)
    assert done.returncode == 2
    assert "unrecognized arguments: --bogus" in done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["sql", "SELECT 1", "--clickhouse", "chdb://./x"], "chdb:///absolute/path"),
        (["sql", "SELECT 1", "--clickhouse", "ftp://x"], "not a supported DSN"),
        (["sql", "SELECT 1", "--clickhouse", "http://"], "has no host"),
        (["up", "--no-dashboard", "--clickhouse", "chdb://./x"], "chdb:///absolute/path"),
        (["collector", "--clickhouse", "ftp://x"], "not a supported DSN"),
    ],
)
def test_malformed_dsn_is_one_line_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    line = error_line(capsys.readouterr().err)
    assert line.startswith("agentaudit: error: --clickhouse: ")
    assert needle in line


def test_malformed_dsn_as_a_process(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    done = run(["sql", "SELECT 1", "--clickhouse", "chdb://./x"], subprocess_env, tmp_path)
    assert done.returncode == 2
    assert "chdb:///absolute/path" in error_line(done.stderr)
    assert done.stdout == ""


def test_bad_env_var_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENTAUDIT_GRPC_PORT", "fourthousand")
    assert main(["up", "--no-dashboard", "--store", str(tmp_path / "s")]) == 2
    assert "AGENTAUDIT_GRPC_PORT" in error_line(capsys.readouterr().err)


def test_missing_config_file_names_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["sql", "SELECT 1", "--config", str(missing), "--store", str(tmp_path)]) == 2
    assert str(missing) in error_line(capsys.readouterr().err)


def test_public_bind_in_open_mode_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["up", "--no-dashboard", "--host", "0.0.0.0", "--store", str(tmp_path / "s")]
    assert main([*args, "--insecure-no-auth"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "--insecure-no-auth" in line
    assert "127.0.0.1" in line
    assert not (tmp_path / "s").exists()  # refused before touching the store


# --- the store -------------------------------------------------------------------------


def test_sql_json_prints_one_array(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    sql = "SELECT arrayJoin(range(3)) AS n, toString(n) AS s"
    assert main(["sql", sql, "--store", store, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == [{"n": 0, "s": "0"}, {"n": 1, "s": "1"}, {"n": 2, "s": "2"}]
    assert out.count("\n") == 1  # one line: one JSON document


def test_sql_table_and_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert main(["sql", "SELECT 1 AS one", "--store", store]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "(1 row)"
    assert main(["sql", "SELECT 1 AS one", "--store", store, "--format", "csv"]) == 0
    assert capsys.readouterr().out == "one\n1\n"


def test_sql_write_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert main(["sql", "DROP TABLE agentaudit.tool_calls", "--store", store]) == 8
    assert "refused: DROP statements are not allowed" in error_line(capsys.readouterr().err)
    assert main(["sql", "SELECT count() AS n FROM agentaudit.tool_calls", "--store", store]) == 0
    assert "0" in capsys.readouterr().out


def test_sql_syntax_error_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["sql", "SELEC 1", "--store", str(tmp_path / "store")]) == 8
    assert "not valid ClickHouse SQL" in error_line(capsys.readouterr().err)


def test_sql_query_clickhouse_rejects_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = str(tmp_path / "store")
    assert main(["sql", "SELECT no_such_column FROM tool_calls", "--store", store]) == 3
    assert "query failed" in error_line(capsys.readouterr().err)


def test_sql_on_the_default_store_when_no_api_answers(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTAUDIT_API_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["sql", "SELECT 7 AS seven", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"seven": 7}]
    assert (tmp_path / ".agentaudit" / "store").is_dir()


def test_sql_write_refused_as_a_process(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    done = run(
        ["sql", "DROP TABLE agentaudit.tool_calls", "--store", store], subprocess_env, tmp_path
    )
    assert done.returncode == 8
    assert "refused: DROP statements are not allowed" in error_line(done.stderr)
    assert done.stdout == ""
    done = run(
        [
            "sql",
            "SELECT count() AS n FROM agentaudit.tool_calls",
            "--store",
            store,
            "--format",
            "json",
        ],
        subprocess_env,
        tmp_path,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout) == [{"n": 0}]


def test_unwritable_store_dir(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    # Below a regular file: fails for root too, unlike a chmod.
    (tmp_path / "afile").write_text("")
    store = str(tmp_path / "afile" / "store")
    done = run(["sql", "SELECT 1", "--store", store], subprocess_env, tmp_path)
    assert done.returncode == 3
    line = error_line(done.stderr)
    assert "cannot use store directory" in line
    assert "--store" in line
    done = run(
        [
            "up",
            "--no-dashboard",
            "--store",
            store,
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--api-port",
            "0",
        ],
        subprocess_env,
        tmp_path,
    )
    assert done.returncode == 3
    assert "cannot use store directory" in error_line(done.stderr)


def test_store_locked_by_another_process(
    store: Store, store_dir: Path, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    import os

    done = run(["sql", "SELECT 1", "--store", str(store_dir)], subprocess_env, tmp_path)
    assert done.returncode == 4
    line = error_line(done.stderr)
    assert f"pid {os.getpid()}" in line
    assert "--api" in line
    done = run(
        [
            "up",
            "--no-dashboard",
            "--store",
            str(store_dir),
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--api-port",
            "0",
        ],
        subprocess_env,
        tmp_path,
    )
    assert done.returncode == 4
    assert f"pid {os.getpid()}" in error_line(done.stderr)


@pytest.mark.parametrize("flag", ["--grpc-port", "--api-port", "--http-port"])
def test_port_in_use_exits_5(
    flag: str, busy_port: int, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    ports = {"--grpc-port": "0", "--http-port": "0", "--api-port": "0", flag: str(busy_port)}
    args = ["up", "--no-dashboard", "--store", str(tmp_path / "store")]
    for name, value in ports.items():
        args += [name, value]
    done = run(args, subprocess_env, tmp_path)
    assert done.returncode == 5
    line = error_line(done.stderr)
    assert f"127.0.0.1:{busy_port}" in line
    assert flag in line
    # Nothing was left holding the store.
    with Store.open(embedded_dsn(tmp_path / "store")):
        pass


# --- through a running admin API -------------------------------------------------------


@pytest.fixture
def api_url(store: Store) -> Iterator[str]:
    server = HttpServer(
        build_admin_app(store, gate=gate(ADMIN)),
        host="127.0.0.1",
        port=0,
        what="the admin API",
        flag="--api-port",
    )
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_sql_api_with_admin_token(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    assert main(["sql", "SELECT 2 AS two", "--api", api_url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"two": 2}]


def test_sql_api_without_token_names_the_variable(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "SELECT 1", "--api", api_url]) == 8
    assert "AGENTAUDIT_ADMIN_TOKEN" in error_line(capsys.readouterr().err)


def test_sql_api_refusal_exits_8_with_the_guards_message(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    assert main(["sql", "SELECT file('/proc/self/environ')", "--api", api_url]) == 8
    captured = capsys.readouterr()
    assert "refused: function 'file' is not allowed" in error_line(captured.err)
    assert captured.out == ""


def test_sql_uses_the_api_url_when_a_process_answers(
    api_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The store is held by this process (as by a running `up`): sql must go through the API.
    monkeypatch.setenv("AGENTAUDIT_API_URL", api_url)
    monkeypatch.setenv("AGENTAUDIT_ADMIN_TOKEN", ADMIN)
    assert main(["sql", "SELECT 3 AS three", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "three\n3\n"


def test_sql_api_unreachable(
    capsys: pytest.CaptureFixture[str], free_port: Callable[[], int]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["sql", "SELECT 1", "--api", url]) == ExitCode.UNAVAILABLE
    assert f"the admin API at {url} is unreachable" in error_line(capsys.readouterr().err)


# --- demo ------------------------------------------------------------------------------


def test_demo_sends_to_the_endpoint_flag(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    from agentaudit.collector.identity.principals import Authenticator, Principal
    from agentaudit.collector.ingest.receiver_grpc import GrpcReceiver
    from agentaudit.collector.model import SpanRecord

    received: list[SpanRecord] = []

    def accept(spans: list[SpanRecord], *, principal: Principal | None = None) -> None:
        received.extend(spans)

    open_mode = Authenticator(agent_token=None, admin_token=None, open_mode=True)
    receiver = GrpcReceiver(
        accept, host="127.0.0.1", port=0, authenticate=open_mode.agent, workers=2
    )
    receiver.start()
    try:
        endpoint = f"http://127.0.0.1:{receiver.port}"
        # The agent's own instrumentation warnings are not what this test is about.
        done = run(
            ["demo", "--endpoint", endpoint], subprocess_env, tmp_path, 120, traceback_ok=True
        )
    finally:
        receiver.stop(grace=1.0)
    assert done.returncode == 0, done.stderr
    assert received, "the demo's spans did not reach --endpoint"
