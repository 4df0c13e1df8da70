"""The needle index: exact answers, and work that does not grow with the needle count."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.instrumentation._matching import TIERS, NeedleIndex, Tier

ALWAYS_GRAMS: tuple[Tier, ...] = tuple((gram, stride, 0) for gram, stride, _ in TIERS)


def _reference(needles: dict[str, list[str]], parts: list[str], minimum: int) -> dict[str, int]:
    """One ``in`` test per (part, needle): the definition of the answer."""
    first: dict[str, int] = {}
    for position, part in enumerate(parts):
        for key, options in needles.items():
            if any(len(needle) >= minimum and needle in part for needle in options):
                first.setdefault(key, position)
    return first


ALPHABET = "ab\x00\n中\U0001f600"
pieces = st.text(alphabet=ALPHABET, max_size=200)


@settings(max_examples=300, deadline=None)
@given(
    base=st.text(alphabet=ALPHABET, min_size=1, max_size=600),
    cuts=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 200)), min_size=1, max_size=12),
    parts=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 400), pieces), max_size=8),
    minimum=st.integers(1, 30),
    tiers=st.sampled_from([TIERS, ALWAYS_GRAMS]),
)
def test_find_equals_a_scan_per_needle(
    base: str,
    cuts: list[tuple[int, int]],
    parts: list[tuple[int, int, str]],
    minimum: int,
    tiers: tuple[Tier, ...],
) -> None:
    """Needles and parts cut from one text (so they overlap, straddle the separator and
    repeat), against the definition."""
    needles: dict[str, list[str]] = {}
    for index, (start, size) in enumerate(cuts):
        needles.setdefault(f"k{index % 5}", []).append(base[start : start + size])
    index = NeedleIndex(tiers)
    for key, options in needles.items():
        index.add(key, options)
    texts = [extra + base[start : start + size] for start, size, extra in parts]
    assert index.find(texts, minimum) == _reference(needles, texts, minimum)


def test_discard_forgets_a_key_whose_grams_were_built() -> None:
    index = NeedleIndex(ALWAYS_GRAMS)
    index.add("a", ["x" * 100 + "needle one" + "y" * 100])
    index.add("b", ["z" * 100 + "needle two" + "w" * 100])
    text = "..." + "x" * 100 + "needle one" + "y" * 100 + "..."
    assert index.find([text], 16) == {"a": 0}  # grams built by this pass
    index.discard("a")
    assert index.find([text], 16) == {}
    index.add("a", ["q" * 300])
    assert index.find(["q" * 400], 16) == {"a": 0}


def test_gram_pass_confirms_only_needles_sharing_a_gram() -> None:
    """With 500 needles, a prompt holding one of them costs a handful of confirming
    scans, not one per needle: the work follows the text, not the needle count."""
    rng = random.Random(15)
    words = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(3000)
    ]

    def prose(size: int) -> str:
        return " ".join(rng.choices(words, k=size // 4))[:size]

    index = NeedleIndex()
    needles = [prose(320) for _ in range(500)]
    for number, needle in enumerate(needles):
        index.add(f"k{number}", [needle])
    text = prose(50_000) + needles[42] + prose(50_000)
    tier = next(tier for tier in index._active if tier.count > tier.threshold)
    assert index.find([text], 16) == {"k42": 0}
    candidates = list(tier.candidates(text))
    assert ("k42", needles[42]) in candidates
    assert len(candidates) < 25  # of 500: only needles sharing a gram with the text
