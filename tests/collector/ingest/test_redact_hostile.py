"""Hostile input: huge values, deep nesting, many attributes, broken encodings.

No timing assertions (these machines are noisy): each test runs under a generous
pytest-timeout, which a backtracking engine or a quadratic loop would blow through by
orders of magnitude, and checks that the output is still correct.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentaudit.collector.ingest.redaction import NESTING_RULE, Redactor, available_engines
from agentaudit.collector.ingest.redaction._engines import MAX_CALLBACKS
from agentaudit.collector.ingest.redaction._scanner import MAX_MATCHES_PER_VALUE
from agentaudit.collector.model import SpanEvent, SpanRecord
from agentaudit.schema import attributes as A

ENV = {"AGENTAUDIT_REDACTION_KEY": "test-key-0123456789abcdef"}
AWS = "AKIAIOSFODNN7EXAMPLE"
MB = 1 << 20

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module", params=available_engines())
def redactor(request: pytest.FixtureRequest) -> Redactor:
    return Redactor.from_config({}, environ=ENV, engine=request.param)


def span(attributes: dict[str, Any]) -> SpanRecord:
    return SpanRecord("a" * 32, "b" * 16, "execute_tool t", 1, 2, attributes=attributes)


def test_ten_megabyte_values_with_secrets_at_both_ends(redactor: Redactor) -> None:
    filler = "lorem ipsum dolor sit amet " * (10 * MB // 27)
    record = span({"big": f"{AWS} {filler} {AWS}", "other": "fine"})
    redactor.redact([record])
    big = record.attributes["big"]
    assert AWS not in big
    assert big.startswith("[REDACTED:aws_access_key_id] lorem")
    assert big.endswith("amet  [REDACTED:aws_access_key_id]")
    assert record.attributes["other"] == "fine"


def test_ten_megabytes_of_pathological_near_matches(redactor: Redactor) -> None:
    # Long runs that keep every automaton "almost matching": digits with separators
    # (cards, phones), base64url with dots (JWT), and an unterminated PEM header.
    values = {
        "digits": "1 2-" * (2 * MB),
        "jwt": "eyJ" + "a" * (2 * MB) + ".",
        "pem": "-----BEGIN PRIVATE KEY-----" + "A" * (2 * MB),
        "at": "a@" * MB,
    }
    record = span(dict(values))
    redactor.redact([record])
    assert record.attributes["digits"] == values["digits"]
    assert record.attributes["jwt"] == values["jwt"]
    assert record.attributes["at"] == values["at"]
    assert record.attributes["pem"] == "[REDACTED:pem_private_key]"


def test_a_value_with_too_many_matches_is_replaced_whole(redactor: Redactor) -> None:
    many = " ".join(f"u{i}@example.com" for i in range(MAX_MATCHES_PER_VALUE * 5))
    record = span({"mails": many})
    redactor.redact([record])
    assert record.attributes["mails"].startswith("hmac:email:")
    assert "@" not in record.attributes["mails"]


def test_more_matches_than_the_engine_reports_still_all_redacted(redactor: Redactor) -> None:
    # Enough matches across values to overflow Hyperscan's callback budget.
    spans = [span({"k": f"{AWS} {AWS} {AWS}"}) for _ in range(MAX_CALLBACKS // 2)]
    redactor.redact(spans)
    assert all(AWS not in s.attributes["k"] for s in spans)
    assert all(s.redactions == {"aws_access_key_id": 3} for s in spans)


@pytest.mark.parametrize("depth", [80, 5_000, 200_000])
def test_deeply_nested_json_arguments(redactor: Redactor, depth: int) -> None:
    nested = "[" * depth + json.dumps({"password": "hunter2hunter2", "k": AWS}) + "]" * depth
    record = span({A.GEN_AI_TOOL_CALL_ARGUMENTS: nested})
    redactor.redact([record])
    out = record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS]
    assert "hunter2hunter2" not in out
    assert AWS not in out
    assert record.redactions.get(NESTING_RULE) == 1


def test_shallow_json_still_gets_a_structural_walk(redactor: Redactor) -> None:
    nested = "[" * 30 + json.dumps({"password": "p", "k": AWS}) + "]" * 30
    record = span({A.GEN_AI_TOOL_CALL_ARGUMENTS: nested})
    redactor.redact([record])
    inner = json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])
    for _ in range(30):
        inner = inner[0]
    assert inner == {"password": "[REDACTED:secret_key]", "k": "[REDACTED:aws_access_key_id]"}


def test_deeply_nested_native_values(redactor: Redactor) -> None:
    value: Any = {"api_key": "x"}
    for _ in range(500):
        value = {"v": value}
    record = span({"kv": value})
    redactor.redact([record])
    assert record.attributes["kv"] == {NESTING_RULE: f"[REDACTED:{NESTING_RULE}]"}
    assert record.redactions == {NESTING_RULE: 1}


def test_ten_thousand_attributes(redactor: Redactor) -> None:
    attributes: dict[str, Any] = {f"attr.{i}": f"value {i}" for i in range(10_000)}
    attributes.update({f"secret.{i}": f"k {AWS}" for i in range(0, 10_000, 7)})
    attributes.update({f"x{i}.password": "p" for i in range(0, 10_000, 11)})
    record = span(attributes)
    redactor.redact([record])
    out = record.attributes
    assert out["attr.9999"] == "value 9999"
    assert all(v == "k [REDACTED:aws_access_key_id]" for k, v in out.items() if k[:7] == "secret.")
    assert record.redactions == {"aws_access_key_id": 1429, "secret_key": 910}


def test_ten_thousand_distinct_keys_per_request_do_not_grow_the_cache(redactor: Redactor) -> None:
    for batch in range(3):
        record = span({f"k{batch}.{i}": "v" for i in range(10_000)})
        record.events = [SpanEvent(1, f"event {batch}.{i}") for i in range(1_000)]
        record.scope_name = f"scope {batch}"
        redactor.redact([record])
        spans = [SpanRecord("a" * 32, "b" * 16, f"span {batch}.{i}", 1, 2) for i in range(10_000)]
        redactor.redact(spans)
    assert len(redactor._key_cache) <= 8_192
    assert len(redactor._attribute_cache) <= 8_192
    assert len(redactor._clean_names) <= 8_192


def test_ten_thousand_secret_attribute_names_keep_every_value(redactor: Redactor) -> None:
    attributes = {f"x{i} AKIAIOSFODNN7E{i:06d}": i for i in range(10_000)}
    record = span(attributes)
    redactor.redact([record])
    assert sorted(record.attributes.values()) == list(range(10_000))
    assert all(k.endswith(" [REDACTED:aws_access_key_id]") for k in record.attributes)
    assert record.redactions == {"aws_access_key_id": 10_000}


def test_ten_megabytes_of_percent_escapes(redactor: Redactor) -> None:
    encoded = "".join(f"%{b:02X}" for b in AWS.encode())
    values = {
        "escapes": "%41" * (3 * MB),
        "words": "a%20b " * MB + f"x%20{AWS}",
        "encoded": "%20" * MB + encoded + "%20" * MB,
    }
    record = span(dict(values))
    redactor.redact([record])
    out = record.attributes
    assert out["escapes"] == values["escapes"]
    assert out["words"] == "a%20b " * MB + "x%20[REDACTED:aws_access_key_id]"
    assert out["encoded"] == "%20" * MB + "[REDACTED:aws_access_key_id]" + "%20" * MB
    assert record.redactions == {"aws_access_key_id": 2}


def test_invalid_utf8_and_lone_surrogates(redactor: Redactor) -> None:
    record = span(
        {
            "bytes": b"\xff\xfe\xc3(" + AWS.encode() + b"\x80\xe2\x82",
            "surrogate": "\udc80\ud800 " + AWS + " \udfff",
            "mixed": "caf\u00e9 \u2603 " + AWS + " \U0001f600",
            "lone": '{"k": "\\ud800' + AWS + '"}',
        }
    )
    redactor.redact([record])
    out = record.attributes
    assert out["bytes"] == b"\xff\xfe\xc3([REDACTED:aws_access_key_id]\x80\xe2\x82"
    assert out["surrogate"] == "\udc80\ud800 [REDACTED:aws_access_key_id] \udfff"
    assert out["mixed"] == "caf\u00e9 \u2603 [REDACTED:aws_access_key_id] \U0001f600"
    assert json.loads(out["lone"]) == {"k": "\ud800[REDACTED:aws_access_key_id]"}


def test_a_secret_next_to_multibyte_characters_keeps_the_text_decodable(
    redactor: Redactor,
) -> None:
    record = span({"a": "\u00e9" + AWS + "\u00e9", "b": "\u2603x@example.com\u2603"})
    redactor.redact([record])
    assert record.attributes["a"] == "\u00e9[REDACTED:aws_access_key_id]\u00e9"
    assert record.attributes["b"].startswith("\u2603hmac:email:")
