"""Smoke tests of ``bench instrumentation``'s machinery: it runs and measures what it
says (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench._instrumentation import peerenv
from bench._instrumentation.workload import Workload


def test_peer_requirements_come_from_the_peers_extra() -> None:
    wanted = peerenv.requirements()
    assert wanted[:2] == ["-e", f"{peerenv.ROOT}[langchain]"]
    names = [spec.split(">")[0].split("=")[0].split("<")[0] for spec in wanted[2:]]
    assert names == list(peerenv.PEER_DISTRIBUTIONS)


def test_the_fallback_parser_reads_the_extra_as_tomllib_does(tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")
    text = (peerenv.ROOT / "pyproject.toml").read_text()
    exact = tomllib.loads(text)["project"]["optional-dependencies"]["peers"]
    assert peerenv._peers_extra(text) == exact
    missing = tmp_path / "pyproject.toml"
    missing.write_text('[project.optional-dependencies]\npeers = ["a>=1"]\n')
    with pytest.raises(RuntimeError, match="peers extra lacks"):
        peerenv.requirements(missing)


def test_every_prompt_is_fresh_and_quotes_source_zero() -> None:
    workload = Workload(20_000, 3)
    first, second = workload.prompt(1), workload.prompt(2)
    assert not {m["content"] for m in first} & {m["content"] for m in second}
    text = json.dumps(first, ensure_ascii=False)
    assert workload.sources[0] in text
    assert not any(source in text for source in workload.sources[1:])


def test_the_langchain_step_is_measured_with_agentaudit() -> None:
    """The peers' child in this environment (LangChain installed), agentaudit only."""
    pytest.importorskip("langchain_core")
    from bench._instrumentation.peers import measure

    point = measure("agentaudit", 2_000, 1, rounds=1)
    assert point["spans_per_step"] == 2  # chat + execute_tool; none while off
    assert point["instrumented"] > 0
    assert point["bare"] > 0
