"""Capture policy: caps, hostile arguments, redaction, results opt-in, per-tool config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import agentaudit
from agentaudit.errors import ConfigError
from agentaudit.instrumentation import configure
from agentaudit.instrumentation._canonical import canonical_json, digest
from agentaudit.instrumentation._settings import load_settings
from agentaudit.schema import attributes as A

from .conftest import Spans


@agentaudit.audited_tool
def take(value: Any) -> Any:
    return value


def _attrs(spans: Spans) -> dict[str, Any]:
    return dict(spans.tool("take").attributes or {})


def test_huge_argument_is_truncated_with_marker_and_full_hash(spans: Spans) -> None:
    configure(max_argument_bytes=1024)
    big = "x" * 5_000_000
    take(big)
    attrs = _attrs(spans)
    captured = str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert len(captured.encode()) < 1100
    assert captured.endswith(f"…[truncated, {len(canonical_json({'value': big}))} bytes in total]")
    assert attrs[A.ARGUMENTS_HASH] == digest(canonical_json({"value": big}))


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_hostile_arguments_never_break_the_call(spans: Spans) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    deep: Any = 0
    for _ in range(50_000):
        deep = {"d": deep}
    for value in (
        cyclic,
        deep,
        Hostile(),
        b"\x00binary\xff",
        {1: {2: [set(), frozenset({3})]}},
        [float("nan")],
        "\ud800",
    ):
        assert take(value) is value
    assert len(spans.tools()) == 7
    for span in spans.tools():
        attrs = span.attributes or {}
        json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS]))
        assert str(attrs[A.ARGUMENTS_HASH]).startswith("sha256:")


def test_sensitive_keys_are_redacted_in_process(spans: Spans) -> None:
    take({"user": "bob", "Password": "hunter2", "nested": [{"api_key": "k-1"}]})
    captured = str(_attrs(spans)[A.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert "hunter2" not in captured
    assert "k-1" not in captured
    assert json.loads(captured)["value"]["Password"] == "[REDACTED]"


def test_redaction_hook_runs_before_hashing(spans: Spans) -> None:
    seen: list[tuple[str, str]] = []

    def redact(tool: str, kind: str, value: Any) -> Any:
        seen.append((tool, kind))
        return {"masked": True} if kind == "arguments" else value

    configure(redact=redact)
    take("4111 1111 1111 1111")
    attrs = _attrs(spans)
    assert json.loads(str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"masked": True}
    assert attrs[A.ARGUMENTS_HASH] == digest(canonical_json({"masked": True}))
    assert seen == [("take", "arguments"), ("take", "result")]


def test_capture_switches_and_result_opt_in(spans: Spans, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTAUDIT_CAPTURE_ARGUMENTS", "false")
    monkeypatch.setenv("AGENTAUDIT_CAPTURE_RESULTS", "true")
    configure(reset=True)
    take("hello")
    attrs = _attrs(spans)
    assert A.GEN_AI_TOOL_CALL_ARGUMENTS not in attrs
    assert attrs[A.ARGUMENTS_HASH] == digest(canonical_json({"value": "hello"}))
    assert attrs[A.GEN_AI_TOOL_CALL_RESULT] == '"hello"'


def test_per_tool_config_from_file(
    spans: Spans, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "agentaudit.toml"
    config.write_text(
        "[instrumentation]\nhash_key = 'secret-key'\n"
        "[instrumentation.tools.take]\ntrust = 'trusted'\nresource = 'doc:{value}'\n"
        "capture_results = true\n"
    )
    monkeypatch.setenv("AGENTAUDIT_CONFIG", str(config))
    configure(reset=True)
    with agentaudit.context(session="s"):
        take("readme-long-enough-to-match")
        agentaudit.record_prompt(["readme-long-enough-to-match"])
        take("second")
    first, second = (s.attributes or {} for s in spans.tools())
    assert first[A.RESOURCE_IDS] == ("doc:readme-long-enough-to-match",)
    assert first[A.GEN_AI_TOOL_CALL_RESULT] == '"readme-long-enough-to-match"'
    assert str(first[A.ARGUMENTS_HASH]).startswith("hmac-sha256:")
    assert second[A.SOURCE_TRUST] == ("trusted",)
    assert str(second[A.PROMPT_HASH]).startswith("hmac-sha256:")


def test_bad_settings_fail_open_from_env_but_raise_from_code() -> None:
    loaded = load_settings({"AGENTAUDIT_MAX_ARGUMENT_BYTES": "lots"})
    assert loaded.max_argument_bytes == 16_384
    with pytest.raises(ConfigError, match="max_argument_bytes"):
        configure(max_argument_bytes="lots")
