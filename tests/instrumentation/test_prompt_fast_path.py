"""The model-call step's fast paths record exactly what the reference algorithms record.

``record_prompt`` takes the flat-message walk (``_canonical._flat_messages``), the
prebuilt C encoder (in its ASCII mode when every string is ASCII), and the matcher's
nested scan (``_matching.NeedleIndex._nested``) on
its common input, a list of flat message dicts. On message-shaped values (unicode,
escapes, lone surrogates, integers and floats at RFC 8785's edges, nested and odd
values that must leave the fast path) the prompt hash, the string parts and the sources
found must be byte-for-byte those of the reference (tests/instrumentation/
_reference_sources.py, and ``rfc8785`` itself).
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.instrumentation._canonical import (
    STRINGS_LIMIT,
    _flat_messages,
    _Plain,
    canonical_json,
    plain_strings,
)
from agentaudit.instrumentation._matching import NeedleIndex
from agentaudit.instrumentation._prompt import _link
from agentaudit.instrumentation._sources import string_parts
from tests.instrumentation._reference_sources import (
    ReferenceRegistry,
    reference_canonical_json,
    reference_string_parts,
)

SAFE = 2**53 - 1
EDGE_INTEGERS = st.sampled_from([0, -1, SAFE, -SAFE, SAFE + 1, -SAFE - 1, 2**63, -(2**64)])
EDGE_FLOATS = st.sampled_from(
    [
        *(0.0, -0.0, 0.1, 1e-4, 9.99e-5, 1e16, 9.999e15, 1e21, 1e-7, 5e-324),
        *(1.7976931348623157e308, float("nan"), float("inf"), -float("inf"), 2.0, -1e-4),
    ]
)
TEXT = st.text(alphabet='ab u\x00\x1f\x7f"\\/\u00e9\u0301\u2028\u4e2d\ud800\U0001f600', max_size=12)
LONG_TEXT = st.text(alphabet="ab \u00e9\u4e2d\U0001f600", min_size=16, max_size=40)
"""Registered sources: at least ``min_substring`` (16) characters, so found inside parts."""
KEYS = st.text(alphabet="az_\u00e9\ue000\U0001f600", min_size=1, max_size=6) | st.sampled_from(
    ["role", "content", "name", "tool_call_id"]
)
FIELDS = (
    TEXT
    | st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | EDGE_INTEGERS
    | EDGE_FLOATS
    | st.floats()
    | st.lists(TEXT, max_size=2)  # nested: leaves the flat path
    | st.dictionaries(st.just("text"), TEXT, max_size=1)
    | st.binary(max_size=2)
)
MESSAGE = st.dictionaries(KEYS, FIELDS, max_size=4)
MESSAGES = st.lists(MESSAGE | TEXT | st.none(), max_size=6)
FLAT = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": TEXT},
        optional={"name": TEXT, "n": EDGE_INTEGERS, "ok": st.booleans() | st.none()},
    ),
    max_size=8,
)


def _general_walk(value: list[Any], limit: int) -> list[str] | None:
    walk = _Plain(limit)
    if not walk.container(value, 0) or (walk.extended and walk.oversized):
        return None
    return walk.strings


@settings(max_examples=600, deadline=None)
@given(MESSAGES | FLAT, st.integers(1, 40) | st.just(STRINGS_LIMIT))
def test_flat_walk_equals_the_general_walk(messages: list[Any], limit: int) -> None:
    flat = _flat_messages(messages, limit)
    if flat is not None:
        assert flat == _general_walk(messages, limit)
    assert plain_strings(messages, limit) == _general_walk(messages, limit)
    assert string_parts(messages, limit=limit) == reference_string_parts(messages, limit=limit)


@settings(max_examples=600, deadline=None)
@given(MESSAGES | FLAT)
def test_canonical_json_of_messages_is_rfc8785(messages: list[Any]) -> None:
    parts = plain_strings(messages)
    encoded = canonical_json(messages, plain=parts is not None)
    assert encoded == canonical_json(messages) == reference_canonical_json(messages)
    for hint in (True, False):  # the ASCII mode's attempt, also on non-ASCII content
        assert canonical_json(messages, plain=parts is not None, ascii_hint=hint) == encoded
    try:
        exact = rfc8785.dumps(messages)
    except Exception:  # not JSON as is (NaN, bytes, huge integers, lone surrogates)
        return
    assert encoded == exact


@settings(max_examples=300, deadline=None)
@given(
    messages=FLAT,
    quoted=st.lists(st.tuples(st.integers(0, 7), TEXT, TEXT), max_size=4),
    registered=st.lists(LONG_TEXT, min_size=1, max_size=12),
)
def test_record_prompt_links_what_the_reference_links(
    messages: list[dict[str, Any]], quoted: list[tuple[int, str, str]], registered: list[str]
) -> None:
    """The prompt hash and the sources found by ``_link`` (the hot path of
    ``record_prompt``, on the process's registry) against rfc8785 + SHA-256 and the
    reference registry."""
    import agentaudit
    from agentaudit.instrumentation import _state

    registry = _state.registry()
    registry.clear()
    reference = ReferenceRegistry(
        max_sources=registry.max_sources,
        max_bytes=registry.max_bytes,
        max_sessions=registry.max_sessions,
        min_substring=registry.min_substring,
    )
    for at, before, after in quoted:  # put registered texts inside messages
        if messages:
            message = messages[at % len(messages)]
            message["content"] = before + registered[at % len(registered)] + after
    with agentaudit.context(agent="a", user="u", session="s"):
        for index, text in enumerate(registered):
            source = agentaudit.record_source(text, kind="email", ref=f"email:{index}")
            reference.add("s", source)
        record = _link(messages, "m")
    registry.clear()
    expected = reference_canonical_json(messages)
    assert record.hash == "sha256:" + hashlib.sha256(expected).hexdigest()
    assert list(record.sources) == reference.answer("s", reference_string_parts(messages))


@settings(max_examples=300, deadline=None)
@given(
    needles=st.lists(st.lists(TEXT, min_size=1, max_size=2), min_size=1, max_size=6),
    parts=st.lists(TEXT, max_size=40),
    minimum=st.integers(1, 6),
)
def test_nested_scan_equals_a_scan_per_needle(
    needles: list[list[str]], parts: list[str], minimum: int
) -> None:
    """Few needles over many short parts: the nested scan, and the join past it."""
    index = NeedleIndex()
    for key, options in enumerate(needles):
        index.add(f"k{key}", options)
    expected: dict[str, int] = {}
    for position, part in enumerate(parts):
        for key, options in enumerate(needles):
            if any(len(n) >= minimum and n in part for n in options):
                expected.setdefault(f"k{key}", position)
    assert index.find(parts, minimum) == expected
    for key in range(0, len(needles), 2):
        index.discard(f"k{key}")
        for position in list(expected.items()):
            if position[0] == f"k{key}":
                del expected[position[0]]
    assert index.find(parts, minimum) == expected


def test_the_ascii_mode_is_used_only_where_it_writes_the_same_bytes() -> None:
    """DEL (U+007F) is the one ASCII character the two modes of the C encoder write
    differently; a literal backslash-u and control characters read like escapes."""
    for text in ("\x7f", "a\\u00e9", "\x00\x1f\n", "plain", "é", "\U0001f600", "\ud800"):
        messages = [{"role": "user", "content": text}]
        expected = reference_canonical_json(messages)
        assert canonical_json(messages, plain=True, ascii_hint=True) == expected
