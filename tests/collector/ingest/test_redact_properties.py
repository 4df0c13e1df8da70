"""Property tests: benign text is never changed, and inserted secrets never survive.

In every place a span holds text, in every spelling (verbatim, glued to letters, after
an escape, percent-encoded), at any position inside random text.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentaudit.collector.ingest.redaction import Redactor, available_engines
from agentaudit.collector.ingest.redaction._percent import decode, to_original
from agentaudit.collector.ingest.redaction._validators import valid_card
from agentaudit.collector.model import SpanRecord
from tests.collector.ingest.test_redact_corpus import (
    BENIGN_WORDS,
    BOUNDARY_RULES,
    PLACES,
    leaks,
    samples,
    span_strings,
    span_with,
    spellings,
)

ENV = {"AGENTAUDIT_REDACTION_KEY": "test-key-0123456789abcdef"}
REDACTORS = {e: Redactor.from_config({}, environ=ENV, engine=e) for e in available_engines()}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Benign text: vocabulary words, punctuation that never completes a secret pattern, and
# arbitrary non-ASCII letters; no digits (cards, phones) and no "@" (emails).
words = st.sampled_from(BENIGN_WORDS)
unicode_words = st.text(
    alphabet=st.characters(categories=["Ll", "Lu", "Lo"], min_codepoint=0xC0),
    min_size=1,
    max_size=8,
)
separators = st.sampled_from([" ", ", ", ". ", "\n", " - ", "; ", " (", ") ", "\t"])
benign_text = st.lists(st.tuples(st.one_of(words, unicode_words), separators), max_size=40).map(
    lambda parts: "".join(w + s for w, s in parts)
)
json_scalars = st.one_of(benign_text, st.booleans(), st.integers(-(10**6), 10**6), st.none())
benign_json = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(words, children, max_size=4)
    ),
    max_leaves=15,
)
SAMPLES = [s for seed in range(5) for s in samples(random.Random(seed))]


def span(attributes: dict[str, Any]) -> SpanRecord:
    return SpanRecord("a" * 32, "b" * 16, "execute_tool t", 1, 2, attributes=attributes)


@pytest.mark.parametrize("engine", list(REDACTORS))
@SETTINGS
@given(text=benign_text, document=benign_json, items=st.lists(benign_text, max_size=5))
def test_benign_values_come_through_unchanged(
    engine: str, text: str, document: Any, items: list[str]
) -> None:
    encoded = json.dumps(document, ensure_ascii=False)
    attributes = {"text": text, "json": encoded, "list": list(items)}
    record = span(dict(attributes))
    REDACTORS[engine].redact([record])
    assert record.attributes == attributes
    assert record.redactions == {}


@pytest.mark.parametrize("engine", list(REDACTORS))
@SETTINGS
@given(
    before=benign_text,
    after=benign_text,
    pick=st.integers(0, len(SAMPLES) - 1),
    in_json=st.booleans(),
)
def test_inserted_secrets_never_survive(
    engine: str, before: str, after: str, pick: int, in_json: bool
) -> None:
    rule, text, secret = SAMPLES[pick]
    value = f"{before} {text} {after}"
    if in_json:
        value = json.dumps({"note": value, "nested": [{"q": value}]})
    record = span({"a": value})
    REDACTORS[engine].redact([record])
    assert secret not in record.attributes["a"]
    assert record.redactions, rule
    if in_json:
        json.loads(record.attributes["a"])


sample_texts = st.sampled_from([text for _, text, _ in SAMPLES])
leaf_with_secrets = st.one_of(
    benign_text,
    st.tuples(benign_text, sample_texts, benign_text).map(" ".join),
    st.integers(10**8, 10**17),
)
documents_with_secrets = st.recursive(
    leaf_with_secrets,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(st.one_of(words, sample_texts), children, min_size=1, max_size=4),
    ),
    max_leaves=12,
).filter(lambda doc: isinstance(doc, dict | list))


@pytest.mark.parametrize("engine", list(REDACTORS))
@SETTINGS
@given(document=documents_with_secrets, indent=st.sampled_from([None, 1]))
@example(document={"n": 4111111111111111, "to": "ann@example.com"}, indent=None)  # card: a number
@example(document={"body": "hi\nann@example.com"}, indent=None)  # an escape before the match
@example(document={"ids": "[4111111111111111]"}, indent=None)  # JSON inside a string value
@example(document={"ann@example.com": "x", "hmac:email:0": 1}, indent=1)  # a key
@example(document=["ann@example.com", {"k": "bob@example.com "}], indent=1)
def test_json_text_is_redacted_like_the_same_structure(
    engine: str, document: Any, indent: int | None
) -> None:
    """Arguments sent as JSON text end up as the native structure redacted field by field.

    Holds whichever way the text is redacted (in place, or parsed and walked).
    """
    text = json.dumps(document, ensure_ascii=False, indent=indent)
    as_text, as_structure = span({"a": text}), span({"a": json.loads(text)})
    REDACTORS[engine].redact([as_text, as_structure])
    assert json.loads(as_text.attributes["a"]) == as_structure.attributes["a"]
    assert as_text.redactions == as_structure.redactions


# --- every place, every spelling ---------------------------------------------------------

SPELLED = [
    (rule, name, variant, secret)
    for rule, text, secret in SAMPLES
    for name, variant in spellings(rule, text)
]
places = st.sampled_from(PLACES)
glue = st.text(alphabet=string.ascii_letters + string.digits, max_size=6)


@pytest.mark.parametrize("engine", list(REDACTORS))
@SETTINGS
@given(
    pick=st.integers(0, len(SPELLED) - 1),
    where=places,
    before=st.one_of(benign_text, glue),
    after=st.one_of(benign_text, glue),
)
def test_a_secret_in_any_place_never_survives(
    engine: str, pick: int, where: str, before: str, after: str
) -> None:
    rule, spelling, variant, secret = SPELLED[pick]
    if rule in BOUNDARY_RULES or spelling == "encoded":
        text = f"{before} {variant} {after}"  # these need a separator (see BOUNDARY_RULES)
    else:
        text = f"{before}{variant}{after}"  # glued to whatever is around it
    record = span_with(text, (where,))
    REDACTORS[engine].redact([record])
    assert leaks(secret, span_strings(record)) == []
    assert record.redactions, (rule, spelling)
    if spelling == "plain":
        assert rule in record.redactions, record.redactions


encoded_benign = benign_text.map(lambda text: quote(text, safe=" "))


@pytest.mark.parametrize("engine", list(REDACTORS))
@SETTINGS
@given(text=st.one_of(benign_text, encoded_benign), where=places)
def test_benign_text_in_any_place_comes_through_unchanged(
    engine: str, text: str, where: str
) -> None:
    record = span_with(text, (where,))
    before = repr(span_strings(record))
    REDACTORS[engine].redact([record])
    assert repr(span_strings(record)) == before
    assert record.redactions == {}


@pytest.mark.parametrize("engine", list(REDACTORS))
@SETTINGS
@given(
    number=st.one_of(
        st.integers(-(10**19), 10**19),
        st.integers(10**12, 2**53).map(float),
        st.sampled_from([4111111111111111, 5500000000000004, 340000000000009]),
    )
)
def test_a_number_is_masked_exactly_when_its_digits_are_a_card(engine: str, number: float) -> None:
    digits = str(abs(int(number)))
    record = span({"n": number, "list": [number]})
    REDACTORS[engine].redact([record])
    if valid_card(digits.encode()):
        sign = "-" if number < 0 else ""
        assert record.attributes["n"] == f"{sign}[REDACTED:credit_card]"
        assert record.redactions == {"credit_card": 2}
    else:
        assert record.attributes == {"n": number, "list": [number]}
        assert type(record.attributes["n"]) is type(number)
        assert record.redactions == {}


@SETTINGS
@given(
    raw=st.text(alphabet="%%%4aAfFgz0 \n", max_size=40).map(str.encode),
    first=st.integers(0, 40),
    size=st.integers(1, 40),
)
def test_decoded_ranges_map_to_the_original_bytes_that_encode_them(
    raw: bytes, first: int, size: int
) -> None:
    decoded = decode(raw)
    first = min(first, len(decoded))
    last = min(first + size, len(decoded))
    [(start, end, _)] = to_original(raw, [(first, last, 0)])
    assert decode(raw[start:end]) == decoded[first:last]
    assert decode(raw[:start]) == decoded[:first]
