"""The redactor: secrets and personal data out of decoded spans, before anything is queued.

Seam: receivers call :meth:`Redactor.redact` with the spans of one export request
between decoding and the WAL. One call scans the whole request as a single joined
buffer with the multi-pattern engine (:class:`~._scanner.Scanner` finds the matches;
this module walks the spans and writes the replacements), so per-value overhead is a
few list appends.

Invariants:

* Redaction is in place: the spans are freshly decoded and owned by the caller, and
  nothing else may hold references to their attribute dicts while this runs. A resource
  attribute dict shared by several spans is redacted once and its counts are added to
  every span that shares it.
* After :meth:`Redactor.redact` returns, no string a span carries contains a match of
  an active content rule that passes its validator and is not allow-listed, in its
  text or in its percent-decoded text: the span name, trace state, status message,
  scope name and version; attribute names and values of the span, its resource, events
  and links; event names and link trace states; nested dict keys and values, JSON held
  in strings (keys too); numbers of nine or more digits, as text. No key matching a key
  rule keeps its value. ``span.redactions`` counts, per rule, the strings replaced in
  that span (a value, a key, a field).
* Caches hold only attribute names and span/event/scope names already scanned and
  found clean (bounded, cleared when full), so a clean name is scanned once, not once
  per span; a name with a secret is scanned every time.
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentaudit.collector.ingest.redaction import _percent
from agentaudit.collector.ingest.redaction._batch import (
    ATTR_KEY,
    BYTES,
    FIELD,
    KEY,
    STR,
    TOO_DEEP,
    Batch,
    JsonRoot,
    add_scalar,
    apply_renames,
    inside_string_values,
    is_digest,
    parse_json,
)
from agentaudit.collector.ingest.redaction._engines import Engine
from agentaudit.collector.ingest.redaction._key import resolve_key
from agentaudit.collector.ingest.redaction._rules import (
    Policy,
    Rule,
    normalise_key,
    parse_policy,
)
from agentaudit.collector.ingest.redaction._scanner import Scanner, bounds
from agentaudit.collector.model import SpanRecord
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
KEY_CACHE_SIZE = 8_192
MAX_CACHED_TEXT = 256
"""Longer names are scanned every time rather than kept in a cache."""
_INLINE_SAFE_NAME = re.compile(r"[A-Za-z0-9_.:-]+")

_DROP: Any = object()
_UNKNOWN = object()
_EXEMPT = object()
_DIGEST = object()


class Redactor:
    """Applies a :class:`Policy` to spans. Build once at start-up; thread-safe."""

    def __init__(self, policy: Policy, key: bytes | None, *, engine: str | None = None) -> None:
        self.policy = policy
        self._key = key
        self._scanner = scanner = Scanner(policy, engine)
        self.engine: Engine = scanner.engine
        self._content: tuple[Rule, ...] = scanner.content
        self._key_rules: tuple[Rule, ...] = policy.key_rules
        # Rules whose replacement can be written into raw JSON text as is.
        self._inline = frozenset(
            i
            for i, r in enumerate(self._content)
            if r.action != "drop" and _INLINE_SAFE_NAME.fullmatch(r.name)
        )
        self._key_cache: dict[str, Rule | object | None] = {}
        # Attribute names scanned and found clean -> their class (see _attribute_class).
        self._attribute_cache: dict[str, object] = {}
        # Span, event and scope names scanned and found clean.
        self._clean_names: dict[str, None] = {}
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
        clean = self._clean_names
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
                if event.name not in clean:
                    self._name(event, "name", event.name, own, batch)
                self._collect(event.attributes, own, batch, structures)
            for link in span.links:
                if link.trace_state:
                    batch.add(link.trace_state, (link, "trace_state", FIELD, own, False))
                self._collect(link.attributes, own, batch, structures)
            # Names repeat: the ones known clean are skipped without a call.
            if span.name not in clean:
                self._name(span, "name", span.name, own, batch)
            if span.scope_name not in clean:
                self._name(span, "scope_name", span.scope_name, own, batch)
            if span.scope_version not in clean:
                self._name(span, "scope_version", span.scope_version, own, batch)
            if span.status_message:
                batch.add(span.status_message, (span, "status_message", FIELD, own, False))
            if span.trace_state:
                batch.add(span.trace_state, (span, "trace_state", FIELD, own, False))
            span_counters.append(counters)

        self._text_phase(batch, structures)
        self._structure_phase(structures, batch.renames)

        for span, counters in zip(spans, span_counters, strict=True):
            if not any(counters):
                continue
            total = dict(span.redactions)
            for counter in counters:
                for rule, count in counter.items():
                    total[rule] = total.get(rule, 0) + count
            span.redactions = total

    # --- collection -----------------------------------------------------------------

    def _name(
        self, owner: Any, field: str, text: str, counter: dict[str, int], batch: Batch
    ) -> None:
        """Queue a span/event/scope name (not known to be clean) for the scan."""
        if not text:
            return
        if len(text) <= MAX_CACHED_TEXT:
            batch.fields.append((len(batch.texts), text))
        batch.add(text, (owner, field, FIELD, counter, False))

    def _key_rule(self, key: str) -> Rule | None:
        cached = self._key_cache.get(key, _UNKNOWN)
        if cached is not _UNKNOWN:
            return cached  # type: ignore[return-value]
        rule = None
        if self._key_rules:
            normalised = normalise_key(key)
            rule = next((r for r in self._key_rules if normalised.endswith(r.keys)), None)
        _remember(self._key_cache, key, rule)
        return rule

    def _attribute_class(self, key: str) -> object:
        """None (scan the value), a key Rule, _EXEMPT or _DIGEST for an attribute name."""
        if key in self.policy.exempt_attributes:
            return _EXEMPT
        if key in DIGEST_ATTRIBUTES:
            return _DIGEST
        return self._key_rule(key)

    def _new_key(self, key: str, batch: Batch) -> object:
        """The class of an attribute name not yet known clean; queue the name for a scan.

        A name is scanned once per request however many dicts hold it; a name with a
        secret is then replaced in all of them (:meth:`Batch.find_holders`).
        """
        kind = self._attribute_class(key)
        if kind is _EXEMPT or kind is _DIGEST:  # names chosen by the operator or schema
            _remember(self._attribute_cache, key, kind)
            return kind
        batch.keys[key] = (kind, len(batch.texts))
        batch.add(key, (None, key, ATTR_KEY, None, False))
        return kind

    def _collect(
        self,
        attributes: dict[str, Any],
        counter: dict[str, int],
        batch: Batch,
        structures: list[tuple[Any, dict[str, int]]],
    ) -> None:
        if not attributes:
            return
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
                pending = batch.keys.get(key)  # met earlier in this request
                kind = pending[0] if pending is not None else self._new_key(key, batch)
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

    def _remember_clean(self, batch: Batch, found: dict[int, set[int]]) -> None:
        """Cache the names of this request that matched nothing (triggers aside).

        Finds where the other attribute names are, to rename them in every holder.
        """
        clean = self._scanner.structural  # key-word and JSON-escape hits: nothing to redact
        matched: set[str] = set()
        for key, (kind, slot) in batch.keys.items():
            hits = found.get(slot)
            if hits is not None and not hits <= clean:
                matched.add(key)
            elif len(key) <= MAX_CACHED_TEXT:
                _remember(self._attribute_cache, key, kind)
        if matched:
            batch.find_holders(matched)
        names = self._clean_names
        for slot, text in batch.fields:
            hits = found.get(slot)
            if (hits is None or hits <= clean) and text not in names:
                _remember(names, text, None)

    # --- phases ---------------------------------------------------------------------

    def _text_phase(self, batch: Batch, structures: list[tuple[Any, dict[str, int]]]) -> None:
        if not batch.texts:
            return
        scanner = self._scanner
        buf, starts, found = scanner.scan(batch.texts)
        if batch.keys or batch.fields:
            self._remember_clean(batch, found)
        if not found:
            return
        decoded = scanner.decoded_matches(buf, starts, found)
        percent_only = {scanner.percent_id}
        for slot in sorted(found):  # slot order: the same output on every engine
            patterns = found[slot]
            if patterns == percent_only and slot not in decoded:
                continue  # only escapes, nothing behind them (a URL, say)
            start, end = bounds(starts, slot, len(buf))
            container, key, _, counter, candidate = batch.ref(slot)
            matches = None
            if candidate and buf[start:end].lstrip()[:1] in (b"{", b"["):
                if patterns.isdisjoint(scanner.structural):
                    matches = scanner.matches(buf, start, end, patterns) + decoded.get(slot, [])
                    if self._redact_inline(batch, slot, buf[start:end], matches):
                        continue
                # A top-level string that looks like JSON and needs a structural walk.
                parsed = parse_json(batch.texts[slot])
                if parsed is TOO_DEEP:
                    self._too_deep(JsonRoot(container, key, None), counter)
                    continue
                if parsed is not None:
                    structures.append((JsonRoot(container, key, parsed), counter))
                    continue
            if matches is None:
                matches = scanner.matches(buf, start, end, patterns) + decoded.get(slot, [])
            self._write(batch, slot, buf[start:end], matches)

    def _redact_inline(
        self, batch: Batch, slot: int, value: bytes, matches: list[tuple[int, int, int]]
    ) -> bool:
        """Redact JSON text in place when every match is inside a string value.

        The common case (an email in tool arguments) then needs no parse, walk and
        re-serialisation; see :func:`inside_string_values` for why the result equals
        the structural walk's. False (nothing written) sends the slot down that walk.
        """
        if not self._inline.issuperset(m[2] for m in matches):
            return False
        if not inside_string_values(value, matches):
            return False
        self._write(batch, slot, value, matches)
        return True

    def _structure_phase(
        self,
        structures: list[tuple[Any, dict[str, int]]],
        renames: list[tuple[dict[Any, Any], Any, str | None]],
    ) -> None:
        """Walk nested values and parsed JSON; JSON inside their strings, MAX_JSON_NESTING deep.

        Rounds go one JSON level deeper each time. Redacted keys (``renames`` holds the
        attribute names found so far) are renamed only after every round (children
        still find their place by the old key), then changed JSON is re-serialised
        innermost first, marking each parent changed.
        """
        parsed_roots: list[JsonRoot] = []
        pending = structures
        for level in range(MAX_JSON_NESTING + 1):
            if not pending:
                break
            pending = self._structure_round(pending, level, parsed_roots, renames)
        if not renames and not parsed_roots:
            return
        moved = apply_renames(renames)
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
            scanner = self._scanner
            buf, starts, found = scanner.scan(leaves.texts)
            decoded = scanner.decoded_matches(buf, starts, found) if found else {}
            percent_only = {scanner.percent_id}
            for slot in sorted(found):
                patterns = found[slot]
                if patterns == percent_only and slot not in decoded:
                    continue
                node, key, kind, counter, root_index = leaves.ref(slot)
                owner = roots[root_index]
                if kind == STR and level < MAX_JSON_NESTING:
                    parsed = parse_json(leaves.texts[slot])
                    if parsed is TOO_DEEP or parsed is not None:
                        child = JsonRoot(node, key, None if parsed is TOO_DEEP else parsed)
                        child.parent = owner
                        nested.append((child, counter))
                        continue
                start, end = bounds(starts, slot, len(buf))
                matches = scanner.matches(buf, start, end, patterns) + decoded.get(slot, [])
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
                    # Keys are data too ({"alice@example.com": ...}): scan them, also
                    # the ones whose value a key rule replaces ("ghp_…_token").
                    leaves.add(key, (node, key, KEY, counter, root_index))
                    rule = self._key_rule(key)
                    if rule is not None:
                        keyed.append((node, key, rule))
                        continue
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
            scanner = self._scanner
            buf, starts, found = scanner.scan(text_batch.texts)
            hits = found.get(0, set())
            if scanner.keyword_id in hits:
                root.container[root.key] = f"[REDACTED:{NESTING_RULE}]"
                counter[NESTING_RULE] = counter.get(NESTING_RULE, 0) + 1
            elif hits:
                decoded = scanner.decoded_matches(buf, starts, found).get(0, [])
                self._write(text_batch, 0, buf, scanner.matches(buf, 0, len(buf), hits) + decoded)
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
            if b"%" in text:  # percent-encoded: the pseudonym of what it encodes
                text = _percent.decode(text)
            return self._hashed(text, rule.name, rule.casefold).encode()
        return f"[REDACTED:{rule.name}]".encode()

    def _hashed(self, text: bytes, rule: str, casefold: bool) -> str:
        if self._key is None:
            raise RuntimeError("no redaction key: the policy has no hash actions")
        if casefold:
            text = text.lower()
        digest = hmac.new(self._key, text, hashlib.sha256).hexdigest()[:16]
        return f"hmac:{rule}:{digest}"

    def _redacted(self, value: bytes, matches: list[tuple[int, int, int]]) -> tuple[Any, list[str]]:
        """(new text or _DROP, rule name per replaced range) for ``value`` with ``matches``."""
        matches.sort(key=lambda m: (m[0], m[2]))  # by start, then rule precedence
        merged: list[list[int]] = []
        for first, last, index in matches:
            if merged and first < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last, index])
        hits: list[str] = []
        pieces: list[bytes] = []
        previous = 0
        for start, end, index in merged:
            rule = self._content[index]
            hits.append(rule.name)
            if rule.action == "drop":
                return _DROP, hits
            first, last = start, end
            while first > 0 and 0x80 <= value[first] < 0xC0:
                first -= 1
            while last < len(value) and 0x80 <= value[last] < 0xC0:
                last += 1
            pieces.append(value[previous:first])
            pieces.append(self._replacement(rule, value[first:last]))
            previous = max(previous, last)
        pieces.append(value[previous:])
        return b"".join(pieces).decode("utf-8", "surrogatepass"), hits

    def _write(
        self, batch: Batch, slot: int, value: bytes, matches: list[tuple[int, int, int]]
    ) -> bool:
        """Apply matches to one slot, store the result and count it; True if changed."""
        if not matches:
            return False
        new, hits = self._redacted(value, matches)
        container, key, kind, counter, _ = batch.ref(slot)
        if kind == ATTR_KEY:  # an attribute name: renamed in every dict holding it
            for node, node_counter in batch.holders.get(key, ()):
                _count(node_counter, hits)
                batch.renames.append((node, key, None if new is _DROP else new))
            return True
        _count(counter, hits)
        if kind == KEY:  # a nested dict's key: renamed once every value is written
            batch.renames.append((container, key, None if new is _DROP else new))
            return True
        if new is _DROP:
            if isinstance(container, dict):
                container.pop(key, None)
                return True
            new = f"[REDACTED:{hits[-1]}]"  # keep arrays (and span fields) aligned
        if kind == FIELD:
            setattr(container, key, new)
        elif kind == BYTES:
            container[key] = new.encode("latin-1", "replace")
        else:
            container[key] = new
        return True

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


def _count(counter: dict[str, int], hits: list[str]) -> None:
    for rule in hits:
        counter[rule] = counter.get(rule, 0) + 1


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    """Cache ``value`` for ``key``; a full cache is emptied first (bounded memory)."""
    if len(cache) >= KEY_CACHE_SIZE:
        cache.clear()
    cache[key] = value
