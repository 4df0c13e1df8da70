"""The packaged rule packs, rule by rule, on real-format fake values, on every engine.

Each built-in content rule gets generated values in its issuer's exact format (see
test_redact_corpus.py) embedded in ordinary text; the secret part must be gone and the
rule must be counted. Checksum-validated rules must leave near-misses alone.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from agentaudit.collector.ingest.redaction import Redactor, available_engines, load_pack
from agentaudit.collector.model import SpanRecord
from tests.collector.ingest.test_redact_corpus import BOUNDARY_RULES, luhn_invalid_card, samples

KEY_ENV = {"AGENTAUDIT_REDACTION_KEY": "test-key-0123456789abcdef"}
NOTE = "note"


@pytest.fixture(scope="module", params=available_engines())
def redactor(request: pytest.FixtureRequest) -> Redactor:
    return Redactor.from_config({}, environ=KEY_ENV, engine=request.param)


def redact_one(redactor: Redactor, value: Any, key: str = NOTE) -> tuple[Any, dict[str, int]]:
    span = SpanRecord("a" * 32, "b" * 16, "execute_tool t", 1, 2, attributes={key: value})
    redactor.redact([span])
    return span.attributes.get(key), span.redactions


def test_both_packs_load_and_every_content_rule_has_a_sample() -> None:
    rules = [r for pack in ("secrets", "pii") for r in load_pack(pack)]
    content = {r.name for r in rules if not r.is_key_rule}
    sampled = {rule for rule, _, _ in samples(random.Random(0))}
    assert content == sampled


@pytest.mark.parametrize("seed", range(5))
def test_every_rule_redacts_its_generated_values(redactor: Redactor, seed: int) -> None:
    for rule, text, secret in samples(random.Random(seed)):
        value, counts = redact_one(redactor, f"before {text} after")
        assert secret not in value, (rule, value)
        assert counts.get(rule, 0) >= 1, (rule, counts, value)
        assert value.startswith("before "), (rule, value)
        assert value.endswith(" after"), (rule, value)


@pytest.mark.parametrize("seed", range(3))
def test_prefix_rules_find_secrets_glued_to_letters(redactor: Redactor, seed: int) -> None:
    for rule, text, secret in samples(random.Random(seed)):
        if rule in BOUNDARY_RULES:
            continue
        value, counts = redact_one(redactor, f"zz{text}zz")
        assert secret not in value, (rule, value)
        assert counts.get(rule, 0) >= 1, (rule, counts, value)
        # Only the secret goes; letters glued to an email are part of the address.
        assert value.startswith("zz") or rule == "email", (rule, value)


def test_masked_values_name_their_rule(redactor: Redactor) -> None:
    value, counts = redact_one(redactor, "key AKIAIOSFODNN7EXAMPLE in a log line")
    assert value == "key [REDACTED:aws_access_key_id] in a log line"
    assert counts == {"aws_access_key_id": 1}


def test_context_rules_replace_only_the_secret_part(redactor: Redactor) -> None:
    value, _ = redact_one(redactor, "postgres://admin:hunter2hunter2@db:5432/app")
    assert value == "postgres://admin:[REDACTED:url_password]@db:5432/app"
    value, _ = redact_one(redactor, "GET /x?sv=1&sig=abcdefghijklmnopqrstuvwxyz0123%3D&se=2")
    assert value == "GET /x?sv=1&sig=[REDACTED:azure_sas_signature]&se=2"


def test_overlapping_matches_merge_so_no_part_of_either_survives(redactor: Redactor) -> None:
    # "hunter2@db.internal" is both a URL password and an email-shaped string: the
    # merged range is masked under the first rule, and no piece of either is left.
    value, counts = redact_one(redactor, "postgres://admin:hunter2@db.internal:5432/app")
    assert value == "postgres://admin:[REDACTED:url_password]:5432/app"
    assert counts == {"url_password": 1}


def test_emails_are_pseudonymised_consistently_and_case_insensitively(redactor: Redactor) -> None:
    first, counts = redact_one(redactor, "from Alice.Smith@Example.com today")
    second, _ = redact_one(redactor, "alice.smith@example.com")
    assert counts == {"email": 1}
    pseudonym = second
    assert pseudonym.startswith("hmac:email:")
    assert len(pseudonym) == len("hmac:email:") + 16
    assert first == f"from {pseudonym} today"
    assert redactor.pseudonym("ALICE.SMITH@EXAMPLE.COM") == pseudonym


@pytest.mark.parametrize("seed", range(20))
def test_luhn_invalid_card_numbers_are_not_redacted(redactor: Redactor, seed: int) -> None:
    number = luhn_invalid_card(random.Random(seed))
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    for text in (f"order {number} shipped", f"order {spaced} shipped"):
        value, counts = redact_one(redactor, text)
        assert value == text
        assert counts == {}


@pytest.mark.parametrize(
    "text",
    [
        "build 1732790000000000000 finished",  # a nanosecond timestamp: no issuer prefix
        "ssn-shaped 000-12-3456 and 666-12-3456 and 912-12-3456",  # never-issued areas
        "iban-shaped GB82WEST12345698765433 with a wrong checksum",
        "version 1.2.3 on 10.250.250.250 at 2024-11-28 10:30:45",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        # Hex ids whose digit runs pass the card check: digit rules keep their word
        # boundaries, or ids (and the joins on them) would be corrupted.
        "trace 0af7651916cd43dd4111111111111111 id f4111111111111111a",
        "uuid 550e8400-e29b-41d4-a716-446655440000",
        "sk-learn-is-a-python-library-for-machine-learning",
        "the bearer of bad news",
        "gen_ai.usage.output_tokens and max_tokens: 1000",
    ],
)
def test_near_misses_stay_unchanged(redactor: Redactor, text: str) -> None:
    value, counts = redact_one(redactor, text)
    assert value == text
    assert counts == {}


def test_pem_block_is_masked_whole_even_with_json_escaped_newlines(redactor: Redactor) -> None:
    block = (
        "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\\n"
        "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\\n-----END RSA PRIVATE KEY-----"
    )
    value, counts = redact_one(redactor, f"key={block}")
    assert "MIIE" not in value
    assert "END RSA" not in value
    assert counts.get("pem_private_key") == 1


def test_a_truncated_pem_block_is_masked_to_its_end(redactor: Redactor) -> None:
    value, _ = redact_one(redactor, "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF")
    assert value == "[REDACTED:pem_private_key]"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", "hunter2"),
        ("db_password", "x"),
        ("x-api-key", "abc"),
        ("apiKey", "abc"),
        ("http.request.header.authorization", "Basic Zm9vOmJhcg=="),
        ("client_secret", "s3"),
        ("AWS_SECRET_ACCESS_KEY", "k"),
        ("refresh_token", "r"),
        ("Set-Cookie", "sid=1"),
    ],
)
def test_key_rule_masks_values_under_secret_keys(redactor: Redactor, key: str, secret: str) -> None:
    value, counts = redact_one(redactor, secret, key=key)
    assert value == "[REDACTED:secret_key]"
    assert counts == {"secret_key": 1}


@pytest.mark.parametrize(
    "key",
    [
        "session.id",
        "gen_ai.usage.input_tokens",
        "agentaudit.credential.id",
        "token_count",
        "passwordHint",
    ],
)
def test_key_rule_leaves_lookalike_keys_alone(redactor: Redactor, key: str) -> None:
    value, counts = redact_one(redactor, "plain value", key=key)
    assert value == "plain value"
    assert counts == {}
