"""The registry answers exactly as the old per-needle algorithm, on random histories.

Each history registers, replaces and evicts sources in a few sessions, changes
``min_substring`` and matches prompts; after every step the registry under test and the
reference (tests/instrumentation/_reference_sources.py, answering for the registry as it
is) must agree on the sources found, their order, and the registry's LRU order. The
matcher runs three ways: its measured defaults, always the gram pass, never the gram pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.instrumentation._matching import TIERS, Tier
from agentaudit.instrumentation._prompt import make_source
from agentaudit.instrumentation._sources import Source, SourceRegistry, string_parts
from tests.instrumentation._reference_sources import ReferenceRegistry

ALWAYS_GRAMS: tuple[Tier, ...] = tuple((gram, stride, 0) for gram, stride, _ in TIERS)
NEVER_GRAMS: tuple[Tier, ...] = tuple((gram, stride, 10**9) for gram, stride, _ in TIERS)
MATCHERS = {"default": TIERS, "grams": ALWAYS_GRAMS, "direct": NEVER_GRAMS}

# Few letters, so needles overlap, repeat and are prefixes of each other; the separator
# the matcher joins parts with, a newline, and astral / combining / CJK characters.
ALPHABET = "ab\x00\n é\u0301中\U0001f600"
texts = st.text(alphabet=ALPHABET, max_size=140)
SESSIONS = ("s", "t")


@dataclass
class Pair:
    """The registry under test and the reference, given the same operations."""

    new: SourceRegistry
    old: ReferenceRegistry

    def add(self, session: str, source: Source) -> None:
        assert self.new.add(session, source) == self.old.add(session, source)

    def minimum(self, value: int) -> None:
        self.new.min_substring = self.old.min_substring = value

    def check(self, session: str, parts: list[str]) -> list[str]:
        found = self.new.match(session, parts)
        assert found == self.old.answer(session, parts)
        for name in SESSIONS:
            assert self.new.sources(name) == self.old.sources(name)
        return [source.ref for source in found]


def _pair(tiers: tuple[Tier, ...], **limits: int) -> Pair:
    options = {"max_sources": 6, "max_bytes": 900, "max_sessions": 2, "min_substring": 4}
    options.update(limits)
    return Pair(SourceRegistry(index_tiers=tiers, **options), ReferenceRegistry(**options))


def _source(ref: str, needles: tuple[str, ...]) -> Source:
    return Source(ref, "doc", "untrusted", f"sha256:{ref}", needles, sum(map(len, needles)))


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, Any, Any]]:
    """Operations over one shared text, so sources overlap and prompts contain them."""
    base = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=400))

    def piece() -> str:
        start = draw(st.integers(0, len(base)))
        end = draw(st.integers(start, min(len(base), start + 160)))
        return base[start:end] if draw(st.booleans()) else draw(texts)

    ops: list[tuple[str, Any, Any]] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["add", "add", "add", "match", "match", "minimum"]))
        session = draw(st.sampled_from((*SESSIONS, "u")))
        if kind == "add":
            ref = f"r{draw(st.integers(0, 7))}"
            needles = tuple(piece() for _ in range(draw(st.integers(1, 3))))
            ops.append(("add", session, _source(ref, needles)))
        elif kind == "match":
            parts = [piece() + piece() for _ in range(draw(st.integers(0, 8)))]
            ops.append(("match", session, parts))
        else:
            ops.append(("minimum", None, draw(st.integers(1, 40))))
    return ops


@pytest.mark.parametrize("matcher", sorted(MATCHERS))
@settings(max_examples=250, deadline=None)
@given(ops=histories())
def test_random_histories_match_the_reference(
    matcher: str, ops: list[tuple[str, Any, Any]]
) -> None:
    pair = _pair(MATCHERS[matcher])
    for kind, session, arg in ops:
        if kind == "add":
            pair.add(session, arg)
        elif kind == "minimum":
            pair.minimum(arg)
        else:
            pair.check(session, arg)


@pytest.mark.parametrize("matcher", sorted(MATCHERS))
@settings(max_examples=150, deadline=None)
@given(
    contents=st.lists(
        st.one_of(
            texts,
            st.dictionaries(st.sampled_from(["to", "body", "é"]), texts, max_size=3),
            st.lists(texts, max_size=3),
        ),
        min_size=1,
        max_size=6,
    ),
    data=st.data(),
)
def test_registered_content_matches_the_reference(
    matcher: str, contents: list[Any], data: st.DataObject
) -> None:
    """Needles as record_source makes them (renderings, leaves, long-text prefixes)."""
    pair = _pair(MATCHERS[matcher], max_sources=64, max_bytes=1 << 20)
    for index, content in enumerate(contents):
        pair.add("s", make_source(content, kind="doc", ref=f"doc:{index}", trust="untrusted"))
    rendered = [str(content) for content in contents]
    chosen = data.draw(st.lists(st.sampled_from(rendered), max_size=4))
    prompt = [
        {"role": "user", "content": data.draw(texts) + text + data.draw(texts)} for text in chosen
    ]
    pair.check("s", string_parts(prompt))


@pytest.mark.parametrize("matcher", sorted(MATCHERS))
def test_large_inputs_match_the_reference(matcher: str) -> None:
    """300 sources (long, short, prefixes of one another) against 300 KB prompts."""
    rng = random.Random(15)
    words = ["".join(rng.choices("abcdefghij", k=rng.randint(2, 8))) for _ in range(400)]

    def prose(size: int) -> str:
        return " ".join(rng.choices(words, k=size // 5))[:size]

    pair = _pair(MATCHERS[matcher], max_sources=300, max_bytes=1 << 24, min_substring=16)
    document = prose(150_000)  # beyond 64 KiB: found by its prefixes
    pair.add("s", make_source(document, kind="doc", ref="doc:big", trust="untrusted"))
    registered: list[str] = []
    for index in range(299):
        text = prose(rng.choice([12, 20, 40, 90, 400, 3000]))
        if index % 10 == 0 and registered:
            text = registered[-1][: max(16, len(registered[-1]) // 2)]  # a prefix of another
        registered.append(text)
        pair.add("s", make_source(text, kind="web", ref=f"url:{index}", trust="untrusted"))
    for trial in range(4):
        inside = [*rng.sample(registered, 5), document[: 10_000 * trial]]
        parts = [prose(3_000) + text + prose(2_000) for text in inside]
        parts += [prose(2_000) for _ in range(100)]
        rng.shuffle(parts)
        pair.check("s", parts)
    assert pair.check("s", [document]) == ["doc:big"]
    assert pair.check("s", [""]) == []
    assert pair.check("s", []) == []
