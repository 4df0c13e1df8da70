"""Finding matches: which rules match where in a request's strings, in linear time.

Seam: the redactor gives :meth:`Scanner.scan` every string of a request (or the leaves of
its nested values); one engine scan over the strings joined with ``\\n`` says which
patterns match in which string (a *slot*). :meth:`Scanner.matches` then finds exact
extents with RE2 inside one slot only, and runs checksum validators and allow-lists on
those few candidates. :meth:`Scanner.decoded_matches` does the same on the
percent-decoded text of the slots holding a ``%XX`` escape, all of them in one more scan,
and maps what it finds back to the original text.

Besides the rules' patterns the engine looks for detection-only *triggers*: a key-rule
word (JSON holding it needs a structural walk), a JSON escape (``\\u``, ``\\/``: could hide
a secret from the raw scan) and a percent escape.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate
from operator import add

from agentaudit.collector.ingest.redaction import _percent
from agentaudit.collector.ingest.redaction._batch import trigger_pattern
from agentaudit.collector.ingest.redaction._engines import Engine, make_engine
from agentaudit.collector.ingest.redaction._rules import Policy, Rule, compile_re2
from agentaudit.collector.ingest.redaction._validators import VALIDATORS

__all__ = ["MAX_MATCHES_PER_VALUE", "SEPARATOR", "Scanner", "bounds"]

MAX_MATCHES_PER_VALUE = 1_000
SEPARATOR = "\n"
_ESCAPE = r"\\[u/]"

Found = dict[int, set[int]]
"""Slot -> ids of the patterns (rules and triggers) that matched in it."""


class Scanner:
    """The rules of a :class:`Policy` compiled for one engine. Thread-safe."""

    def __init__(self, policy: Policy, engine: str | None = None) -> None:
        self.content: tuple[Rule, ...] = policy.content_rules
        self._allow = policy.allow
        self._allow_patterns = [compile_re2(p, "allow pattern") for p in policy.allow_patterns]
        self._compiled = [compile_re2(r.pattern or "", r.origin) for r in self.content]
        self._validators = [VALIDATORS[r.validator] if r.validator else None for r in self.content]
        patterns = [r.pattern or "" for r in self.content]
        sets = [r.scan_set for r in self.content]
        origins = [r.origin for r in self.content]

        def add_trigger(pattern: str, scan_set: str, origin: str) -> int:
            patterns.append(pattern)
            sets.append(scan_set)
            origins.append(origin)
            self._compiled.append(compile_re2(pattern, origin))
            return len(patterns) - 1

        words = trigger_pattern(w for r in policy.key_rules for w in r.keys)
        self.keyword_id = add_trigger(words, "key words", "key-rule trigger") if words else -1
        add_trigger(_ESCAPE, "default", "escape trigger")
        # In a Hyperscan database of its own, a one-byte literal costs ~nothing; in
        # "default" it slowed the whole scan by ~10 %.
        self.percent_id = add_trigger(_percent.TRIGGER_PATTERN, "percent", "percent trigger")
        self.triggers = frozenset(range(len(self.content), len(patterns)))
        self.structural = self.triggers - {self.percent_id}
        """Triggers that send JSON text down the structural walk (not the percent one)."""
        self.engine: Engine = make_engine(engine or policy.engine, patterns, sets, origins)

    def scan(self, texts: list[str]) -> tuple[bytes, list[int], Found]:
        """Join, scan, and return (buffer, slot starts, slot -> ids of matching patterns)."""
        joined = SEPARATOR.join(texts)
        buf = joined.encode("utf-8", "surrogatepass")
        if len(buf) == len(joined):
            lengths: Iterable[int] = map(len, texts)
        else:
            lengths = (len(t.encode("utf-8", "surrogatepass")) for t in texts)
        return self.scan_buffer(buf, lengths, len(texts))

    def scan_buffer(
        self, buf: bytes, lengths: Iterable[int], count: int
    ) -> tuple[bytes, list[int], Found]:
        ends, hit = self.engine.scan(buf)
        if not hit:
            return buf, [], {}
        # Slot k starts after the k earlier slots and their k separators.
        starts = list(map(add, accumulate(lengths, initial=0), range(count)))
        found: dict[int, set[int]] = {}
        if ends is not None:
            for pattern, offsets in ends.items():
                for end in offsets:
                    slot = bisect_right(starts, end - 1) - 1
                    found.setdefault(slot, set()).add(pattern)
        else:
            for pattern in hit:
                self._locate(buf, starts, pattern, found)
        return buf, starts, found

    def _locate(self, buf: bytes, starts: list[int], pattern: int, found: Found) -> None:
        """Mark every slot where ``pattern`` may match (one search per matching slot)."""
        compiled = self._compiled[pattern]
        position = 0
        while position < len(buf):
            match = compiled.search(buf, position)
            if match is None:
                return
            slot = bisect_right(starts, match.start()) - 1
            found.setdefault(slot, set()).add(pattern)
            position = starts[slot + 1] if slot + 1 < len(starts) else len(buf)

    def matches(
        self, buf: bytes, start: int, end: int, patterns: set[int]
    ) -> list[tuple[int, int, int]]:
        """(start, end, rule index) of accepted matches in ``buf[start:end]``, slot-relative.

        A value with more than MAX_MATCHES_PER_VALUE matches is replaced whole.
        """
        found: list[tuple[int, int, int]] = []
        for index in sorted(patterns):
            if index >= len(self.content):
                continue  # a trigger, not a rule
            rule = self.content[index]
            compiled = self._compiled[index]
            validator = self._validators[index]
            retries = MAX_RETRIES  # per rule and value: bounded work on long digit runs
            position = start
            while position < end:
                match = compiled.search(buf, position, end)
                if match is None:
                    break
                position = max(match.end(), position + 1)
                first, last = match.span(rule.group)
                if first < 0 or last <= first:
                    continue
                text = buf[first:last]
                if validator is not None and not validator(text):
                    retries -= 1
                    shorter = (
                        self._validated_within(index, buf, first, last) if retries > 0 else None
                    )
                    if shorter is None:
                        if retries > 0 and last - first <= MAX_RETRY_SPAN:
                            position = first + 1  # a valid candidate may start later
                        continue
                    first, last = shorter
                    position = max(last, first + 1)
                    text = buf[first:last]
                if self._allowed(text):
                    continue
                found.append((first - start, last - start, index))
                if len(found) > MAX_MATCHES_PER_VALUE:
                    return [(0, end - start, index)]  # hostile: replace the whole value
        return found

    def _validated_within(
        self, index: int, buf: bytes, first: int, last: int
    ) -> tuple[int, int] | None:
        """A shorter match of rule ``index`` starting at ``first`` that validates.

        A greedy pattern can swallow a digit beyond the number (``4111...1111 0``): the
        whole candidate fails its checksum while a prefix is the number. Trims at most
        :data:`MAX_TRIMS` characters from the right.
        """
        rule = self.content[index]
        compiled = self._compiled[index]
        validator = self._validators[index]
        assert validator is not None
        for end in range(last - 1, max(first, last - MAX_TRIMS - 1), -1):
            match = compiled.search(buf, first, end)
            if match is None:
                return None
            start, stop = match.span(rule.group)
            if start == first and stop > start and validator(buf[start:stop]):
                return start, stop
        return None

    def decoded_matches(
        self, buf: bytes, starts: list[int], found: dict[int, set[int]]
    ) -> dict[int, list[tuple[int, int, int]]]:
        """Matches in the percent-decoded text of each slot holding a ``%XX`` escape.

        Returned as slot-relative ranges of the original text. All decoded slots of a
        request are scanned together, once.
        """
        slots = [slot for slot, patterns in found.items() if self.percent_id in patterns]
        if not slots:
            return {}
        raws = [buf[slice(*bounds(starts, slot, len(buf)))] for slot in slots]
        decoded = [_percent.decode(raw) for raw in raws]
        dbuf, dstarts, dfound = self.scan_buffer(
            SEPARATOR.encode().join(decoded), map(len, decoded), len(decoded)
        )
        out: dict[int, list[tuple[int, int, int]]] = {}
        for dslot, patterns in dfound.items():
            if patterns <= self.triggers:
                continue
            matches = self.matches(dbuf, *bounds(dstarts, dslot, len(dbuf)), patterns)
            if matches:
                out[slots[dslot]] = _percent.to_original(raws[dslot], matches)
        return out

    def _allowed(self, text: bytes) -> bool:
        if text in self._allow:
            return True
        return any(p.fullmatch(text) is not None for p in self._allow_patterns)


MAX_TRIMS = 8
"""Characters a failed checksum candidate is trimmed by, looking for the number inside."""
MAX_RETRIES = 32
"""Failed checksum candidates per rule and value that are looked into again (trimmed,
searched from their next character); past that, a failed candidate is skipped whole, so a
megabyte of near-miss digits costs what it cost before."""
MAX_RETRY_SPAN = 64
"""A failed candidate at most this long is searched again from its next character (a
number may start inside it); longer ones are skipped whole (bounded work on long digit
runs)."""


def bounds(starts: list[int], slot: int, size: int) -> tuple[int, int]:
    """(start, end) of a slot in the joined buffer (its separator excluded)."""
    return starts[slot], (starts[slot + 1] - 1 if slot + 1 < len(starts) else size)
