"""The ``[detector]`` table: defaults, precedence, the learning cap, errors naming keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentaudit.config import load_config
from agentaudit.detector.policy import DetectorSettings, load_detector_settings
from agentaudit.errors import ConfigError

TOML = """
[detector]
learning_calls = 500
learning_days = 14

[detector.actions]
medium = "none"

[detector.rules.fan_out]
high = "revoke_credential"

[detector.rules.off_hours]
enabled = false

[detector.agents.support-bot.actions]
high = "alert"

[detector.agents.support-bot.rules.fan_out]
critical = "alert"

[detector.agents.deploy-bot.rules.new_tool]
enabled = false
"""


def settings_from(tmp_path: Path, text: str) -> DetectorSettings:
    path = tmp_path / "agentaudit.toml"
    path.write_text(text)
    config = load_config({"config": str(path), "store": str(tmp_path / "s")}, environ={})
    return load_detector_settings(config.sections)


def test_defaults() -> None:
    settings = load_detector_settings({})
    assert (settings.enabled, settings.learning_calls, settings.learning_days) == (True, 200, 7.0)
    policy = settings.policy
    assert policy.action("a", "fan_out", "critical") == "quarantine"
    assert policy.action("a", "fan_out", "high") == "quarantine"
    assert policy.action("a", "fan_out", "medium") == "alert"
    assert policy.action("a", "new_transition", "low") == "alert"
    assert policy.action("a", "fan_out", "critical", learning=True) == "alert"


def test_precedence_agent_rule_then_agent_then_rule_then_default(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, TOML)
    assert (settings.learning_calls, settings.learning_days) == (500, 14)
    policy = settings.policy
    assert policy.action("support-bot", "fan_out", "critical") == "alert"  # agent + rule
    assert policy.action("support-bot", "fan_out", "high") == "alert"  # agent
    assert policy.action("other", "fan_out", "high") == "revoke_credential"  # rule
    assert policy.action("other", "burst", "medium") == "none"  # [detector.actions]
    assert policy.action("other", "burst", "high") == "quarantine"  # built-in default
    assert policy.action("other", "fan_out", "high", learning=True) == "alert"
    assert not policy.enabled("anyone", "off_hours")
    assert not policy.enabled("deploy-bot", "new_tool")
    assert policy.enabled("support-bot", "new_tool")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[detector]\nlearning_calls = 'many'",
            "[detector].learning_calls must be a finite, non-negative number",
        ),
        ("[detector]\nwindow_seconds = inf", "[detector].window_seconds must be a finite"),
        ("[detector]\ngroup_seconds = nan", "[detector].group_seconds must be a finite"),
        (
            "[detector]\nmax_claimed_age_seconds = 0",
            "[detector].max_claimed_age_seconds must be greater than zero",
        ),
        (
            "[detector]\nmax_claimed_age_seconds = -5",
            "[detector].max_claimed_age_seconds must be a finite, non-negative number",
        ),
        ("[detector]\nlearning_calls = 2.5", "[detector].learning_calls must be an integer"),
        ("[detector]\nlerning_days = 3", "unknown key 'lerning_days'"),
        ("[detector.actions]\nhigh = 'nuke'", "[detector.actions].high: 'nuke' is not one of"),
        ("[detector.rules.fan_out]\nhigh = 'nuke'", "[detector.rules.fan_out].high: 'nuke'"),
        ("[detector.rules.fan-out]\nhigh = 'alert'", "unknown rule 'fan-out'"),
        (
            "[detector.agents.a.rules.new_tool]\nenabled = 'no'",
            "[detector.agents.a.rules.new_tool].enabled must be true or false",
        ),
        ("[detector]\nnovelty = 2", "[detector].novelty must be between 0 and 1"),
        ("[detector]\nwindow_seconds = 0", "[detector].window_seconds must be greater than zero"),
        ("[detector]\nmax_cpu = 1.5", "[detector].max_cpu must be above 0 and at most 1"),
        (
            "[detector]\nunrecorded_grace_seconds = 0",
            "[detector].unrecorded_grace_seconds must be greater than zero",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, text)
    assert message in str(caught.value)


def test_the_claimed_time_tolerance_is_a_setting(tmp_path: Path) -> None:
    assert settings_from(tmp_path, "").max_claimed_age_seconds == 60.0
    trusting = settings_from(tmp_path, "[detector]\nmax_claimed_age_seconds = 1209600")
    assert trusting.max_claimed_age_seconds == 1_209_600


def test_the_unrecorded_call_grace_is_a_setting(tmp_path: Path) -> None:
    assert settings_from(tmp_path, "").unrecorded_grace_seconds == 60.0
    late = settings_from(tmp_path, "[detector]\nunrecorded_grace_seconds = 900")
    assert late.unrecorded_grace_seconds == 900.0


def test_detector_mode_setting(tmp_path: Path) -> None:
    embedded = load_config({"store": str(tmp_path / "s")}, environ={})
    assert embedded.detector_mode == "auto"
    assert embedded.runs_detector
    server = load_config({"clickhouse_url": "http://u:p@ch:8123/agentaudit"}, environ={})
    assert not server.runs_detector
    assert load_config(
        {"clickhouse_url": "http://ch:8123/agentaudit", "detector_mode": "on"}, environ={}
    ).runs_detector
    off = load_config({"store": str(tmp_path / "s")}, environ={"AGENTAUDIT_DETECTOR_MODE": "off"})
    assert not off.runs_detector
    path = tmp_path / "c.toml"
    path.write_text('detector_mode = "maybe"\n')
    with pytest.raises(ConfigError, match="config file key 'detector_mode': 'maybe' is not one of"):
        load_config({"config": str(path)}, environ={})
