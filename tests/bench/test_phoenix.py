"""The Phoenix side of the ingest bench (bench/_ingest/phoenix.py, bench/_envs.py,
clients.py): the parts that need neither Phoenix installed nor the network.

Nothing here installs, starts or measures anything; the bench itself does that.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench._envs import STAMP, Environment, install_commands
from bench._ingest import clients, phoenix

# The reply of Phoenix 20.26.1's GraphQL API to COUNT_QUERY, recorded from a server that
# had received spans for two projects.
RECORDED_REPLY = (
    '{"data":{"projects":{"edges":[{"node":{"name":"default","recordCount":3072}},'
    '{"node":{"name":"agents","recordCount":5}}]}}}'
)


def test_span_count_sums_every_project() -> None:
    assert phoenix.span_count(json.loads(RECORDED_REPLY)) == 3077


def test_span_count_of_a_fresh_server_is_zero() -> None:
    reply = {"data": {"projects": {"edges": [{"node": {"name": "default", "recordCount": 0}}]}}}
    assert phoenix.span_count(reply) == 0


def test_span_count_reports_graphql_errors() -> None:
    reply = {"data": None, "errors": [{"message": "Cannot query field 'recordCount'"}]}
    with pytest.raises(phoenix.PhoenixError, match="recordCount"):
        phoenix.span_count(reply)


def test_count_query_posts_graphql_to_the_server() -> None:
    request = phoenix.count_query("http://127.0.0.1:6006")
    assert request.full_url == "http://127.0.0.1:6006/graphql"
    assert request.get_method() == "POST"
    assert json.loads(request.data)["query"] == phoenix.COUNT_QUERY  # type: ignore[arg-type]


def test_server_env_sets_phoenix_and_drops_ours(tmp_path: Path) -> None:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/bench",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://elsewhere:4318",
        "PHOENIX_SQL_DATABASE_URL": "postgresql://prod",
        "AGENTAUDIT_TOKEN": "secret",
        "PYTHONPATH": "/work/main",
        "VIRTUAL_ENV": "/work/main/.venv",
    }
    env = phoenix.server_env(tmp_path, 16006, 14317, base)
    assert env["PATH"] == "/usr/bin"
    assert env["HOME"] == "/home/bench"
    assert env["PHOENIX_WORKING_DIR"] == str(tmp_path)
    assert env["PHOENIX_PORT"] == "16006"
    assert env["PHOENIX_GRPC_PORT"] == "14317"
    assert env["PHOENIX_HOST"] == "127.0.0.1"
    assert env["PHOENIX_TELEMETRY_ENABLED"] == "false"
    for dropped in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "PHOENIX_SQL_DATABASE_URL",
        "AGENTAUDIT_TOKEN",
        "PYTHONPATH",
        "VIRTUAL_ENV",
    ):
        assert dropped not in env


def test_server_command_runs_phoenix_serve_in_its_environment(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    assert phoenix.server_command(python) == [str(python), "-m", "phoenix.server.main", "serve"]


def _run(sent: int, queryable: int, seconds: float, cpu: float) -> phoenix.PhoenixRun:
    return phoenix.PhoenixRun(
        sent=sent,
        queryable=queryable,
        seconds=seconds,
        acknowledged_seconds=0.1,
        failures=0,
        server_cpu=cpu,
        senders_cpu=0.03,
    )


def test_result_takes_medians_and_names_partial_runs() -> None:
    runs = [
        _run(3072, 3072, 20.0, 20.0),
        _run(3072, 3072, 30.0, 24.0),
        _run(3072, 1000, 60.0, 50.0),
    ]
    result = phoenix.PhoenixResult("20.26.1", "reused", "OTLP/HTTP (protobuf)", runs, 95.0)
    assert result.rate == pytest.approx(3072 / 30.0)
    assert result.server_us == pytest.approx(24.0 / 3072 * 1e6)
    assert result.senders_us == pytest.approx(0.03 / 3072 * 1e6)
    assert not result.complete
    text = result.describe()
    assert "Phoenix 20.26.1" in text
    assert "1,000 of 3,072 queryable" in text
    assert "took 95 s" in text


def test_install_commands_use_uv_when_there_is_one(tmp_path: Path) -> None:
    wanted = ("arize-phoenix==1.0",)
    commands = install_commands(tmp_path / "env", wanted, uv="/bin/uv", python="py")
    assert commands[0] == ["/bin/uv", "venv", "--quiet", "--python", "py", str(tmp_path / "env")]
    assert commands[1][:3] == ["/bin/uv", "pip", "install"]
    assert commands[1][-1] == "arize-phoenix==1.0"
    assert str(tmp_path / "env" / "bin" / "python") in commands[1]


def test_install_commands_fall_back_to_venv_and_pip(tmp_path: Path) -> None:
    wanted = ("arize-phoenix==1.0",)
    commands = install_commands(tmp_path / "env", wanted, uv=None, python="py")
    assert commands[0] == ["py", "-m", "venv", "--clear", str(tmp_path / "env")]
    assert commands[-1] == [
        str(tmp_path / "env" / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "arize-phoenix==1.0",
    ]


def test_an_environment_is_reused_only_when_stamped_for_these_requirements(
    tmp_path: Path,
) -> None:
    env = Environment("arize-phoenix-1.0", ("arize-phoenix==1.0",), root=tmp_path)
    assert env.path == tmp_path / "arize-phoenix-1.0"
    assert not env.ready()
    env.python.parent.mkdir(parents=True)
    env.python.touch()
    assert not env.ready()  # half-built: no stamp
    (env.path / STAMP).write_text(env.stamp_text())
    assert env.ready()
    assert env.ensure() is False  # reused, nothing run
    older = Environment("arize-phoenix-1.0", ("arize-phoenix==0.9",), root=tmp_path)
    (env.path / STAMP).write_text(older.stamp_text())
    assert not env.ready()
    keyed = Environment("arize-phoenix-1.0", ("arize-phoenix==1.0",), key="x", root=tmp_path)
    assert not keyed.ready()  # another key (e.g. a changed pyproject.toml)


def test_senders_pick_the_transport_from_the_endpoint() -> None:
    assert clients.is_http("http://127.0.0.1:6006/v1/traces")
    assert clients.is_http("https://collector.example/v1/traces")
    assert not clients.is_http("127.0.0.1:4317")


def test_http_sender_retries_on_backpressure() -> None:
    assert {429, 503} <= clients.RETRY_HTTP_STATUS
    assert 500 not in clients.RETRY_HTTP_STATUS
