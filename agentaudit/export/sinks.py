"""Where exported events go: a JSON-lines file, or an HTTP event collector (Splunk HEC).

Seam: an :class:`EventSink` takes the events of one chain unit (a batch, a seal link) with
:meth:`~EventSink.send` and returns the position the exporter checkpoints after it; on
start it is handed the last checkpointed position with :meth:`~EventSink.resume`.

* :class:`FileSink` — one event per line, ASCII-only JSON, appended and ``fsync``'d before
  ``send`` returns. Its position is the file's size: on resume, anything written after the
  last checkpoint (a crash between the write and the checkpoint) is cut off first, so the
  file holds every event exactly once. Mode 0600.
* :class:`HecSink` — ``POST`` to a Splunk HTTP Event Collector (or anything speaking its
  protocol: ``Authorization: Splunk <token>``, a body of concatenated
  ``{"time", "source", "sourcetype", "event"}`` objects), retried with backoff; at least
  once: a unit re-sent after a crash carries the same ``metadata.uid`` per event.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from agentaudit.errors import AgentAuditError, ExitCode

__all__ = ["EventSink", "ExportError", "FileSink", "HecSink"]

log = logging.getLogger(__name__)


class ExportError(AgentAuditError):
    """Events could not be delivered (they are sent again on the next run)."""

    exit_code = ExitCode.UNAVAILABLE


class EventSink(Protocol):
    name: str

    def resume(self, position: int) -> None:
        """Continue after ``position`` (what :meth:`send` returned last, checkpointed)."""
        ...

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        """Deliver ``events`` (durably) or raise ExportError; the new position."""
        ...

    def close(self) -> None: ...


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n").encode()


class FileSink:
    """Appends events as JSON lines to ``path``; exactly once with the checkpoint."""

    def __init__(self, path: Path) -> None:
        self.name = f"file {path}"
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(path, flags, 0o600)

    def resume(self, position: int) -> None:
        size = os.fstat(self._fd).st_size
        if size > position:
            log.warning(
                "export: %s holds %d bytes written after the last checkpoint (an interrupted "
                "run); cutting them, they are written again",
                self.path,
                size - position,
            )
            os.ftruncate(self._fd, position)
            os.fsync(self._fd)
        elif size < position:
            log.warning(
                "export: %s is shorter than the checkpoint says (rotated or truncated by "
                "someone else); appending from its end",
                self.path,
            )
        os.lseek(self._fd, 0, os.SEEK_END)

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        data = b"".join(_line(e) for e in events)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            return os.fstat(self._fd).st_size
        except OSError as exc:
            raise ExportError(f"export: cannot write {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        os.close(self._fd)


class HecSink:
    """Posts events to a Splunk-HEC-compatible endpoint (at least once)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ExportError(f"export: the HEC URL {url!r} is not http(s)")
        self.name = f"HEC {url}"
        self._url = url
        self._token = token
        self._timeout = timeout
        self._attempts = attempts
        self._sleep = sleep

    def resume(self, position: int) -> None:
        return None

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        if not events:
            return 0
        body = b"".join(
            _line(
                {
                    "time": event.get("time", 0) / 1000,
                    "source": "agentaudit",
                    "sourcetype": f"ocsf:{event.get('class_name', 'event')}",
                    "event": event,
                }
            )
            for event in events
        )
        request = urllib.request.Request(  # noqa: S310 - http(s) checked in __init__
            self._url,
            data=body,
            headers={"Authorization": f"Splunk {self._token}", "Content-Type": "application/json"},
            method="POST",
        )
        problem = ""
        for attempt in range(self._attempts):
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                    answer.read(64 * 1024)
                    return 0
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if exc.code in (400, 401, 403):
                    break  # retrying cannot help: a bad token or a refused body
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            self._sleep(min(5.0, 0.5 * 2**attempt))
        raise ExportError(f"export: {self.name} did not take {len(events)} event(s): {problem}")

    def close(self) -> None:
        return None
