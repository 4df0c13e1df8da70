"""The Redactor on whole spans: where it looks, what it writes, config, keys, engines.

Everything runs on every installed engine (Hyperscan and RE2) and checks exact output,
not just the absence of a secret, so over-redaction fails as loudly as a leak.
"""

from __future__ import annotations

import json
import os
import random
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from agentaudit.collector.ingest.redaction import (
    KEY_ENV,
    KEY_FILE_NAME,
    Redactor,
    available_engines,
)
from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.errors import ConfigError
from agentaudit.schema import attributes as A
from tests.collector.ingest.test_redact_corpus import samples

ENV = {KEY_ENV: "test-key-0123456789abcdef"}
AWS = "AKIAIOSFODNN7EXAMPLE"
GH = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
ENGINES = available_engines()
FAST = ENGINES[-1]  # the quickest to build (re2) where the engine does not matter


@pytest.fixture(scope="module", params=ENGINES)
def redactor(request: pytest.FixtureRequest) -> Redactor:
    return Redactor.from_config({}, environ=ENV, engine=request.param)


def span(attributes: dict[str, Any] | None = None, **fields: Any) -> SpanRecord:
    return SpanRecord(
        "a" * 32, "b" * 16, fields.pop("name", "execute_tool t"), 1, 2,
        attributes=attributes or {}, **fields,
    )  # fmt: skip


def build(section: dict[str, Any], engine: str = ENGINES[0]) -> Redactor:
    return Redactor.from_config(section, environ=ENV, engine=engine)


# --- where it looks -------------------------------------------------------------------


def test_redacts_in_place_everywhere_a_span_holds_text(redactor: Redactor) -> None:
    record = span(
        {"a": f"key {AWS}", "list": ["ok", GH], "n": 7},
        name=f"execute_tool fetch {AWS}",
        status_message=f"denied for {GH}",
        resource_attributes={"process.command_args": f"--token={GH}"},
        events=[SpanEvent(1, "exception", {"exception.message": f"bad key {AWS}"})],
        links=[SpanLink("c" * 32, "d" * 16, "", {"note": f"via {GH}"})],
    )
    attributes = record.attributes
    redactor.redact([record])
    assert record.attributes is attributes
    assert attributes == {
        "a": "key [REDACTED:aws_access_key_id]",
        "list": ["ok", "[REDACTED:github_token]"],
        "n": 7,
    }
    assert record.name == "execute_tool fetch [REDACTED:aws_access_key_id]"
    assert record.status_message == "denied for [REDACTED:github_token]"
    assert record.resource_attributes == {"process.command_args": "--token=[REDACTED:github_token]"}
    assert record.events[0].attributes == {
        "exception.message": "bad key [REDACTED:aws_access_key_id]"
    }
    assert record.links[0].attributes == {"note": "via [REDACTED:github_token]"}
    assert record.redactions == {"aws_access_key_id": 3, "github_token": 4}


def test_a_shared_resource_is_redacted_once_and_counted_in_every_span(redactor: Redactor) -> None:
    resource = {"host.note": f"deployed with {AWS}"}
    spans = [span({}, resource_attributes=resource) for _ in range(3)]
    redactor.redact(spans)
    assert resource == {"host.note": "deployed with [REDACTED:aws_access_key_id]"}
    assert [s.redactions for s in spans] == [{"aws_access_key_id": 1}] * 3


def test_bytes_and_long_integers_are_scanned(redactor: Redactor) -> None:
    record = span({"raw": b"\xff\x00 " + AWS.encode(), "card": 4111111111111111, "small": 42})
    redactor.redact([record])
    assert record.attributes == {
        "raw": b"\xff\x00 [REDACTED:aws_access_key_id]",
        "card": "[REDACTED:credit_card]",
        "small": 42,
    }


def test_benign_spans_come_through_unchanged(redactor: Redactor) -> None:
    attributes = {
        A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps({"max_tokens": 5, "q": "hi"}, indent=2),
        A.GEN_AI_TOOL_NAME: "search",
        A.SOURCE_REFS: ["email:msg-42", "url:https://example.com/page?a=1"],
        A.CREDENTIAL_ID: "cred-9",
        A.SESSION_ID: "sess-1",
        "escaped": '{"path": "C:\\\\temp\\\\x", "note": "caf\\u00e9"}',
    }
    record = span(dict(attributes))
    redactor.redact([record])
    assert record.attributes == attributes
    assert record.redactions == {}


# --- JSON and nested values ------------------------------------------------------------


def test_json_arguments_are_walked_and_stay_valid_json(redactor: Redactor) -> None:
    arguments = {
        "to": "ops",
        "config": {"db": {"password": "hunter2", "host": "db1"}, "tokens": [1, 2]},
        "headers": [{"Authorization": "Bearer abc"}, {"Accept": "json"}],
        "body": f"use {AWS} please",
    }
    record = span({A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments, indent=1)})
    redactor.redact([record])
    assert json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "to": "ops",
        "config": {"db": {"password": "[REDACTED:secret_key]", "host": "db1"}, "tokens": [1, 2]},
        "headers": [{"Authorization": "[REDACTED:secret_key]"}, {"Accept": "json"}],
        "body": "use [REDACTED:aws_access_key_id] please",
    }
    assert record.redactions == {"secret_key": 2, "aws_access_key_id": 1}


def test_json_escapes_cannot_hide_a_secret(redactor: Redactor) -> None:
    hidden = "\\u0041KIAIOSFODNN7EXAMPLE"  # \u0041 is "A"
    record = span({"result": '{"out": "' + hidden + '", "ok": true}'})
    redactor.redact([record])
    assert json.loads(record.attributes["result"]) == {
        "out": "[REDACTED:aws_access_key_id]",
        "ok": True,
    }


def test_native_nested_values_are_walked_with_key_rules(redactor: Redactor) -> None:
    record = span({"kv": {"user": {"api_key": "zzz", "mail": "x.y@example.org"}, "n": [GH]}})
    redactor.redact([record])
    kv = record.attributes["kv"]
    assert kv["user"]["api_key"] == "[REDACTED:secret_key]"
    assert kv["user"]["mail"].startswith("hmac:email:")
    assert kv["n"] == ["[REDACTED:github_token]"]


def test_nested_keys_are_data_too(redactor: Redactor) -> None:
    arguments = {"scores": {"bob@example.com": 3, "eve@example.com": {"card": AWS}}}
    record = span({A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments), "kv": {AWS: 1, "b": 2}})
    redactor.redact([record])
    scores = json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])["scores"]
    assert scores == {
        redactor.pseudonym("bob@example.com"): 3,
        redactor.pseudonym("eve@example.com"): {"card": "[REDACTED:aws_access_key_id]"},
    }
    assert record.attributes["kv"] == {"[REDACTED:aws_access_key_id]": 1, "b": 2}
    assert record.redactions == {"email": 2, "aws_access_key_id": 2}


def test_masked_keys_that_clash_are_kept_apart(redactor: Redactor) -> None:
    record = span({"kv": {AWS: 1, "AKIAIOSFODNN7EXAMPLF": 2, f"{GH}": 3}})
    redactor.redact([record])
    assert record.attributes["kv"] == {
        "[REDACTED:aws_access_key_id]": 1,
        "[REDACTED:aws_access_key_id]#2": 2,
        "[REDACTED:github_token]": 3,
    }


def test_json_inside_json_strings_is_walked_too(redactor: Redactor) -> None:
    inner = {"cookie": "s=1", "to": "bob@example.com", "deeper": json.dumps({"pwd": "x"})}
    outer = {"body": json.dumps(inner), "kv": {"bob@example.com": json.dumps({"token": "t"})}}
    record = span({A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(outer), "plain": json.dumps(inner)})
    redactor.redact([record])
    out = json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])
    body = json.loads(out["body"])
    assert body["cookie"] == "[REDACTED:secret_key]"
    assert body["to"] == redactor.pseudonym("bob@example.com")
    assert json.loads(body["deeper"]) == {"pwd": "[REDACTED:secret_key]"}
    assert out["kv"] == {redactor.pseudonym("bob@example.com"): '{"token":"[REDACTED:secret_key]"}'}
    assert json.loads(record.attributes["plain"])["cookie"] == "[REDACTED:secret_key]"


def test_strings_that_only_look_like_json_are_redacted_as_text(redactor: Redactor) -> None:
    record = span({"a": "{not json, password=hunter2hunter2}"})
    redactor.redact([record])
    assert record.attributes["a"] == "{not json, password=[REDACTED:secret_assignment]}"


# --- actions, allow-lists, user rules ---------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_drop_removes_attributes_and_keeps_arrays_aligned(engine: str) -> None:
    redactor = build({"actions": {"github_token": "drop", "secret_key": "drop"}}, engine)
    arguments = json.dumps({"token": "t", "keep": 1, "list": ["a", GH]})
    record = span({"gone": f"x {GH}", "refs": ["ok", GH], "password": "p", "args": arguments})
    redactor.redact([record])
    assert record.attributes == {
        "refs": ["ok", "[REDACTED:github_token]"],
        "args": '{"keep":1,"list":["a","[REDACTED:github_token]"]}',
    }
    assert record.redactions == {"github_token": 3, "secret_key": 2}


@pytest.mark.parametrize("engine", ENGINES)
def test_hash_action_is_a_keyed_pseudonym(engine: str) -> None:
    one = build({"actions": {"aws_access_key_id": "hash", "secret_key": "hash"}}, engine)
    other = Redactor.from_config(
        {"actions": {"aws_access_key_id": "hash"}},
        environ={KEY_ENV: "another-key-0123456789"},
        engine=engine,
    )
    first, second, third = span({"a": AWS, "password": "pw"}), span({"b": AWS}), span({"c": AWS})
    one.redact([first, second])
    other.redact([third])
    assert (
        first.attributes["a"] == second.attributes["b"] == one.pseudonym(AWS, "aws_access_key_id")
    )
    assert first.attributes["a"].startswith("hmac:aws_access_key_id:")
    assert first.attributes["password"].startswith("hmac:secret_key:")
    assert third.attributes["c"] != first.attributes["a"]  # another key, another pseudonym


def test_enduser_email_is_pseudonymised_and_joinable(redactor: Redactor) -> None:
    record = span({A.ENDUSER_ID: "Alice@Example.com", A.SESSION_ID: "s-1"})
    redactor.redact([record])
    assert record.attributes[A.ENDUSER_ID] == redactor.pseudonym("alice@example.com")
    assert record.attributes[A.SESSION_ID] == "s-1"


def test_digest_attributes_are_exempt_only_while_they_are_digests(redactor: Redactor) -> None:
    digest = "sha256:" + "4111111111111111" + "0" * 48
    record = span({A.PROMPT_HASH: digest, A.SOURCE_HASHES: [digest], A.RESULT_HASH: f"x {AWS}"})
    redactor.redact([record])
    assert record.attributes[A.PROMPT_HASH] == digest
    assert record.attributes[A.SOURCE_HASHES] == [digest]
    assert record.attributes[A.RESULT_HASH] == "x [REDACTED:aws_access_key_id]"


@pytest.mark.parametrize("engine", ENGINES)
def test_allow_lists_and_exempt_attributes(engine: str) -> None:
    redactor = build(
        {
            "allow": ["support@example.com"],
            "allow_patterns": [r"[a-z]+@test\.invalid"],
            "exempt_attributes": ["build.secret_note"],
        },
        engine,
    )
    record = span(
        {
            "a": "mail support@example.com or bob@test.invalid or eve@real.org",
            "build.secret_note": AWS,
        }
    )
    redactor.redact([record])
    assert record.attributes["a"].startswith("mail support@example.com or bob@test.invalid or ")
    assert "eve@real.org" not in record.attributes["a"]
    assert record.attributes["build.secret_note"] == AWS


@pytest.mark.parametrize("engine", ENGINES)
def test_user_rules_from_config(engine: str) -> None:
    redactor = build(
        {
            "rules": [
                {"name": "ticket", "pattern": r"\bTCK-[0-9]{6}\b", "action": "hash"},
                {"name": "internal_host", "pattern": r"[a-z0-9-]+\.corp\.internal", "group": 0},
                {"name": "employee", "keys": ["employee_no"], "action": "drop"},
            ],
            "disable": ["phone_number"],
        },
        engine,
    )
    record = span(
        {
            "a": "see TCK-123456 on build-7.corp.internal, call +44 20 7946 0958",
            "EmployeeNo": "E-1",
            "args": '{"employee_no": 7, "x": 1}',
        }
    )
    redactor.redact([record])
    a = record.attributes["a"]
    assert a.startswith("see hmac:ticket:")
    assert a.endswith(" on [REDACTED:internal_host], call +44 20 7946 0958")
    assert "EmployeeNo" not in record.attributes
    assert record.attributes["args"] == '{"x":1}'


def test_no_packs_means_only_user_rules() -> None:
    redactor = build({"packs": [], "rules": [{"name": "x", "pattern": "XYZ[0-9]+"}]})
    record = span({"a": f"XYZ12 {AWS} a@b.io"})
    redactor.redact([record])
    assert record.attributes["a"] == f"[REDACTED:x] {AWS} a@b.io"


# --- configuration errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"packs": ["nope"]}, "nope"),
        ({"disable": ["not_a_rule"]}, "not_a_rule"),
        ({"actions": {"email": "shred"}}, "actions.email"),
        ({"actions": {"ghost": "mask"}}, "ghost"),
        ({"rules": [{"name": "r", "pattern": "(unclosed"}]}, "(r) pattern"),
        ({"rules": [{"name": "r", "pattern": "a(?=b)"}]}, "(r) pattern"),
        ({"rules": [{"name": "r", "pattern": "x*"}]}, "empty string"),
        ({"rules": [{"name": "r", "pattern": "x", "action": "burn"}]}, "(r) action"),
        ({"rules": [{"name": "r", "pattern": "x", "group": 2}]}, "(r): group 2"),
        ({"rules": [{"name": "r", "pattern": "x", "validator": "crc"}]}, "crc"),
        ({"rules": [{"name": "r", "pattern": "x", "keys": ["k"]}]}, "exactly one"),
        ({"rules": [{"name": "r", "pattern": "x", "colour": 1}]}, "colour"),
        ({"rules": [{"name": "Bad Name", "pattern": "x"}]}, "Bad Name"),
        ({"rules": [{"name": "email", "pattern": "x"}]}, "already exists"),
        ({"engine": "pcre"}, "engine"),
        ({"key": "short"}, "[redaction] key"),
        ({"key": "k" * 20, "key_file": "/x"}, "not both"),
        ({"key_file": "/nonexistent/redaction.key"}, "key_file"),
    ],
)
def test_bad_config_names_the_key(section: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Redactor.from_config(section, environ={})
    assert named in str(caught.value)


# --- the HMAC key -------------------------------------------------------------------------


def test_a_generated_key_is_persisted_privately_and_reused(tmp_path: Path) -> None:
    first = Redactor.from_config({}, state_dir=tmp_path, environ={}, engine=FAST)
    key_file = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = Redactor.from_config({}, state_dir=tmp_path, environ={}, engine=FAST)
    assert first.pseudonym("a@b.io") == second.pseudonym("a@b.io")


def test_key_sources_in_order(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    key_file.write_text("file-key-0123456789abcdef\n")
    from_file = Redactor.from_config({"key_file": str(key_file)}, environ=ENV, engine=FAST)
    from_env = Redactor.from_config({}, environ=ENV, state_dir=tmp_path, engine=FAST)
    from_section = Redactor.from_config({"key": ENV[KEY_ENV]}, environ={}, engine=FAST)
    assert from_file.pseudonym("a@b.io") != from_env.pseudonym("a@b.io")
    assert from_env.pseudonym("a@b.io") == from_section.pseudonym("a@b.io")
    assert not (tmp_path / KEY_FILE_NAME).exists()  # the env key won: no file created


def test_no_hash_rules_need_no_key(tmp_path: Path) -> None:
    Redactor.from_config(
        {"actions": {"email": "mask"}}, state_dir=tmp_path, environ={}, engine=FAST
    )
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_without_any_key_source_an_ephemeral_key_is_used() -> None:
    one = Redactor.from_config({}, environ={}, engine=FAST)
    two = Redactor.from_config({}, environ={}, engine=FAST)
    assert one.pseudonym("a@b.io") != two.pseudonym("a@b.io")


# --- engines agree, threads are safe --------------------------------------------------------


def _corpus_spans(seed: int) -> list[SpanRecord]:
    rng = random.Random(seed)
    out = []
    for rule, text, _ in samples(rng):
        arguments = json.dumps({"q": f"look at {text}", "password": rule})
        out.append(span({"note": f"x {text} y", A.GEN_AI_TOOL_CALL_ARGUMENTS: arguments}))
    return out


@pytest.mark.skipif(len(ENGINES) < 2, reason="needs both hyperscan and re2")
def test_engines_produce_identical_output() -> None:
    results = []
    for engine in ENGINES:
        spans = _corpus_spans(11)
        build({}, engine).redact(spans)
        results.append([(s.attributes, s.redactions) for s in spans])
    assert results[0] == results[1]


def test_concurrent_requests_are_redacted_correctly(redactor: Redactor) -> None:
    expected = _corpus_spans(5)
    redactor.redact(expected)
    failures: list[str] = []

    def work() -> None:
        for _ in range(20):
            spans = _corpus_spans(5)
            redactor.redact(spans)
            if [s.attributes for s in spans] != [s.attributes for s in expected]:
                failures.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures


def test_corpus_secrets_never_survive(redactor: Redactor) -> None:
    for seed in range(3):
        spans = _corpus_spans(seed)
        redactor.redact(spans)
        dumped = repr([(s.attributes, s.name) for s in spans])
        for _, _, secret in samples(random.Random(seed)):
            assert secret not in dumped
        for record in spans:
            json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS])


def test_redact_accepts_an_empty_request(redactor: Redactor) -> None:
    redactor.redact([])


def test_environment_variable_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, KEY_ENV, ENV[KEY_ENV])
    assert Redactor.from_config({}).pseudonym("a@b.io") == build({}).pseudonym("a@b.io")
