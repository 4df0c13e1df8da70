"""Complete redaction: every field of a span, keys, numbers, percent-encoding, glued text.

Each test runs on every installed engine and checks exact output (what a redacted key,
number or field becomes) and exact counts, so over-redaction fails as loudly as a leak.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any
from urllib.parse import quote

import pytest

from agentaudit.collector.ingest.redaction import KEY_ENV, Redactor, available_engines
from agentaudit.collector.model import SpanEvent, SpanLink, SpanRecord
from agentaudit.schema import attributes as A
from tests.collector.ingest.test_redact_corpus import (
    KEPT,
    PLACES,
    leaks,
    pem_private_key,
    span_strings,
    span_with,
)

ENV = {KEY_ENV: "test-key-0123456789abcdef"}
AWS = "AKIAIOSFODNN7EXAMPLE"
AWS2 = "AKIAIOSFODNN7EXAMPLF"
GH = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
M = "[REDACTED:aws_access_key_id]"
CARD = 4111111111111111
ENGINES = available_engines()


@pytest.fixture(scope="module", params=ENGINES)
def redactor(request: pytest.FixtureRequest) -> Redactor:
    return Redactor.from_config({}, environ=ENV, engine=request.param)


def span(attributes: dict[str, Any] | None = None, **fields: Any) -> SpanRecord:
    return SpanRecord(
        "a" * 32, "b" * 16, fields.pop("name", "execute_tool t"), 1, 2,
        attributes=attributes or {}, **fields,
    )  # fmt: skip


# --- every field ------------------------------------------------------------------------


def test_every_place_a_span_holds_text_is_redacted_and_counted(redactor: Redactor) -> None:
    record = span_with(AWS)
    redactor.redact([record])
    assert (record.name, record.status_message, record.trace_state) == (M, M, M)
    assert (record.scope_name, record.scope_version) == (M, M)
    attributes = dict(record.attributes)
    assert json.loads(attributes.pop(A.GEN_AI_TOOL_CALL_ARGUMENTS)) == {M: KEPT, "body": M}
    assert attributes == {
        M: KEPT,
        "note": M,
        "refs": ["ok", M],
        "kv": {M: KEPT, "inner": M},
    }
    assert record.resource_attributes == {M: KEPT, "host.note": M}
    event, link = record.events[0], record.links[0]
    assert event.name == M
    assert event.attributes == {M: KEPT, "exception.message": M}
    assert link.trace_state == M
    assert link.attributes == {M: KEPT, "link.note": M}
    # One replaced string per place.
    assert record.redactions == {"aws_access_key_id": len(PLACES)}


@pytest.mark.parametrize("where", PLACES)
def test_clean_text_in_any_place_is_left_alone(redactor: Redactor, where: str) -> None:
    record = span_with("calendar.invite-v2 ok", (where,))
    before = repr(span_strings(record))
    redactor.redact([record])
    assert repr(span_strings(record)) == before
    assert record.redactions == {}


def test_span_fields_are_redacted_on_every_request(redactor: Redactor) -> None:
    # Clean names are cached; a name holding a secret must never be.
    for _ in range(3):
        record = span(
            {AWS: 1},
            name=f"fetch {AWS}",
            scope_name=f"lib {AWS}",
            scope_version=AWS,
            events=[SpanEvent(1, f"retry {AWS}")],
        )
        redactor.redact([record])
        assert record.name == f"fetch {M}"
        assert record.scope_name == f"lib {M}"
        assert record.scope_version == M
        assert record.events[0].name == f"retry {M}"
        assert record.attributes == {M: 1}
        assert record.redactions == {"aws_access_key_id": 5}


def test_a_link_trace_state_and_the_span_trace_state_keep_their_other_members(
    redactor: Redactor,
) -> None:
    record = span(
        trace_state=f"rojo=00f067aa0ba902b7,key={AWS}",
        links=[SpanLink("c" * 32, "d" * 16, f"congo=t61rcWkgMzE,auth={GH}")],
    )
    redactor.redact([record])
    assert record.trace_state == f"rojo=00f067aa0ba902b7,key={M}"
    assert record.links[0].trace_state == "congo=t61rcWkgMzE,auth=[REDACTED:github_token]"


# --- attribute names --------------------------------------------------------------------


def test_a_secret_attribute_name_is_replaced_in_every_span_holding_it(
    redactor: Redactor,
) -> None:
    resource = {f"deploy.{AWS}": "shared"}
    spans = [span({f"user.{AWS}": i, "n": i}, resource_attributes=resource) for i in range(3)]
    redactor.redact(spans)
    assert [s.attributes for s in spans] == [{f"user.{M}": i, "n": i} for i in range(3)]
    assert resource == {f"deploy.{M}": "shared"}
    # The span's own key, and the shared resource's key counted in every span.
    assert [s.redactions for s in spans] == [{"aws_access_key_id": 2}] * 3


def test_redacted_names_that_clash_keep_every_value(redactor: Redactor) -> None:
    record = span({M: "literal", AWS: "first", "x": 0, AWS2: "second"})
    redactor.redact([record])
    assert record.attributes == {
        M: "literal",
        "x": 0,
        f"{M}#2": "first",
        f"{M}#3": "second",
    }
    assert record.redactions == {"aws_access_key_id": 2}


def test_clash_suffixes_depend_only_on_the_span_itself(redactor: Redactor) -> None:
    alone = span({AWS: "a", AWS2: "b"})
    redactor.redact([alone])
    # The same span after one holding the keys the other way round (and a third name).
    other = span({GH: 0, AWS2: "x", AWS: "y"})
    again = span({AWS: "a", AWS2: "b"})
    redactor.redact([other, again])
    assert again.attributes == alone.attributes == {M: "a", f"{M}#2": "b"}


def test_a_key_rule_name_that_holds_a_secret_loses_both(redactor: Redactor) -> None:
    key = f"{GH}_token"
    arguments = json.dumps({key: "hunter2", "to": "ops"})
    record = span({key: "hunter2", A.GEN_AI_TOOL_CALL_ARGUMENTS: arguments})
    redactor.redact([record])
    masked_key = "[REDACTED:github_token]_token"
    assert record.attributes[masked_key] == "[REDACTED:secret_key]"
    assert json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        masked_key: "[REDACTED:secret_key]",
        "to": "ops",
    }
    assert record.redactions == {"github_token": 2, "secret_key": 2}


def test_a_json_value_under_a_redacted_name_is_redacted_and_kept(redactor: Redactor) -> None:
    record = span({AWS: json.dumps({"to": "bob@example.com", "password": "p"})})
    redactor.redact([record])
    assert json.loads(record.attributes[M]) == {
        "to": redactor.pseudonym("bob@example.com"),
        "password": "[REDACTED:secret_key]",
    }
    assert record.redactions == {"aws_access_key_id": 1, "email": 1, "secret_key": 1}


@pytest.mark.parametrize("engine", ENGINES)
def test_name_actions_drop_and_hash(engine: str) -> None:
    redactor = Redactor.from_config(
        {"actions": {"aws_access_key_id": "drop"}}, environ=ENV, engine=engine
    )
    record = span({AWS: "v", "bob@example.com": "w", "keep": 1})
    redactor.redact([record])
    assert record.attributes == {redactor.pseudonym("bob@example.com"): "w", "keep": 1}
    assert record.redactions == {"aws_access_key_id": 1, "email": 1}


# --- numbers ----------------------------------------------------------------------------


def test_card_numbers_sent_as_numbers_become_the_mask(redactor: Redactor) -> None:
    card = "[REDACTED:credit_card]"
    record = span(
        {
            "int": CARD,
            "double": float(CARD),
            "negative": -float(CARD),
            "list": [1.5, float(CARD)],
            "kv": {"n": float(CARD)},
            "json": json.dumps({"n": float(CARD), "m": 2.5}),
        },
        events=[SpanEvent(1, "e", {"n": float(CARD)})],
        links=[SpanLink("c" * 32, "d" * 16, "", {"n": CARD})],
        resource_attributes={"n": float(CARD)},
    )
    redactor.redact([record])
    assert record.attributes == {
        "int": card,
        "double": card,
        "negative": f"-{card}",
        "list": [1.5, card],
        "kv": {"n": card},
        "json": '{"n":"[REDACTED:credit_card]","m":2.5}',
    }
    assert record.events[0].attributes == {"n": card}
    assert record.links[0].attributes == {"n": card}
    assert record.resource_attributes == {"n": card}
    assert record.redactions == {"credit_card": 9}


def test_numbers_that_are_not_cards_keep_their_type(redactor: Redactor) -> None:
    numbers: dict[str, Any] = {
        A.CREDENTIAL_EXPIRES_AT: 1_732_790_000,
        "expires.double": 1_732_790_000.0,
        "ratio": 0.25,
        "ns": 1_732_790_000_123_456_789,
        "luhn.invalid": float(CARD + 1),
        "fraction": 4_111_111_111.5,
        "nan": math.nan,
        "inf": -math.inf,
        "flag": True,
    }
    record = span(dict(numbers))
    redactor.redact([record])
    out = record.attributes
    assert math.isnan(out.pop("nan"))
    numbers.pop("nan")
    assert out == numbers
    assert [type(v) for v in out.values()] == [type(v) for v in numbers.values()]
    assert record.redactions == {}


# --- percent-encoding -------------------------------------------------------------------


def test_a_percent_encoded_email_gets_the_plain_pseudonym(redactor: Redactor) -> None:
    record = span({"url": "https://x.example/invite?to=Bob%40Example.com&lang=en"})
    redactor.redact([record])
    pseudonym = redactor.pseudonym("bob@example.com")
    assert record.attributes["url"] == f"https://x.example/invite?to={pseudonym}&lang=en"
    assert record.redactions == {"email": 1}


def test_a_secret_after_an_escape_is_masked_and_the_escape_kept(redactor: Redactor) -> None:
    record = span({"q": f"key%20{AWS}%20end", "p": f"pw%3D{GH}"})
    redactor.redact([record])
    assert record.attributes == {"q": f"key%20{M}%20end", "p": "pw%3D[REDACTED:github_token]"}


def test_a_fully_encoded_secret_is_masked_whole(redactor: Redactor) -> None:
    block = pem_private_key(random.Random(1))
    encoded = quote(f"key={block}", safe="")
    record = span({"form": f"a=1&{encoded}&b=2", "aws": quote(AWS, safe="A")})
    redactor.redact([record])
    assert record.attributes["form"] == "a=1&key%3D[REDACTED:pem_private_key]&b=2"
    assert record.attributes["aws"] == M
    assert not leaks(block, record.attributes)


def test_benign_percent_encoding_is_left_alone(redactor: Redactor) -> None:
    values = {
        "url": "https://x.example/search?q=caf%C3%A9%20au%20lait&page=2",
        "progress": "100% done, 50%% left, %zz",
        "args": json.dumps({"path": "/a%2Fb", "q": "x%20y"}),
    }
    record = span(dict(values), name="GET /search?q=a%20b")
    redactor.redact([record])
    assert record.attributes == values
    assert record.name == "GET /search?q=a%20b"
    assert record.redactions == {}


def test_percent_encoded_json_arguments_stay_valid_json(redactor: Redactor) -> None:
    arguments = {"url": "https://x.example/?to=bob%40example.com", "n": 1}
    record = span({A.GEN_AI_TOOL_CALL_ARGUMENTS: json.dumps(arguments)})
    redactor.redact([record])
    pseudonym = redactor.pseudonym("bob@example.com")
    assert json.loads(record.attributes[A.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "url": f"https://x.example/?to={pseudonym}",
        "n": 1,
    }


# --- glued to other text, PEM in any case -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"zz{AWS}zz", f"zz{M}zz"),
        (f"zz{GH}", "zz[REDACTED:github_token]"),
        (f"id_{AWS}_x", f"id_{M}_x"),
        (
            "xx_postgres://admin:hunter2@db:5432",
            "xx_postgres://admin:[REDACTED:url_password]@db:5432",
        ),
        ("token_xoxb-1234567890-abcdefghij", "token_[REDACTED:slack_token]"),
    ],
)
def test_secrets_glued_to_other_text(redactor: Redactor, text: str, expected: str) -> None:
    record = span({"note": text})
    redactor.redact([record])
    assert record.attributes["note"] == expected


def test_an_email_glued_to_digits_is_pseudonymised(redactor: Redactor) -> None:
    record = span({"note": "bob@example.com123"})
    redactor.redact([record])
    assert record.attributes["note"] == redactor.pseudonym("bob@example.com") + "123"


@pytest.mark.parametrize("case", [str.lower, str.title, str.upper])
def test_pem_headers_in_any_case(redactor: Redactor, case: Any) -> None:
    block = pem_private_key(random.Random(2), case)
    record = span({"note": f"key: {block} end"})
    redactor.redact([record])
    assert record.attributes["note"] == "key: [REDACTED:pem_private_key] end"


@pytest.mark.parametrize("engine", ["re2", "hyperscan"])
@pytest.mark.parametrize(
    "text",
    [
        " 5192126901841346 0",  # found by hypothesis: a digit group after the number
        "0 5192126901841346",
        "x 4111111111111111 99 y",
        "12345678901234567890123 4111111111111111",
        "4111 1111 1111 1111 7",
    ],
)
def test_a_card_number_next_to_other_digits_is_found(engine: str, text: str) -> None:
    """A greedy candidate that swallows a neighbouring digit group fails the checksum;
    the number inside it must still be found (trimmed, or searched from later on)."""
    from agentaudit.collector.ingest.redaction._redactor import Redactor
    from agentaudit.collector.ingest.redaction._rules import parse_policy
    from agentaudit.collector.model import SpanRecord

    redactor = Redactor(parse_policy({}), b"k" * 32, engine=engine)
    span = SpanRecord("1" * 32, "2" * 16, text, 1, 2)
    redactor.redact([span])
    assert "[REDACTED:credit_card]" in span.name
    assert not any(card in span.name for card in ("5192126901841346", "4111111111111111"))
