"""Export the chained audit rows to a SIEM, unit by unit, at least once, with a checkpoint.

The exporter follows the chains rather than the tables, so it exports exactly what the
evidence covers, in order, and every event knows its place in it:

* tool calls — the tool_calls batch chain (``audit_chain``), link by link per chain: the
  rows of each batch;
* the tool servers' records of calls (``tool_call_server_sides``,
  :mod:`agentaudit.schema.calls`), revocations and findings — one seal chain
  (``audit_seals``; the collector's own, or the longest one), link by link: the rows each
  link sealed (every version, while merges have not dropped it; a backfill of an old store
  exports the versions still there).

After each unit it sends the unit's events to the sink and then saves the checkpoint (a
JSON file, replaced atomically): per tool_calls chain the last link exported, the seal
chain and its last link, and the sink's position. A crash between the two sends that unit
again (at least once); the file sink cuts what it wrote after the checkpoint first, so a
file gets every event exactly once. ``since`` skips rows whose event time is older (a
backfill of the last 30 days) without skipping units, so the checkpoint still advances.

Configuration of the collector's continuous export::

    [export]
    ocsf_file = "/var/log/agentaudit/ocsf.jsonl"      # or
    hec_url = "https://splunk:8088/services/collector/event"   # token: AGENTAUDIT_HEC_TOKEN
    sources = ["tool_calls", "tool_call_server_sides", "revocations", "findings"]  # default: all
    checkpoint = "/var/lib/agentaudit/export.checkpoint.json"  # default: <state dir>/...
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentaudit.config.values import Section
from agentaudit.errors import ConfigError
from agentaudit.export.ocsf import Position, finding_event, revocation_event, tool_call_event
from agentaudit.export.sinks import EventSink, FileSink, HecSink
from agentaudit.store import Store
from agentaudit.store.audit_chain import CANONICAL_COLUMNS
from agentaudit.store.evidence._tables import ident, row_hash_sql
from agentaudit.store.evidence._units import written_between
from agentaudit.store.sql_guard import quote_string

__all__ = ["SOURCES", "Checkpoint", "Exporter", "build_exporter"]

log = logging.getLogger(__name__)

SERVER_SIDES = "tool_call_server_sides"
SOURCES = ("tool_calls", SERVER_SIDES, "revocations", "findings")
HEC_TOKEN_ENV = "AGENTAUDIT_HEC_TOKEN"  # noqa: S105 - a variable's name
CHECKPOINT_FILE = "export.checkpoint.json"

_TOOL_CALL_COLUMNS = (
    "duration_ns", "trace_id", "span_id", "parent_span_id", "service_name", "agent_id",
    "agent_name", "user_id", "session_id", "conversation_id", "tool_name", "tool_call_id",
    "tool_type", "framework", "arguments", "arguments_hash", "result_hash", "prompt_hash",
    "source_refs", "source_kinds", "source_trust", "untrusted_source", "resource_ids",
    "approval_status", "approver", "credential_id", "credential_scopes", "decision",
    "status", "error_type", "authenticated_agent", "authentication", "agent_mismatch",
    "approval_verified", "approval_grant_id", "call_side",
)  # fmt: skip
_SEALED_SQL = {
    SERVER_SIDES: (
        "toUnixTimestamp64Nano(ts) AS ts_ns, "
        + ", ".join(_TOOL_CALL_COLUMNS)
        + ", toUnixTimestamp(credential_expires_at) AS credential_expires_at"
    ),
    "revocations": (
        "id, action, target, target_id, reason, requested_by, status, results, "
        "toUnixTimestamp64Milli(requested_at) AS requested_ms, "
        "toUnixTimestamp64Milli(updated_at) AS updated_ms"
    ),
    "findings": (
        "toUnixTimestamp64Nano(ts) AS ts_ns, finding_id, agent_id, user_id, session_id, "
        "trace_id, span_id, tool_name, rule, severity, score, summary, evidence, action, "
        "revocation_id, group_key, state, triaged_by, triage_reason"
    ),
}


@dataclass
class Checkpoint:
    """How far an export got (see the module docstring)."""

    tool_calls: dict[str, int] = field(default_factory=dict)
    seal_chain: str = ""
    seal_seq: int = 0
    position: int = 0

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"export checkpoint {path}: unreadable ({exc})") from None
        return cls(
            {str(k): int(v) for k, v in dict(data.get("tool_calls", {})).items()},
            str(data.get("seal_chain", "")),
            int(data.get("seal_seq", 0)),
            int(data.get("position", 0)),
        )

    def save(self, path: Path) -> None:
        data = {
            "version": 1,
            "tool_calls": self.tool_calls,
            "seal_chain": self.seal_chain,
            "seal_seq": self.seal_seq,
            "position": self.position,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)


@dataclass(frozen=True)
class _Unit:
    source: str
    chain_id: str
    seq: int
    chain_hash: str
    rows_hash: str
    columns: tuple[str, ...]
    batch_id: str = ""
    since_us: int = 0
    until_us: int = 0


class Exporter:
    """Exports the chained rows of ``store`` to ``sink``, checkpointing in ``checkpoint``."""

    def __init__(
        self,
        store: Store,
        sink: EventSink,
        checkpoint: Path,
        *,
        sources: Sequence[str] = SOURCES,
        since_ns: int = 0,
        seal_chain: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_sources(sources)
        self._store = store
        self.sink = sink
        self.checkpoint_path = checkpoint
        self._sources = tuple(sources)
        self._since_ns = since_ns
        self._seal_chain = seal_chain
        self._clock = clock
        self._state = Checkpoint.load(checkpoint)
        self._resumed = False
        self.exported = 0

    def run(
        self,
        *,
        max_units: int | None = None,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> int:
        """Export every unit not yet exported (at most ``max_units``); the events sent.
        ``progress(units_done, units_pending, events_sent)`` is called after each unit."""
        if not self._resumed:
            self.sink.resume(self._state.position)
            self._resumed = True
        sent = 0
        pending = self._pending()
        for done, unit in enumerate(pending):
            if max_units is not None and done >= max_units:
                break
            events = self._events(unit)
            if events:
                self._state.position = self.sink.send(events)
            if unit.source == "tool_calls":
                self._state.tool_calls[unit.chain_id] = unit.seq
            else:
                self._state.seal_chain, self._state.seal_seq = unit.chain_id, unit.seq
            self._state.save(self.checkpoint_path)
            sent += len(events)
            if progress is not None:
                progress(done + 1, len(pending), sent)
        self.exported += sent
        return sent

    def close(self) -> None:
        self.sink.close()

    # -- what is pending ---------------------------------------------------------------

    def _pending(self) -> list[_Unit]:
        units: list[_Unit] = []
        if "tool_calls" in self._sources:
            units += self._batch_units()
        sealed = [s for s in self._sources if s != "tool_calls"]
        if sealed:
            units += self._seal_units(sealed)
        return units

    def _batch_units(self) -> list[_Unit]:
        done = self._state.tool_calls
        known = " OR ".join(
            f"(chain_id = {quote_string(c)} AND seq > {int(s)})" for c, s in sorted(done.items())
        )
        others = (
            f"chain_id NOT IN ({', '.join(quote_string(c) for c in sorted(done))})" if done else "1"
        )
        where = f"({known}) OR ({others})" if known else others
        rows = self._store.query(
            "SELECT chain_id, seq, batch_id, chain_hash, rows_hash, format, columns "  # noqa: S608
            f"FROM agentaudit.audit_chain WHERE {where} ORDER BY written_at, chain_id, seq"
        ).rows
        return [
            _Unit("tool_calls", str(c), int(s), str(h), str(r),
                  CANONICAL_COLUMNS.get(str(f), tuple(str(x) for x in cols)), batch_id=str(b))
            for c, s, b, h, r, f, cols in rows
        ]  # fmt: skip

    def _seal_chain_id(self) -> str:
        if self._state.seal_chain:
            return self._state.seal_chain
        if self._seal_chain:
            return self._seal_chain
        rows = self._store.query(
            "SELECT chain_id FROM agentaudit.audit_seals GROUP BY chain_id "
            "ORDER BY count() DESC, chain_id LIMIT 1"
        ).rows
        return str(rows[0][0]) if rows else ""

    def _seal_units(self, tables: Sequence[str]) -> list[_Unit]:
        chain = self._seal_chain_id()
        if not chain:
            return []
        rows = self._store.query(
            "SELECT seq, table, chain_hash, rows_hash, columns, since_us, until_us "
            "FROM agentaudit.audit_seals WHERE chain_id = {c:String} AND seq > {s:UInt64} "
            "AND table IN {t:Array(String)} ORDER BY seq",
            {"c": chain, "s": self._state.seal_seq, "t": list(tables)},
        ).rows
        return [
            _Unit(str(t), chain, int(s), str(h), str(r), tuple(str(x) for x in cols),
                  since_us=int(a), until_us=int(b))
            for s, t, h, r, cols, a, b in rows
        ]  # fmt: skip

    # -- events ------------------------------------------------------------------------

    def _events(self, unit: _Unit) -> list[dict[str, Any]]:
        logged = int(self._clock() * 1000)
        if unit.source == "tool_calls":
            return self._tool_call_events(unit, logged)
        return self._sealed_events(unit, logged)

    def _tool_call_events(self, unit: _Unit, logged: int) -> list[dict[str, Any]]:
        present = {
            str(r[0])
            for r in self._store.query(
                "SELECT name FROM system.columns WHERE database = 'agentaudit' "
                "AND table = 'tool_calls'"
            ).rows
        }
        columns = ", ".join(ident(c) for c in _TOOL_CALL_COLUMNS if c in present)
        row_hash = f"hex(SHA256(toJSONString(tuple({', '.join(unit.columns)}))))"
        result = self._store.query(
            f"SELECT toUnixTimestamp64Nano(ts) AS ts_ns, {columns}, "  # noqa: S608
            "toUnixTimestamp(credential_expires_at) AS credential_expires_at, "
            f"{row_hash} AS row_hash FROM agentaudit.tool_calls WHERE batch_id = {{b:String}} "
            "ORDER BY ts, span_id",
            {"b": unit.batch_id},
        )
        events = []
        for values in result.rows:
            row = dict(zip(result.columns, values, strict=True))
            if int(row["ts_ns"]) < self._since_ns:
                continue
            position = Position(
                "tool_calls", unit.chain_id, unit.seq, unit.chain_hash, str(row["row_hash"]),
                batch_id=unit.batch_id, rows_hash=unit.rows_hash, columns=unit.columns,
            )  # fmt: skip
            events.append(tool_call_event(row, position, logged_ms=logged))
        return events

    def _sealed_events(self, unit: _Unit, logged: int) -> list[dict[str, Any]]:
        result = self._store.query(
            f"SELECT {_SEALED_SQL[unit.source]}, "  # noqa: S608
            "toUnixTimestamp64Micro(_written_at) AS written_us, "
            f"{row_hash_sql(unit.columns)} AS row_hash FROM agentaudit.{ident(unit.source)} "
            f"WHERE {written_between(unit.since_us, unit.until_us)} ORDER BY written_us, row_hash"
        )
        events = []
        for values in result.rows:
            row = dict(zip(result.columns, values, strict=True))
            when = int(row["ts_ns"]) if "ts_ns" in row else int(row["updated_ms"]) * 1_000_000
            if when < self._since_ns:
                continue
            position = Position(
                "seal", unit.chain_id, unit.seq, unit.chain_hash, str(row["row_hash"]),
                written_us=int(row["written_us"]), columns=unit.columns,
            )  # fmt: skip
            if unit.source == SERVER_SIDES:
                events.append(
                    tool_call_event(
                        row, position, logged_ms=logged, log_name=f"agentaudit.{SERVER_SIDES}"
                    )
                )
                continue
            make = finding_event if unit.source == "findings" else revocation_event
            events.append(make(row, position, logged_ms=logged))
        return events


def _check_sources(sources: Sequence[str]) -> None:
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ConfigError(f"export: unknown source(s) {unknown}; known: {', '.join(SOURCES)}")


def build_exporter(
    store: Store,
    sections: Mapping[str, Any],
    *,
    state_dir: Path,
    seal_chain: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Exporter | None:
    """The collector's continuous export from the ``[export]`` table, or None.

    Every setting is checked before the sink is opened, so a bad section creates no file.
    """
    if "export" not in sections:
        return None
    section = Section(
        sections["export"], "[export]", {"ocsf_file", "hec_url", "hec_token", "sources",
                                         "checkpoint"}
    )  # fmt: skip
    env = os.environ if environ is None else environ
    sources = section.strings("sources") or SOURCES
    _check_sources(sources)
    path = section.text("ocsf_file")
    url = section.url("hec_url", required=False)
    if bool(path) == bool(url):
        raise ConfigError("[export]: give exactly one of ocsf_file (a JSON-lines file) or hec_url")
    sink: EventSink
    if url:
        token = env.get(HEC_TOKEN_ENV) or section.text("hec_token")
        if not token:
            raise ConfigError(f"[export] hec_url needs a token: set {HEC_TOKEN_ENV}")
        sink = HecSink(url, token)
    else:
        try:
            sink = FileSink(Path(str(path)))
        except OSError as error:
            raise ConfigError(f"[export] ocsf_file {path}: {error.strerror}") from error
    checkpoint = Path(section.text("checkpoint") or state_dir / CHECKPOINT_FILE)
    return Exporter(
        store, sink, checkpoint, sources=sources,
        seal_chain=seal_chain,
    )  # fmt: skip
