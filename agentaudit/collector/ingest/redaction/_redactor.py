"""The redactor: secrets and personal data out of decoded spans, before anything is queued.

Seam: receivers call :meth:`Redactor.redact` with the spans of one export request
between decoding and the WAL. One call scans the whole request as a single joined
buffer with the multi-pattern engine, so per-value overhead is a few list appends.

Invariants:

* Redaction is in place: the spans are freshly decoded and owned by the caller, and
  nothing else may hold references to their attribute dicts while this runs. A resource
  attribute dict shared by several spans is redacted once and its counts are added to
  every span that shares it.
* After :meth:`Redactor.redact` returns, no string value of a span (attributes of the
  span, its resource, events and links, nested dict/list values, JSON held in strings,
  the span name and status message) contains a match of an active content rule that
  passes its validator and is not allow-listed, and no key matching a key rule keeps
  its value. ``span.redactions`` counts, per rule, the values replaced in that span.
* Matching is linear-time (Hyperscan or RE2, never backtracking ``re``); Python-side
  work is bounded by the number of matches, which is capped per value.
* A JSON string is re-serialised only when something inside it was redacted, and then
  stays valid JSON; benign values come through byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import Any

from agentaudit.collector.ingest.model import SpanRecord
from agentaudit.collector.ingest.redaction._batch import (
    BYTES,
    FIELD,
    KEY,
    STR,
    TOO_DEEP,
    Batch,
    JsonRoot,
    add_scalar,
    inside_string_values,
    is_digest,
    parse_json,
    trigger_pattern,
)
from agentaudit.collector.ingest.redaction._engines import Engine, make_engine
from agentaudit.collector.ingest.redaction._key import resolve_key
from agentaudit.collector.ingest.redaction._rules import (
    Policy,
    Rule,
    compile_re2,
    normalise_key,
    parse_policy,
)
from agentaudit.collector.ingest.redaction._validators import VALIDATORS
from agentaudit.schema import attributes as A

__all__ = ["DIGEST_ATTRIBUTES", "NESTING_RULE", "Redactor"]

DIGEST_ATTRIBUTES = frozenset({A.PROMPT_HASH, A.SOURCE_HASHES, A.ARGUMENTS_HASH, A.RESULT_HASH})
"""Provenance digests: exempt from content rules while their values are digests
(``sha256:<64 hex>`` / ``hmac-sha256:<64 hex>``); any other value is scanned."""
NESTING_RULE = "nesting_limit"
"""Pseudo-rule counted when a nested value is too deep to walk and is masked whole."""
MAX_DEPTH = 64
MAX_JSON_NESTING = 3
"""JSON held in a string inside JSON (inside JSON...) is parsed this many levels deep."""
MAX_MATCHES_PER_VALUE = 1_000
KEY_CACHE_SIZE = 8_192
SEPARATOR = "\n"
_ESCAPE = r"\\[u/]"
_INLINE_SAFE_NAME = re.compile(r"[A-Za-z0-9_.:-]+")

_DROP = object()
_UNKNOWN = object()
_EXEMPT = object()
_DIGEST = object()


class Redactor:
    """Applies a :class:`Policy` to spans. Build once at start-up; thread-safe."""

    def __init__(self, policy: Policy, key: bytes | None, *, engine: str | None = None) -> None:
        self.policy = policy
        self._key = key
        self._content: tuple[Rule, ...] = policy.content_rules
        self._key_rules: tuple[Rule, ...] = policy.key_rules
        self._compiled = [compile_re2(r.pattern or "", r.origin) for r in self._content]
        self._validators = [VALIDATORS[r.validator] if r.validator else None for r in self._content]
        patterns = [r.pattern or "" for r in self._content]
        sets = [r.scan_set for r in self._content]
        origins = [r.origin for r in self._content]
        # Detection-only triggers: a key word (a JSON value may need a structural walk)
        # and a JSON escape that could hide a secret from the raw-text scan.
        trigger = trigger_pattern(w for r in self._key_rules for w in r.keys)
        self._keyword_id = len(patterns) if trigger else -1
        if trigger:
            patterns.append(trigger)
            sets.append("key words")
            origins.append("key-rule trigger")
            self._compiled.append(compile_re2(trigger, "key-rule trigger"))
        patterns.append(_ESCAPE)
        sets.append("default")
        origins.append("escape trigger")
        self._compiled.append(compile_re2(_ESCAPE, "escape trigger"))
        self._triggers = frozenset(range(len(self._content), len(patterns)))
        # Rules whose replacement can be written into raw JSON text as is.
        self._inline = frozenset(
            i
            for i, r in enumerate(self._content)
            if r.action != "drop" and _INLINE_SAFE_NAME.fullmatch(r.name)
        )
        self._allow_patterns = [compile_re2(p, "allow pattern") for p in policy.allow_patterns]
        self.engine: Engine = make_engine(engine or policy.engine, patterns, sets, origins)
        self._key_cache: dict[str, Rule | object | None] = {}
        self._attribute_cache: dict[str, object] = {}
        if key is None and policy.uses_hash:
            raise ValueError("a policy with hash actions needs a key")

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any],
        *,
        state_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        engine: str | None = None,
    ) -> Redactor:
        """Build from the config file's ``[redaction]`` section (a plain dict).

        ``state_dir`` is where a generated HMAC key is kept when none is configured
        (``<state_dir>/redaction.key``); raises ConfigError naming the bad key.
        """
        import os

        policy = parse_policy(section)
        key = None
        if policy.uses_hash:
            key = resolve_key(
                key=policy.key,
                key_file=policy.key_file,
                state_dir=state_dir,
                environ=os.environ if environ is None else environ,
            )
        return cls(policy, key, engine=engine)

    # --- public helpers -------------------------------------------------------------

    def pseudonym(self, value: str, rule: str = "email") -> str:
        """The keyed-hash replacement ``rule`` gives ``value`` (to look a user up)."""
        found = next((r for r in self.policy.rules if r.name == rule), None)
        casefold = found.casefold if found else False
        return self._hashed(value.encode("utf-8", "surrogatepass"), rule, casefold)

    def redact(self, spans: Sequence[SpanRecord]) -> None:
        """Redact the spans of one request in place and set each ``span.redactions``.

        The spans must be freshly decoded and owned by the caller: their attribute dicts
        (and values) are modified, and a resource dict shared by several spans is
        redacted once. Safe to call from several threads on different requests.
        """
        batch = Batch()
        structures: list[tuple[Any, dict[str, int]]] = []
        span_counters: list[list[dict[str, int]]] = []
        shared: dict[int, dict[str, int]] = {}
        for span in spans:
            own: dict[str, int] = {}
            counters = [own]
            resource = span.resource_attributes
            resource_counter = shared.get(id(resource))
            if resource_counter is None:
                resource_counter = shared[id(resource)] = {}
                self._collect(resource, resource_counter, batch, structures)
            counters.append(resource_counter)
            self._collect(span.attributes, own, batch, structures)
            for event in span.events:
                self._collect(event.attributes, own, batch, structures)
            for link in span.links:
                self._collect(link.attributes, own, batch, structures)
            if span.name:
                batch.add(span.name, (span, "name", FIELD, own, False))
            if span.status_message:
                batch.add(span.status_message, (span, "status_message", FIELD, own, False))
            span_counters.append(counters)

        self._text_phase(batch, structures)
        if structures:
            self._structure_phase(structures)

        for span, counters in zip(spans, span_counters, strict=True):
            if not any(counters):
                continue
            total = dict(span.redactions)
            for counter in counters:
                for rule, count in counter.items():
                    total[rule] = total.get(rule, 0) + count
            span.redactions = total

    # --- collection -----------------------------------------------------------------

    def _key_rule(self, key: str) -> Rule | None:
        cached = self._key_cache.get(key, _UNKNOWN)
        if cached is not _UNKNOWN:
            return cached  # type: ignore[return-value]
        rule = None
        if self._key_rules:
            normalised = normalise_key(key)
            rule = next((r for r in self._key_rules if normalised.endswith(r.keys)), None)
        if len(self._key_cache) >= KEY_CACHE_SIZE:
            self._key_cache.clear()
        self._key_cache[key] = rule
        return rule

    def _attribute_class(self, key: str) -> object:
        """None (scan the value), a key Rule, _EXEMPT or _DIGEST for an attribute name."""
        found: object
        if key in self.policy.exempt_attributes:
            found = _EXEMPT
        elif key in DIGEST_ATTRIBUTES:
            found = _DIGEST
        else:
            found = self._key_rule(key)
        if len(self._attribute_cache) >= KEY_CACHE_SIZE:
            self._attribute_cache.clear()
        self._attribute_cache[key] = found
        return found

    def _collect(
        self,
        attributes: dict[str, Any],
        counter: dict[str, int],
        batch: Batch,
        structures: list[tuple[Any, dict[str, int]]],
    ) -> None:
        cache = self._attribute_cache
        texts = batch.texts
        add_text = texts.append
        add_ref = batch.refs.append
        keyed: list[tuple[str, Rule]] | None = None
        # batch.own(...) inlined: this loop runs for every attribute of every span.
        own_at, owner = batch.owner_starts.append, batch.owners.append
        own_at(len(texts))
        owner((attributes, counter))
        for key, value in attributes.items():
            kind = cache.get(key, _UNKNOWN)
            if kind is None and type(value) is str:  # the common case first
                add_text(value)
                add_ref(key)
                continue
            if kind is _UNKNOWN:
                kind = self._attribute_class(key)
            if kind is not None:
                if kind is _EXEMPT:
                    continue
                if kind is _DIGEST:
                    # Checked up front: hex runs are slow to scan for the digit rules.
                    if is_digest(value):
                        continue
                else:
                    if keyed is None:
                        keyed = []
                    keyed.append((key, kind))  # type: ignore[arg-type]
                    continue
            if type(value) is str:
                add_text(value)
                add_ref(key)
            elif isinstance(value, list):
                own_at(len(texts))
                owner((value, counter))
                for index, item in enumerate(value):
                    if type(item) is str:
                        add_text(item)
                        add_ref(index)
                    elif isinstance(item, dict | list):
                        structures.append((item, counter))
                    else:
                        add_scalar(batch, item, value, index, counter, False)
                own_at(len(texts))
                owner((attributes, counter))
            elif isinstance(value, dict):
                structures.append((value, counter))
            else:
                add_scalar(batch, value, attributes, key, counter, False)
        if keyed is not None:
            for key, rule in keyed:
                self._apply_key_rule(attributes, key, rule, counter)

    # --- scanning -------------------------------------------------------------------

    def _scan(self, texts: list[str]) -> tuple[bytes, list[int], dict[int, set[int]]]:
        """Join, scan, and return (buffer, slot starts, slot -> ids of matching patterns)."""
        joined = SEPARATOR.join(texts)
        buf = joined.encode("utf-8", "surrogatepass")
        ends, hit = self.engine.scan(buf)
        if not hit:
            return buf, [], {}
        if len(buf) == len(joined):
            lengths: Iterable[int] = map(len, texts)
        else:
            lengths = (len(t.encode("utf-8", "surrogatepass")) for t in texts)
        # Slot k starts after the k earlier slots and their k separators.
        starts = list(map(add, accumulate(lengths, initial=0), range(len(texts))))
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

    def _locate(
        self, buf: bytes, starts: list[int], pattern: int, found: dict[int, set[int]]
    ) -> None:
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

    def _matches(
        self, buf: bytes, start: int, end: int, patterns: set[int]
    ) -> list[tuple[int, int, int]]:
        """(start, end, rule index) of accepted matches in ``buf[start:end]``, slot-relative.

        A value with more than MAX_MATCHES_PER_VALUE matches is replaced whole.
        """
        found: list[tuple[int, int, int]] = []
        for index in sorted(patterns):
            if index >= len(self._content):
                continue  # a trigger, not a rule
            rule = self._content[index]
            compiled = self._compiled[index]
            validator = self._validators[index]
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
                    continue
                if self._allowed(text):
                    continue
                found.append((first - start, last - start, index))
                if len(found) > MAX_MATCHES_PER_VALUE:
                    return [(0, end - start, index)]  # hostile: replace the whole value
        return found

    def _allowed(self, text: bytes) -> bool:
        if text in self.policy.allow:
            return True
        return any(p.fullmatch(text) is not None for p in self._allow_patterns)

    # --- phases ---------------------------------------------------------------------

    def _text_phase(self, batch: Batch, structures: list[tuple[Any, dict[str, int]]]) -> None:
        if not batch.texts:
            return
        buf, starts, found = self._scan(batch.texts)
        for slot, patterns in found.items():
            start = starts[slot]
            end = starts[slot + 1] - 1 if slot + 1 < len(starts) else len(buf)
            container, key, _, counter, candidate = batch.ref(slot)
            if candidate and self._redact_inline(batch, slot, buf, start, end, patterns):
                continue
            if candidate:  # a top-level string that matched something: JSON?
                parsed = parse_json(batch.texts[slot])
                if parsed is TOO_DEEP:
                    self._too_deep(JsonRoot(container, key, None), counter)
                    continue
                if parsed is not None:
                    structures.append((JsonRoot(container, key, parsed), counter))
                    continue
            matches = self._matches(buf, start, end, patterns)
            self._write(batch, slot, buf[start:end], matches)

    def _redact_inline(  # noqa: PLR0917 - positional on the per-value hot path
        self, batch: Batch, slot: int, buf: bytes, start: int, end: int, patterns: set[int]
    ) -> bool:
        """Redact JSON text in place when every match is inside a string value.

        The common case (an email in tool arguments) then needs no parse, walk and
        re-serialisation; see :func:`inside_string_values` for why the result equals
        the structural walk's. False (nothing written) sends the slot down that walk.
        """
        value = buf[start:end]
        if not patterns.isdisjoint(self._triggers) or value.lstrip()[:1] not in (b"{", b"["):
            return False
        matches = self._matches(buf, start, end, patterns)
        if not self._inline.issuperset(m[2] for m in matches):
            return False
        if not inside_string_values(value, matches):
            return False
        self._write(batch, slot, value, matches)
        return True

    def _structure_phase(self, structures: list[tuple[Any, dict[str, int]]]) -> None:
        """Walk nested values and parsed JSON; JSON inside their strings, MAX_JSON_NESTING deep.

        Rounds go one JSON level deeper each time. Redacted keys are renamed only after
        every round (children still find their place by the old key), then changed JSON
        is re-serialised innermost first, marking each parent changed.
        """
        parsed_roots: list[JsonRoot] = []
        renames: list[tuple[dict[Any, Any], Any, str | None]] = []
        pending = structures
        for level in range(MAX_JSON_NESTING + 1):
            if not pending:
                break
            pending = self._structure_round(pending, level, parsed_roots, renames)
        moved = _rename(renames)
        for root in reversed(parsed_roots):  # children were found after their parents
            if not root.changed:
                continue
            key = moved.get((id(root.container), root.key), root.key)
            if key is not None:
                root.container[key] = json.dumps(
                    root.parsed, ensure_ascii=False, separators=(",", ":")
                )
            if root.parent is not None:
                root.parent.changed = True

    def _structure_round(
        self,
        structures: list[tuple[Any, dict[str, int]]],
        level: int,
        parsed_roots: list[JsonRoot],
        renames: list[tuple[dict[Any, Any], Any, str | None]],
    ) -> list[tuple[Any, dict[str, int]]]:
        """Redact one level of structures; return the JSON strings found inside them."""
        leaves = Batch()
        roots: list[JsonRoot | None] = []
        nested: list[tuple[Any, dict[str, int]]] = []
        for index, (root, counter) in enumerate(structures):
            json_root = root if isinstance(root, JsonRoot) else None
            if json_root is not None:
                parsed_roots.append(json_root)
            value = json_root.parsed if json_root else root
            too_deep = json_root is not None and json_root.parsed is None
            keyed = None if too_deep else self._walk(value, counter, leaves, index)
            if keyed is None:
                self._too_deep(root, counter)
                if json_root is not None and json_root.parent is not None:
                    json_root.parent.changed = True
                roots.append(None)
                continue
            for node, key, rule in keyed:
                self._apply_key_rule(node, key, rule, counter)
                if json_root:
                    json_root.changed = True
            roots.append(json_root)
        if leaves.texts:
            buf, starts, found = self._scan(leaves.texts)
            for slot, patterns in found.items():
                node, key, kind, counter, root_index = leaves.ref(slot)
                owner = roots[root_index]
                if kind == STR and level < MAX_JSON_NESTING:
                    parsed = parse_json(leaves.texts[slot])
                    if parsed is TOO_DEEP or parsed is not None:
                        child = JsonRoot(node, key, None if parsed is TOO_DEEP else parsed)
                        child.parent = owner
                        nested.append((child, counter))
                        continue
                start = starts[slot]
                end = starts[slot + 1] - 1 if slot + 1 < len(starts) else len(buf)
                matches = self._matches(buf, start, end, patterns)
                if self._write(leaves, slot, buf[start:end], matches) and owner is not None:
                    owner.changed = True
        renames.extend(leaves.renames)
        return nested

    def _walk(
        self, root: Any, counter: dict[str, int], leaves: Batch, root_index: int
    ) -> list[tuple[Any, Any, Rule]] | None:
        """Collect leaves and key-rule hits of a nested value; None if deeper than MAX_DEPTH."""
        keyed: list[tuple[Any, Any, Rule]] = []
        marker = len(leaves.texts)
        stack: list[tuple[Any, int]] = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                leaves.truncate(marker)
                return None
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(node, dict) and isinstance(key, str):
                    rule = self._key_rule(key)
                    if rule is not None:
                        keyed.append((node, key, rule))
                        continue
                    # Keys are data too ({"alice@example.com": ...}): scan them.
                    leaves.add(key, (node, key, KEY, counter, root_index))
                if isinstance(value, str):
                    leaves.add(value, (node, key, STR, counter, root_index))
                elif isinstance(value, dict | list):
                    stack.append((value, depth + 1))
                else:
                    add_scalar(leaves, value, node, key, counter, root_index)
        return keyed

    def _too_deep(self, root: Any, counter: dict[str, int]) -> None:
        if isinstance(root, JsonRoot):
            # Too deep to walk. Key rules cannot be applied structurally, so a value
            # holding a key word is masked whole; otherwise it is redacted as text.
            text_batch = Batch()
            text = root.container[root.key]
            text_batch.add(text, (root.container, root.key, STR, counter, False))
            buf, _, found = self._scan(text_batch.texts)
            hits = found.get(0, set())
            if self._keyword_id in hits:
                root.container[root.key] = f"[REDACTED:{NESTING_RULE}]"
                counter[NESTING_RULE] = counter.get(NESTING_RULE, 0) + 1
            elif hits:
                self._write(text_batch, 0, buf, self._matches(buf, 0, len(buf), hits))
            return
        # A native nested value (OTLP kvlist/array) this deep: mask it whole.
        marker = f"[REDACTED:{NESTING_RULE}]"
        root.clear()
        if isinstance(root, list):
            root.append(marker)
        else:
            root[NESTING_RULE] = marker
        counter[NESTING_RULE] = counter.get(NESTING_RULE, 0) + 1

    # --- writing --------------------------------------------------------------------

    def _replacement(self, rule: Rule, text: bytes) -> bytes:
        if rule.action == "hash":
            return self._hashed(text, rule.name, rule.casefold).encode()
        return f"[REDACTED:{rule.name}]".encode()

    def _hashed(self, text: bytes, rule: str, casefold: bool) -> str:
        if self._key is None:
            raise RuntimeError("no redaction key: the policy has no hash actions")
        if casefold:
            text = text.lower()
        digest = hmac.new(self._key, text, hashlib.sha256).hexdigest()[:16]
        return f"hmac:{rule}:{digest}"

    def _write(
        self, batch: Batch, slot: int, value: bytes, matches: list[tuple[int, int, int]]
    ) -> bool:
        """Apply matches to one slot and store the result; True if anything changed."""
        counter = batch.ref(slot)[3]
        if not matches:
            return False
        matches.sort(key=lambda m: (m[0], m[2]))  # by start, then rule precedence
        merged: list[list[int]] = []
        for first, last, index in matches:
            if merged and first < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last, index])
        pieces: list[bytes] = []
        previous = 0
        for start, end, index in merged:
            rule = self._content[index]
            counter[rule.name] = counter.get(rule.name, 0) + 1
            if rule.action == "drop":
                self._store(batch, slot, _DROP, rule)
                return True
            first, last = start, end
            while first > 0 and 0x80 <= value[first] < 0xC0:
                first -= 1
            while last < len(value) and 0x80 <= value[last] < 0xC0:
                last += 1
            pieces.append(value[previous:first])
            pieces.append(self._replacement(rule, value[first:last]))
            previous = max(previous, last)
        pieces.append(value[previous:])
        self._store(batch, slot, b"".join(pieces).decode("utf-8", "surrogatepass"))
        return True

    @staticmethod
    def _store(batch: Batch, slot: int, new: Any, rule: Rule | None = None) -> None:
        container, key, kind, _, _ = batch.ref(slot)
        if kind == KEY:  # a nested dict's key: renamed once every value is written
            batch.renames.append((container, key, None if new is _DROP else new))
            return
        if new is _DROP:
            assert rule is not None
            if isinstance(container, dict):
                container.pop(key, None)
                return
            new = f"[REDACTED:{rule.name}]"  # keep arrays (and span fields) aligned
        if kind == FIELD:
            setattr(container, key, new)
        elif kind == BYTES:
            container[key] = new.encode("latin-1", "replace")
        else:
            container[key] = new

    def _apply_key_rule(self, node: Any, key: Any, rule: Rule, counter: dict[str, int]) -> None:
        counter[rule.name] = counter.get(rule.name, 0) + 1
        if rule.action == "drop":
            del node[key]
            return
        value = node[key]
        if rule.action == "hash":
            if isinstance(value, str):
                raw = value.encode("utf-8", "surrogatepass")
            elif isinstance(value, bytes):
                raw = value
            else:
                raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
            node[key] = self._hashed(raw, rule.name, rule.casefold)
        else:
            node[key] = f"[REDACTED:{rule.name}]"


def _rename(
    renames: list[tuple[dict[Any, Any], Any, str | None]],
) -> dict[tuple[int, Any], str | None]:
    """Apply redacted dict keys (None: drop the entry); a clash gets a ``#n`` suffix.

    Returns where each (dict id, old key) went, for JSON strings stored under them.
    """
    moved: dict[tuple[int, Any], str | None] = {}
    for node, old, new in renames:
        value = node.pop(old, _DROP)
        if new is None or value is _DROP:  # dropped key, or its value was dropped
            moved[(id(node), old)] = None
            continue
        name, suffix = new, 2
        while name in node:
            name, suffix = f"{new}#{suffix}", suffix + 1
        node[name] = value
        moved[(id(node), old)] = name
    return moved
