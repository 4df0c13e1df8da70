"""Property tests: benign text is never changed, and inserted secrets never survive."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentaudit.collector.ingest.model import SpanRecord
from agentaudit.collector.ingest.redaction import Redactor, available_engines
from tests.collector.ingest.test_redact_corpus import BENIGN_WORDS, samples

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
