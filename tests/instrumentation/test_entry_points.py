"""``opentelemetry-instrument python app.py`` finds agentaudit through its entry points.

The entry points are declared in a throw-away ``.dist-info`` on PYTHONPATH, exactly as
pyproject.toml declares them, so this test does not depend on how the package was
installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from agentaudit.collector.writer.normalise import is_tool_call

from .otlp_sink import otlp_http_sink

AGENT = Path(__file__).parent / "agents" / "mail_agent.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"

ENTRY_POINTS = """[opentelemetry_instrumentor]
agentaudit = agentaudit.instrumentation._instrumentor:AgentAuditInstrumentor
agentaudit_langchain = agentaudit.instrumentation.langchain:LangChainInstrumentor
agentaudit_mcp = agentaudit.instrumentation.mcp:McpInstrumentor
"""

pytestmark = pytest.mark.skipif(
    not INSTRUMENT.exists() and shutil.which("opentelemetry-instrument") is None,
    reason="opentelemetry-instrumentation is not installed",
)


def _dist_info(root: Path) -> Path:
    info = root / "agentaudit_entry_points_test-0.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: agentaudit-entry-points-test\nVersion: 0.0.0\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


def _run(tmp_path: Path, sink_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AGENTAUDIT_"))}
    env.update(
        PYTHONPATH=str(_dist_info(tmp_path / "site")),
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=sink_url,
        **extra,
    )
    command = str(INSTRUMENT) if INSTRUMENT.exists() else "opentelemetry-instrument"
    return subprocess.run(
        [command, sys.executable, str(AGENT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_opentelemetry_instrument_audits_the_agent(tmp_path: Path) -> None:
    with otlp_http_sink() as sink:
        done = _run(tmp_path, sink.url)
    tools = [s for s in sink.spans if is_tool_call(s)]
    assert [s.attributes["gen_ai.tool.name"] for s in tools] == ["send_email"], done.stderr


def test_disabling_the_entry_points_by_name(tmp_path: Path) -> None:
    names = {line.split(" = ")[0] for line in ENTRY_POINTS.splitlines() if " = " in line}
    names |= {
        e.name
        for e in entry_points(group="opentelemetry_instrumentor")
        if e.name.startswith("agentaudit")
    }
    with otlp_http_sink() as sink:
        _run(tmp_path, sink.url, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=",".join(sorted(names)))
    assert sink.spans == []
