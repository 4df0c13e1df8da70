"""The one-walk fast path (``plain_strings`` + the prebuilt C encoder) changes no hash and
no string part: it equals the previous algorithms (tests/instrumentation/_reference_sources.py)
on every value, including the ones it must send to the exact path."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.instrumentation._canonical import MAX_ITEMS, canonical_json, plain_strings
from agentaudit.instrumentation._sources import string_parts
from tests.instrumentation._reference_sources import (
    reference_canonical_json,
    reference_string_parts,
)

SAFE = 2**53 - 1
# Keys: ASCII, BMP below the surrogates, from U+E000, astral (UTF-16 order differs there).
keys = st.text(alphabet="az\u00e9\u4e2d\ue000\uffff\U0001f600", max_size=4)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)  # beyond 2**53 too
    | st.floats()  # NaN, infinities, integral, tiny and huge
    | st.text(alphabet='a\u00e9\U0001f600\ud800\x00"\\', max_size=6)  # a lone surrogate
    | st.binary(max_size=3)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(keys, children, max_size=4)
        | st.dictionaries(st.integers(0, 3), children, max_size=2)
    ),
    max_leaves=40,
)


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=500, deadline=None)
@given(values)
def test_canonical_json_equals_the_previous_algorithm(value: Any) -> None:
    assert canonical_json(value) == reference_canonical_json(value)
    plain = plain_strings(value)
    assert canonical_json(value, plain=plain is not None) == reference_canonical_json(value)
    # The ASCII-mode attempt, even when the hint is wrong (non-ASCII strings or keys).
    hinted = canonical_json(value, plain=plain is not None, ascii_hint=True)
    assert hinted == reference_canonical_json(value)


@settings(max_examples=500, deadline=None)
@given(values, st.integers(1, 60))
def test_string_parts_equal_the_previous_walk(value: Any, limit: int) -> None:
    assert string_parts(value, limit=limit) == reference_string_parts(value, limit=limit)
    assert string_parts(value) == reference_string_parts(value)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 12))
def test_floats_and_depth_at_the_edges(number: float, depth: int) -> None:
    value = _nested({"x": number, "é": "t"}, depth)
    assert canonical_json(value) == reference_canonical_json(value) == rfc8785.dumps(value)


def test_bounded_containers_keep_their_old_hash() -> None:
    """A float or a non-ASCII key in a container to_jsonable would truncate: exact path."""
    for extra in ({"f": 0.5}, {"é": 1}, {"a": 1}):
        value = [extra, *range(MAX_ITEMS + 5)]
        assert canonical_json(value) == reference_canonical_json(value)
        nodes = [extra, *([list(range(50))] * 500)]  # > MAX_NODES values
        assert canonical_json(nodes) == reference_canonical_json(nodes)
