"""The wire between a collector and its detector process (:mod:`.host`, :mod:`.process`).

Three socket pairs, each a :class:`multiprocessing.connection.Connection` of pickled
tuples. Both ends are this package's code, started by the same user; what the audited
agent sent crosses only as values (Arrow IPC bytes of stored rows, SQL the detector
built from them with :func:`~agentaudit.store.sql_guard.quote_string`, finding records),
never as something either side runs.

* **batches** (collector → detector, one way): ``("init", DetectorSettings, catalog
  path | None)`` first, then ``("batch", chain_id, seq, batch_id, ipc | None)`` for each
  stored batch of tool calls (:func:`encode_calls`), and ``("stop",)`` last;
* **store** (detector → collector): ``("query", sql, parameters)`` and ``("insert",
  table, ipc, dedup_token)``, each answered ``("ok", value)`` or ``("error", kind,
  text)`` — the detector's trusted store handle (:class:`RemoteStore`);
* **events** (detector → collector): ``("act", ActionRequest)``, answered like a store
  call (:class:`RemoteActions`), and two notices never answered: ``("finding",
  Finding)`` for the alert router and ``("health", dict)``.

Invariant: a request and its answer are one exchange under the connection's lock, so
threads of the detector process may share a connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

import pyarrow as pa

import agentaudit.store as store_module
from agentaudit.detector.engine import ActionRequest
from agentaudit.detector.model import CALL_COLUMNS
from agentaudit.store import QueryResult, StoreError, StoreUnavailable

__all__ = [
    "Caller",
    "ChannelClosed",
    "Received",
    "RemoteActions",
    "RemoteStore",
    "decode_table",
    "encode_calls",
    "encode_table",
    "serve",
]

log = logging.getLogger(__name__)

_ACTION_FAILED: Final = "ActionFailed"


class ChannelClosed(StoreUnavailable):
    """The other process is gone (its end of the connection closed)."""


class ActionFailed(RuntimeError):
    """The collector could not carry out an action (the runner retries it)."""


def encode_table(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC stream (C speed; no Python object per value)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def decode_table(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def encode_calls(calls: pa.Table) -> bytes:
    """The columns of stored ``tool_calls`` rows the detector reads (``handed_rows``)."""
    return encode_table(calls.select([*CALL_COLUMNS, "authentication"]))


@dataclass(frozen=True, slots=True)
class Received:
    """A stored batch as the detector process receives it (a ``follower.Handed``)."""

    chain_id: str
    seq: int
    batch_id: str
    calls: pa.Table | None


def _error(kind: str, text: str) -> Exception:
    if kind == _ACTION_FAILED:
        return ActionFailed(text)
    found = getattr(store_module, kind, None)
    if isinstance(found, type) and issubclass(found, StoreError):
        return found(text)
    return StoreUnavailable(text)


class Caller:
    """One end of a request/answer connection, shared by threads (module invariant)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    def call(self, *request: Any) -> Any:
        with self._lock:
            try:
                self._connection.send(request)
                answer = self._connection.recv()
            except (EOFError, OSError) as exc:
                raise ChannelClosed(f"the collector process is gone ({exc or 'closed'})") from exc
        if answer[0] == "ok":
            return answer[1]
        raise _error(answer[1], answer[2])

    def notify(self, *notice: Any) -> None:
        """Send a notice (no answer); dropped, with a warning, when the collector is gone."""
        with self._lock:
            try:
                self._connection.send(notice)
            except (EOFError, OSError) as exc:
                log.warning("detector: a %s notice was not delivered (%s)", notice[0], exc)

    def close(self) -> None:
        self._connection.close()


class RemoteStore:
    """The detector's trusted store handle, in the collector's process (``query`` and
    ``insert_arrow`` of :class:`~agentaudit.store.Store`, same errors)."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def query(self, sql: str, parameters: Any = None) -> QueryResult:
        result: QueryResult = self._caller.call("query", sql, parameters)
        return result

    def insert_arrow(self, table: str, data: pa.Table, *, dedup_token: str | None = None) -> None:
        self._caller.call("insert", table, encode_table(data), dedup_token)


class RemoteActions:
    """An ``actions.Actions`` carried out by the collector's revocation service."""

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def carry_out(self, request: ActionRequest) -> str:
        return str(self._caller.call("act", request))


Handler = Callable[..., Any]


def serve(
    connection: Connection,
    requests: dict[str, Handler],
    notices: dict[str, Handler] | None = None,
) -> None:
    """Answer ``requests`` and take ``notices`` on ``connection`` until the other end
    closes it. A kind in neither is answered with an error: it never runs anything."""
    notices = notices or {}
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        except Exception:  # a message cut in half: nothing after it can be trusted
            log.exception("detector process: an unreadable message; closing its connection")
            connection.close()
            return
        kind, arguments = message[0], message[1:]
        if kind in notices:
            try:
                notices[kind](*arguments)
            except Exception:
                log.exception("detector process: its %s notice failed here", kind)
            continue
        try:
            handler = requests.get(kind)
            if handler is None:
                raise StoreUnavailable(f"unknown request {kind!r}")
            reply: tuple[Any, ...] = ("ok", handler(*arguments))
        except StoreError as exc:
            reply = ("error", type(exc).__name__, str(exc))
        except Exception as exc:  # an action failed: the detector's runner retries it
            log.exception("detector process: its %s request failed here", kind)
            reply = ("error", _ACTION_FAILED, f"{type(exc).__name__}: {exc}")
        try:
            connection.send(reply)
        except (EOFError, OSError):
            return
