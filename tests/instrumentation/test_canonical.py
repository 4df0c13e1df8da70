"""Canonical JSON and hashing: RFC 8785 equivalence, invariances, hostile values."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.instrumentation._canonical import canonical_json, digest, to_jsonable

SAFE = 2**53 - 1
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_matches_rfc8785_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=6), st.randoms(use_true_random=False))
def test_key_order_does_not_change_the_hash(value: dict[str, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert digest(canonical_json(dict(items))) == digest(canonical_json(value))


@given(st.integers(min_value=-SAFE, max_value=SAFE))
def test_integral_floats_hash_like_integers(number: int) -> None:
    # JSON has one number type: 1.0 and 1 are the same value.
    assert canonical_json(float(number)) == canonical_json(number)


def test_unicode_is_kept_not_escaped_and_astral_keys_sort_by_utf16() -> None:
    value = {"\U0001f600": 1, "\uffff": 2, "é": "naïve \u2028"}
    encoded = canonical_json(value)
    assert encoded == rfc8785.dumps(value)
    assert "naïve".encode() in encoded
    # UTF-16 order puts the surrogate pair (0xD83D...) before U+FFFF.
    assert encoded.index("\U0001f600".encode()) < encoded.index("\uffff".encode())


def test_numbers_use_the_ecmascript_form() -> None:
    assert canonical_json([1.0, 1e21, 1e-7, -0.0, 0.1]) == b"[1,1e+21,1e-7,0,0.1]"


def test_digest_formats_and_hmac_key() -> None:
    data = canonical_json({"a": 1})
    assert digest(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    keyed = digest(data, b"k")
    assert keyed == "hmac-sha256:" + hmac.new(b"k", data, hashlib.sha256).hexdigest()
    assert digest(data, b"other") != keyed


class Opaque:
    def __repr__(self) -> str:
        raise RuntimeError("repr must not be called")


def test_hostile_values_become_markers_without_raising() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    deep: Any = "bottom"
    for _ in range(10_000):
        deep = [deep]
    value = {
        "cycle": cyclic,
        "deep": deep,
        "bytes": b"\x00\xff",
        "obj": Opaque(),
        "nan": math.nan,
        "inf": -math.inf,
        "big": 2**80,
        1: "int key",
        ("t",): "tuple key",
        "set": {3, 1, 2},
        "surrogate": "a\ud800b",
    }
    out = to_jsonable(value)
    assert out["cycle"] == [1, "<cycle>"]
    assert "<depth limit>" in json.dumps(out["deep"])
    assert out["bytes"].startswith("<bytes 2 sha256:")
    assert out["obj"] == "<Opaque>"
    assert (out["nan"], out["inf"], out["big"]) == ("NaN", "-Infinity", str(2**80))
    assert out["1"] == "int key"
    assert out["<tuple>"] == "tuple key"
    assert out["set"] == [1, 2, 3]
    assert out["surrogate"] == "a\ufffdb"
    encoded = canonical_json(value)  # hashable, deterministic
    assert encoded == canonical_json(value)
    json.loads(encoded)


def test_huge_containers_are_bounded() -> None:
    out = to_jsonable(list(range(100_000)))
    assert len(out) == 1001
    assert out[-1] == "<99000 more items>"
