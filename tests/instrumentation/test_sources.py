"""Source matching: found wherever it is embedded, never invented, bounded memory."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from agentaudit.instrumentation._prompt import make_source
from agentaudit.instrumentation._sources import SourceRegistry, string_parts

# Sources use letters, filler text uses digits and punctuation: a source can only be in
# a prompt when it was put there.
source_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=16, max_size=200)
filler = st.text(alphabet="0123456789 .,;:!?-\n", max_size=500)


def _registry() -> SourceRegistry:
    return SourceRegistry(max_sources=64, max_bytes=1 << 20, max_sessions=8, min_substring=16)


@settings(max_examples=200, deadline=None)
@given(source_text, filler, filler)
def test_embedded_source_is_found(text: str, before: str, after: str) -> None:
    registry = _registry()
    registry.add("s", make_source(text, kind="email", ref="email:1", trust="untrusted"))
    messages = [{"role": "user", "content": before + text + after}]
    assert [s.ref for s in registry.match("s", string_parts(messages))] == ["email:1"]


@settings(max_examples=200, deadline=None)
@given(st.lists(source_text, min_size=1, max_size=5, unique=True), filler)
def test_absent_sources_are_not_matched(texts: list[str], prompt: str) -> None:
    registry = _registry()
    for index, text in enumerate(texts):
        registry.add("s", make_source(text, kind="web", ref=f"url:{index}", trust="untrusted"))
    assert registry.match("s", [prompt]) == []


def test_short_source_matches_only_a_whole_part() -> None:
    registry = _registry()
    registry.add("s", make_source("yes", kind="user", ref="user:1", trust="user"))
    assert registry.match("s", ["yes, but also more"]) == []
    assert [s.ref for s in registry.match("s", ["yes"])] == ["user:1"]


def test_structured_result_found_in_its_json_rendering() -> None:
    registry = _registry()
    result = {"city": "Lyon", "forecast": ["sun", "rain"]}
    registry.add("s", make_source(result, kind="tool_result", ref="tool:w#1", trust="untrusted"))
    for rendering in (json.dumps(result), str(result)):
        assert [s.ref for s in registry.match("s", [f"Tool said: {rendering}"])] == ["tool:w#1"]


def test_sources_are_per_session() -> None:
    registry = _registry()
    registry.add("a", make_source("x" * 40, kind="email", ref="email:a", trust="untrusted"))
    assert registry.match("b", ["x" * 40]) == []


def test_a_source_registered_after_a_part_was_scanned_is_still_found() -> None:
    registry = _registry()
    part = "prefix " + "the quick brown fox jumps" + " suffix"
    registry.add(
        "s", make_source("unrelated text of the session", kind="x", ref="r1", trust="user")
    )
    assert registry.match("s", [part]) == []
    registry.add(
        "s", make_source("the quick brown fox jumps", kind="web", ref="r2", trust="untrusted")
    )
    assert [s.ref for s in registry.match("s", [part])] == ["r2"]
    assert [s.ref for s in registry.match("s", [part])] == ["r2"]  # from the cache


def test_memory_is_bounded_per_session_and_in_sessions() -> None:
    registry = SourceRegistry(max_sources=10, max_bytes=1000, max_sessions=3, min_substring=16)
    for index in range(100):
        registry.add(
            "s",
            make_source(
                f"document number {index:04d} " * 2, kind="d", ref=f"d:{index}", trust="untrusted"
            ),
        )
    kept = registry.sources("s")
    assert len(kept) == 10
    assert [s.ref for s in kept][-1] == "d:99"  # LRU keeps the newest
    registry.add("s", make_source("z" * 2000, kind="d", ref="big", trust="untrusted"))
    assert [s.ref for s in registry.sources("s")] == ["big"]  # the newest is always kept
    for session in ("t", "u", "v"):
        registry.add(session, make_source("q" * 20, kind="d", ref="q", trust="untrusted"))
    assert registry.sources("s") == []  # the least recently used session was evicted


def test_long_source_found_when_only_its_beginning_was_included() -> None:
    registry = _registry()
    document = "".join(f"paragraph {i} of the quarterly report. " for i in range(5000))
    registry.add("s", make_source(document, kind="document", ref="doc:q3", trust="untrusted"))
    assert [s.ref for s in registry.match("s", ["Summarise: " + document[:4000] + " ..."])] == [
        "doc:q3"
    ]
    assert [s.ref for s in registry.match("s", [document])] == ["doc:q3"]
    assert registry.match("s", [document[1000:3000]]) == []


def test_long_prompt_scan_is_linear_in_sources() -> None:
    # 256 sources against a 1 MB part: one C-level scan per source, no quadratic blowup.
    registry = SourceRegistry(max_sources=256, max_bytes=1 << 24, max_sessions=2, min_substring=16)
    for index in range(256):
        registry.add(
            "s",
            make_source(
                f"source body {index:05d} unique", kind="d", ref=f"d:{index}", trust="untrusted"
            ),
        )
    prompt = "0123456789" * 100_000 + "source body 00042 unique"
    assert [s.ref for s in registry.match("s", [prompt])] == ["d:42"]


def test_answers_reflect_the_registry_now() -> None:
    # No per-part cache: a ref re-registered with other content, or a changed
    # min_substring, is answered for the registry as it is, also for parts seen before.
    registry = _registry()
    registry.add("s", make_source("the first version body", kind="d", ref="d", trust="untrusted"))
    conversation = ["turn 0: quotes the first version body here", "turn 1: filler words"]
    assert [s.ref for s in registry.match("s", conversation)] == ["d"]
    registry.add("s", make_source("a second version body", kind="d", ref="d", trust="untrusted"))
    assert registry.match("s", conversation) == []
    conversation.append("turn 2: quotes a second version body")
    assert [s.ref for s in registry.match("s", conversation)] == ["d"]
    registry.min_substring = 40
    assert registry.match("s", conversation) == []
