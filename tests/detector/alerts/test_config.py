"""``[detector.alerts]``: parsing (errors name the key) and the router it builds, end to
end from TOML text to a real receiver and a real OCSF file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.admin.revocation import RetryPolicy, load_revocation_settings
from agentaudit.detector.alerts import (
    ChatWebhookSink,
    OcsfFileSink,
    build_alert_sinks,
    load_alert_settings,
)
from agentaudit.errors import ConfigError
from tests.broker.receivers import RunningReceiver
from tests.detector.alerts.helpers import SECRET, SENTENCE, finding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REVOCATION = """
[revocation]
dashboard_url = "http://127.0.0.1:8501"
retry = { attempts = 4, base_delay = 0.1 }
[[revocation.webhook]]
name = "secops-chat"
url = "https://chat.example/hooks/abc"
secret_env = "SECOPS_SECRET"
[[revocation.webhook]]
name = "pager"
url = "https://pager.example/hook"
secret_env = "PAGER_SECRET"
"""
ENV = {"SECOPS_SECRET": "s1", "PAGER_SECRET": "s2", "SOC_SECRET": "s3"}


def _sections(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def test_absent_section_means_every_revocation_webhook_and_no_file() -> None:
    settings = load_alert_settings(_sections(REVOCATION), ENV)
    assert [h.name for h in settings.webhooks] == ["secops-chat", "pager"]
    assert settings.webhooks[0].secret == "s1"
    assert settings.ocsf_file is None
    assert settings.retry == RetryPolicy(attempts=4, base_delay=0.1)  # [revocation] retry
    assert (settings.min_severity, settings.group_window, settings.follow_up_interval) == (
        "low",
        900.0,
        60.0,
    )
    assert load_alert_settings({}, {}).webhooks == ()
    assert "s1" not in repr(settings)


def test_a_full_section(tmp_path: Path) -> None:
    text = (
        REVOCATION
        + f"""
[detector.alerts]
min_severity = "medium"
webhooks = ["pager", "soc"]
ocsf_file = "{tmp_path / "siem" / "f.jsonl"}"
ocsf_max_bytes = 1048576
ocsf_backups = 2
group_window = 300
follow_up_interval = 30.5
queue_size = 10
retry = {{ attempts = 2 }}
[[detector.alerts.webhook]]
name = "soc"
url = "http://127.0.0.1:9/soc"
secret_env = "SOC_SECRET"
timeout = 2.0
"""
    )
    settings = load_alert_settings(_sections(text), {"PAGER_SECRET": "s2", "SOC_SECRET": "s3"})
    assert [(h.name, h.secret) for h in settings.webhooks] == [("pager", "s2"), ("soc", "s3")]
    assert settings.webhooks[1].timeout == 2.0
    assert settings.ocsf_file == tmp_path / "siem" / "f.jsonl"
    assert (settings.ocsf_max_bytes, settings.ocsf_backups) == (1048576, 2)
    assert (settings.min_severity, settings.group_window, settings.follow_up_interval) == (
        "medium",
        300.0,
        30.5,
    )
    assert settings.queue_size == 10
    assert settings.retry == RetryPolicy(attempts=2)
    # Only the selected webhooks' secrets are read: SECOPS_SECRET is not set here.

    router = build_alert_sinks(_sections(text), dashboard_url=None, environ=ENV)
    try:
        assert [type(s) for s in router.sinks] == [ChatWebhookSink, ChatWebhookSink, OcsfFileSink]
        assert [s.name for s in router.sinks] == ["pager", "soc", "ocsf"]
        assert router.min_severity == "medium"
    finally:
        router.close()


def test_an_empty_list_turns_chat_alerts_off() -> None:
    text = REVOCATION + "[detector.alerts]\nwebhooks = []\n"
    assert load_alert_settings(_sections(text), {}).webhooks == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('min_severity = "urgent"', r"\[detector.alerts\].min_severity: 'urgent' is not one of"),
        ("min_severity = 3", r"\[detector.alerts\].min_severity must be a non-empty string"),
        ('webhooks = "secops-chat"', r"\[detector.alerts\].webhooks must be a list"),
        ('webhooks = ["nope"]', r"\[detector.alerts\].webhooks names 'nope'"),
        ("group_window = 0", r"\[detector.alerts\].group_window must be greater than zero"),
        ('group_window = "1h"', r"\[detector.alerts\].group_window must be a finite, non-neg"),
        ("follow_up_interval = -1", r"\[detector.alerts\].follow_up_interval must be a finite"),
        ("queue_size = 1.5", r"\[detector.alerts\].queue_size must be an integer"),
        ("queue_size = 0", r"\[detector.alerts\].queue_size must be greater than zero"),
        ("ocsf_max_bytes = 1000", r"\[detector.alerts\].ocsf_max_bytes must be at least"),
        ("ocsf_backups = -1", r"\[detector.alerts\].ocsf_backups must be a finite, non-neg"),
        ('ocsf_file = ""', r"\[detector.alerts\].ocsf_file must be a non-empty string"),
        ("retry = { attempts = 0 }", r"\[detector.alerts\].retry\]?: retry attempts"),
        ("retry = { tries = 2 }", r"\[detector.alerts\].retry: unknown key 'tries'"),
        ("webhook_url = 'x'", r"\[detector.alerts\]: unknown key 'webhook_url'"),
        ("webhook = 'x'", r"\[detector.alerts.webhook\] must be an array of tables"),
    ],
)
def test_bad_values_name_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_alert_settings(_sections(REVOCATION + "[detector.alerts]\n" + body + "\n"), ENV)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[detector.alerts.webhook]]\nurl = "ftp://x"\nsecret = "s"\n',
            r"\[\[detector.alerts.webhook\]\] #1.url: 'ftp://x' is not an http\(s\) URL",
        ),
        (
            '[[detector.alerts.webhook]]\nurl = "http://x"\nsecret_env = "UNSET"\n',
            r"\[\[detector.alerts.webhook\]\] #1.secret_env names UNSET, which is not set",
        ),
        (
            '[[detector.alerts.webhook]]\nname = "pager"\nurl = "http://x"\nsecret = "s"\n',
            r"webhook name 'pager' is used twice",
        ),
        (
            '[[detector.alerts.webhook]]\nurl = "http://x"\nsecret = "s"\nsecrets = 1\n',
            r"\[\[detector.alerts.webhook\]\] #1: unknown key 'secrets'",
        ),
    ],
)
def test_bad_own_webhooks_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_alert_settings(_sections(REVOCATION + text), ENV)


def test_a_selected_revocation_webhook_needs_its_secret() -> None:
    text = REVOCATION + '[detector.alerts]\nwebhooks = ["pager"]\n'
    with pytest.raises(
        ConfigError, match=r"\[\[revocation.webhook\]\] #2.secret_env names PAGER_SECRET"
    ):
        load_alert_settings(_sections(text), {"SECOPS_SECRET": "s1"})


def test_tables_of_the_wrong_type_are_named() -> None:
    with pytest.raises(ConfigError, match=r"\[detector\] must be a table"):
        load_alert_settings({"detector": 3}, {})
    with pytest.raises(ConfigError, match=r"\[detector.alerts\] must be a table"):
        load_alert_settings({"detector": {"alerts": [1]}}, {})


def test_an_unopenable_ocsf_file_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    text = f'[detector.alerts]\nocsf_file = "{tmp_path / "file" / "f.jsonl"}"\n'
    with pytest.raises(ConfigError, match=r"\[detector.alerts\].ocsf_file: cannot open"):
        build_alert_sinks(_sections(text), dashboard_url=None, environ={})


def test_revocation_parsing_is_unchanged_by_the_shared_helpers() -> None:
    settings = load_revocation_settings(_sections(REVOCATION), ENV)
    assert [h.name for h in settings.webhooks] == ["secops-chat", "pager"]
    assert settings.retry == RetryPolicy(attempts=4, base_delay=0.1)


def test_end_to_end_from_toml_to_the_channel_and_the_siem(tmp_path: Path) -> None:
    ocsf = tmp_path / "findings.ocsf.jsonl"
    with RunningReceiver(SECRET) as running:
        text = f"""
[[revocation.webhook]]
name = "secops-chat"
url = "{running.url}"
secret_env = "WEBHOOK_SECRET"
[detector.alerts]
ocsf_file = "{ocsf}"
"""
        router = build_alert_sinks(
            _sections(text),
            dashboard_url="http://127.0.0.1:8501",
            environ={"WEBHOOK_SECRET": SECRET},
        )
        with router:
            assert router.submit(finding()) == "alerted"
            assert router.submit(finding()) == "grouped"
        # close (on leaving ``with``) sent the pending follow-up and drained the queues
    deliveries = running.receiver.deliveries
    assert [d.signature_ok for d in deliveries] == [True, True]
    assert [d.payload["event"] for d in deliveries] == [
        "agentaudit.finding",
        "agentaudit.finding.update",
    ]
    assert SENTENCE in deliveries[0].payload["text"]
    assert "http://127.0.0.1:8501/session?session=sess-42" in deliveries[0].payload["text"]
    events = [json.loads(line) for line in ocsf.read_text().splitlines()]
    assert [e["activity_id"] for e in events] == [1, 2]
    assert events[1]["count"] == 2
    stats = router.stats()["sinks"]
    assert (stats["secops-chat"].delivered, stats["ocsf"].delivered) == (2, 2)
