"""A loopback HTTP endpoint that serves ClickHouse's HTTP protocol from the chDB engine.

No modern ClickHouse server can be installed on the test machines (no Docker engine, no
Debian package), so the server-mode suite talks to this: a small HTTP server that answers
the subset of the ClickHouse HTTP interface clickhouse-connect uses, executing every
statement in chDB (the ClickHouse engine, embedded). The client under test is the real
clickhouse-connect HTTP client; only the server side is a stand-in. Run it as a process
(chDB hosts one engine per process, so it must not share the test process)::

    python -m tests.server.chdb_http_endpoint --data DIR [--port 0] [--cluster NAME]
        [--user NAME:PASSWORD[:setting=value[!],...]] [--tls-cert PEM --tls-key PEM]

It prints one JSON line (``{"url": ..., "port": ...}``) once it listens.

What it emulates (the statement itself is always run by the ClickHouse engine):

* ``/`` (GET and POST) and ``/ping``; the query from the ``query`` parameter, the body,
  or both (an ``INSERT ... FORMAT X`` in either, its data in the body: written to a temp
  file and run as ``INSERT ... FROM INFILE``, so every input format the engine reads
  works: Arrow, Native, RowBinary, JSONEachRow, ...); chunked request bodies;
* server-side query parameters (``param_<name>``), every other unknown URL parameter as a
  setting of that query (applied with ``SET`` on a fresh engine handle per request, so
  nothing leaks between requests), ``database``, ``default_format``;
* ``query_id`` (generated when absent) and ``KILL QUERY WHERE query_id = ...`` (by a
  ``log_comment`` marker the endpoint sets on the query);
* response compression (``enable_http_compression=1`` + ``Accept-Encoding``: lz4 frame,
  zstd, gzip, deflate, br when installed) and request ``Content-Encoding`` (the same);
* the response headers ``X-ClickHouse-Query-Id``, ``-Format`` (for statements with a
  result), ``-Timezone``, ``-Summary``, ``-Server-Display-Name``, and errors as ClickHouse
  sends them: the engine's ``Code: N. DB::Exception: ... (NAME) (version V)`` body, the
  ``X-ClickHouse-Exception-Code`` header and ClickHouse's HTTP status for that code
  (exceptionCodeToHTTPStatus.cpp);
* users: HTTP basic auth, ``X-ClickHouse-User``/``-Key`` or ``user``/``password``
  parameters; a wrong password is ``AUTHENTICATION_FAILED`` (516); each user has a
  settings profile (``readonly`` applied last, as the engine enforces it), ``!`` marks a
  setting CONST (changing it is ``SETTING_CONSTRAINT_VIOLATION``, 452), ``<`` a MAX;
  a GET request runs with ``readonly = 2`` when the user's is 0;
* sessions (``session_id``): one request at a time (a concurrent one gets
  ``SESSION_IS_LOCKED``, 373), ``SET`` and ``USE`` persist, ``session_check``,
  ``session_timeout``;
* TLS (``--tls-cert``/``--tls-key``);
* with ``--cluster NAME``, a one-shard, one-replica cluster NAME whose replica is this
  endpoint: ``ON CLUSTER`` clauses run locally, ``Replicated*MergeTree(path, replica, ...)``
  becomes ``*MergeTree(...)`` with ``replicated_deduplication_window`` mapped onto
  ``non_replicated_deduplication_window`` (so a deduplication token behaves as on a
  replica), macros ``{shard}``/``{replica}`` exist, and ``Distributed`` tables over the
  cluster read and write this engine's tables (the engine's own Distributed code).

What it does not emulate: access control (grants, ``CREATE USER``/``ROLE``; chDB has no
users: a profile's ``readonly`` is what confines a user here), quotas, ``MIN``/``CHANGEABLE``
constraints; ClickHouse's native ``compress``/``decompress`` block format;
``client_protocol_version`` (chDB writes Native without block info; clickhouse-connect
falls back to protocol 0, as it does behind proxies that drop the parameter); progress
headers and streaming (the whole result is materialised, then sent); ``external data``
(multipart) and ``multipart/form-data`` queries; temporary tables in sessions;
``async_insert`` (inserts are always synchronous); ``query_log``; Keeper, replication,
quorum and more than one shard (the cluster mode's replicas are one engine).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import gzip
import http.server
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import chdb

__all__ = ["Endpoint", "User", "main"]

DISPLAY_NAME = "chdb-http-endpoint"
REQUEST_LOG_PATH = "/.chdb-http-endpoint/requests"
"""Not ClickHouse: the requests this endpoint served (user, settings, statement), for tests."""

# URL parameters of the HTTP interface that are not settings.
PROTOCOL_PARAMS = frozenset({
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "session_id", "session_timeout", "session_check", "close_session", "compress",
    "decompress", "buffer_size", "wait_end_of_query", "client_protocol_version", "role",
    "stacktrace",
})  # fmt: skip

# exceptionCodeToHTTPStatus.cpp (ClickHouse 25.x): HTTP status by error name.
_STATUS_BY_NAME = {
    **dict.fromkeys(["REQUIRED_PASSWORD"], 401),
    **dict.fromkeys(
        ["UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE",
         "ACCESS_DENIED"], 403),
    **dict.fromkeys(
        ["BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT",
         "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE",
         "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
         "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
         "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN", "UNKNOWN_ELEMENT_IN_AST",
         "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
         "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
         "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"], 400),
    **dict.fromkeys(
        ["UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
         "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING",
         "UNKNOWN_DIRECTION_OF_SORTING", "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT",
         "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"], 404),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "CANNOT_SCHEDULE_TASK": 503,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}  # fmt: skip

_CODE_RE = re.compile(r"Code: (\d+)\.")
_INSERT_DATA_RE = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<fmt>\w+)[ \t]*(?:\r?\n|$)",
    re.IGNORECASE | re.DOTALL,
)
_TRAILING_FORMAT_RE = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_RESULT_RE = re.compile(
    r"^\s*(\(|SELECT\b|WITH\b|SHOW\b|DESCRIBE\b|DESC\b|EXPLAIN\b|EXISTS\b)", re.I
)
_KILL_RE = re.compile(
    r"^\s*KILL\s+QUERY\s+WHERE\s+query_id\s*=\s*(?:'(?P<literal>[^']*)'|\{(?P<param>\w+):String\})"
    r"\s*(?P<mode>SYNC|ASYNC)?\s*;?\s*$",
    re.IGNORECASE,
)
_SET_RE = re.compile(r"^\s*SET\s+(?P<name>\w+)\s*=", re.IGNORECASE)
_USE_RE = re.compile(r"^\s*USE\s+`?(?P<db>[\w.]+)`?\s*;?\s*$", re.IGNORECASE)
_ON_CLUSTER_RE = re.compile(r"\s+ON\s+CLUSTER\s+(?:'[^']*'|`[^`]*`|\w+)", re.IGNORECASE)
_REPLICATED_RE = re.compile(
    r"\bReplicated(?P<engine>\w*MergeTree)\(\s*'[^']*'\s*,\s*'[^']*'\s*(?:,\s*)?", re.IGNORECASE
)
_REPLICATED_WINDOW_RE = re.compile(r"\breplicated_deduplication_window\b")


@dataclasses.dataclass(frozen=True)
class User:
    """A user: its password and settings profile (``const``: CONST, ``maximum``: MAX)."""

    password: str = ""
    settings: Mapping[str, str] = dataclasses.field(default_factory=dict)
    const: frozenset[str] = frozenset()
    maximum: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> tuple[str, User]:
        """``NAME:PASSWORD[:setting=value[!|<],...]`` (``!`` CONST, ``<`` MAX)."""
        name, _, rest = text.partition(":")
        password, _, profile = rest.partition(":")
        settings: dict[str, str] = {}
        const, maximum = set(), set()
        for item in filter(None, profile.split(",")):
            key, _, value = item.partition("=")
            if value.endswith("!"):
                const.add(key)
                value = value[:-1]
            elif value.endswith("<"):
                maximum.add(key)
                value = value[:-1]
            settings[key] = value
        return name, cls(password, settings, frozenset(const), frozenset(maximum))


class ClickHouseError(Exception):
    """An error answered the way ClickHouse answers it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _engine_error(exc: BaseException) -> ClickHouseError:
    text = str(exc)
    start = text.find("Code: ")
    text = text[start:] if start >= 0 else text
    match = _CODE_RE.search(text)
    return ClickHouseError(int(match.group(1)) if match else 1000, text.strip())


@dataclasses.dataclass
class _Session:
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    database: str | None = None
    statements: list[str] = dataclasses.field(default_factory=list)
    expires: float = 0.0


@dataclasses.dataclass
class _Request:
    method: str
    params: dict[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclasses.dataclass
class _Answer:
    body: bytes = b""
    fmt: str | None = None
    summary: dict[str, str] = dataclasses.field(default_factory=dict)


def _decompress(data: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "lz4":
        import lz4.frame

        return bytes(lz4.frame.decompress(data))
    if encoding == "zstd":
        from backports import zstd

        return bytes(zstd.decompress(data))
    if encoding == "br":
        import brotli

        return bytes(brotli.decompress(data))
    raise ClickHouseError(1, f"Code: 1. DB::Exception: Unknown HTTP content encoding {encoding}")


def _compressors() -> dict[str, Callable[[bytes], bytes]]:
    found: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
    }
    with contextlib.suppress(ImportError):
        import lz4.frame

        found["lz4"] = lz4.frame.compress
    with contextlib.suppress(ImportError):
        from backports import zstd

        found["zstd"] = zstd.compress
    with contextlib.suppress(ImportError):
        import brotli

        found["br"] = brotli.compress
    return found


_COMPRESSORS = _compressors()


class Endpoint:
    """The engine behind the HTTP handler: requests in, ClickHouse answers out."""

    def __init__(
        self,
        data: Path,
        *,
        users: Mapping[str, User] | None = None,
        cluster: str | None = None,
    ) -> None:
        self.cluster = cluster
        connection = str(data)
        if cluster:
            connection += f"?config-file={_cluster_config(data, cluster)}"
        self._connection = connection
        self._engine = chdb.connect(connection)  # starts the engine; kept open while serving
        self.users = {"default": User(), **(users or {})}
        self.version = self._scalar("SELECT version()")
        self.timezone = self._scalar("SELECT timezone()")
        names = self._scalar(
            "SELECT arrayStringConcat(groupArray(concat(toString(number), '=', "
            "errorCodeToName(number))), ',') FROM numbers(2000) WHERE errorCodeToName(number) != ''"
        )
        by_name = {n: int(c) for c, _, n in (item.partition("=") for item in names.split(","))}
        self.statuses = {by_name[n]: s for n, s in _STATUS_BY_NAME.items() if n in by_name}
        self._sessions: dict[str, _Session] = {}
        self._sessions_lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self._requests_lock = threading.Lock()

    def _scalar(self, sql: str) -> str:
        return bytes(self._engine.query(sql, "TabSeparated").bytes()).decode().strip()

    def close(self) -> None:
        self._engine.close()

    # --- one request -----------------------------------------------------------------

    def answer(self, request: _Request) -> tuple[_Answer, str]:
        """Run one request; returns the answer and the query id (raises ClickHouseError)."""
        params = request.params
        query_id = params.get("query_id") or str(uuid.uuid4())
        name, user = self._authenticate(request)
        settings = {
            k: v
            for k, v in params.items()
            if k not in PROTOCOL_PARAMS and not k.startswith("param_")
        }
        self._check_constraints(user, settings)
        values = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        body = _decompress(request.body, request.headers.get("Content-Encoding", ""))
        url_query = params.get("query", "")
        self._log(name, query_id, settings, url_query or body[:200].decode("latin-1"))
        with self._session(params) as session:
            handle = chdb.connect(self._connection)
            try:
                self._prepare(
                    handle,
                    request,
                    user=user,
                    session=session,
                    settings=settings,
                    query_id=query_id,
                )
                answer = self._execute(
                    handle,
                    url_query=url_query,
                    body=body,
                    values=values,
                    params=params,
                    session=session,
                )
                return answer, query_id
            finally:
                handle.close()

    def _authenticate(self, request: _Request) -> tuple[str, User]:
        name = request.params.get("user") or request.headers.get("X-ClickHouse-User") or ""
        password = request.params.get("password") or request.headers.get("X-ClickHouse-Key") or ""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            decoded = base64.b64decode(auth[6:]).decode()
            name, _, password = decoded.partition(":")
        name = name or "default"
        user = self.users.get(name)
        if user is None or user.password != password:
            raise ClickHouseError(
                516,
                f"Code: 516. DB::Exception: {name}: Authentication failed: password is "
                "incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)",
            )
        return name, user

    @staticmethod
    def _check_constraints(user: User, settings: Mapping[str, str]) -> None:
        for key, value in settings.items():
            profile = user.settings.get(key)
            if key in user.const and value != profile:
                raise ClickHouseError(
                    452,
                    f"Code: 452. DB::Exception: Setting {key} should not be changed. "
                    "(SETTING_CONSTRAINT_VIOLATION)",
                )
            if key in user.maximum and profile is not None and float(value) > float(profile):
                raise ClickHouseError(
                    452,
                    f"Code: 452. DB::Exception: Setting {key} shouldn't be greater than "
                    f"{profile}. (SETTING_CONSTRAINT_VIOLATION)",
                )

    def _log(self, user: str, query_id: str, settings: Mapping[str, str], text: str) -> None:
        with self._requests_lock:
            self.requests.append(
                {"user": user, "query_id": query_id, "settings": dict(settings), "query": text}
            )
            del self.requests[:-2000]

    @contextlib.contextmanager
    def _session(self, params: Mapping[str, str]) -> Iterator[_Session | None]:
        session_id = params.get("session_id")
        if not session_id:
            yield None
            return
        now = time.monotonic()
        with self._sessions_lock:
            for key in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[key]
            session = self._sessions.get(session_id)
            if session is None:
                if params.get("session_check") == "1":
                    raise ClickHouseError(
                        372,
                        f"Code: 372. DB::Exception: Session {session_id} not found. "
                        "(SESSION_NOT_FOUND)",
                    )
                session = self._sessions[session_id] = _Session()
            session.expires = now + float(params.get("session_timeout") or 60)
        if not session.lock.acquire(blocking=False):
            raise ClickHouseError(
                373,
                f"Code: 373. DB::Exception: Session {session_id} is locked by a concurrent "
                "client. (SESSION_IS_LOCKED)",
            )
        try:
            yield session
        finally:
            session.lock.release()
            if params.get("close_session") == "1":
                with self._sessions_lock:
                    self._sessions.pop(session_id, None)

    def _prepare(
        self,
        handle: Any,
        request: _Request,
        *,
        user: User,
        session: _Session | None,
        settings: Mapping[str, str],
        query_id: str,
    ) -> None:
        """Profile, session and request settings on a fresh handle, ``readonly`` last."""
        run = lambda sql: self._run(handle, sql)  # noqa: E731

        def assign(values: Mapping[str, str]) -> None:  # one SET statement for them all
            for key in values:
                if not re.fullmatch(r"\w+", key):
                    raise ClickHouseError(115, f"Code: 115. DB::Exception: Unknown setting '{key}'")
            if values:
                run("SET " + ", ".join(f"{k} = {_quote(v)}" for k, v in values.items()))

        database = request.params.get("database") or (session.database if session else None)
        if database:
            run(f"USE `{database}`")
        profile = dict(user.settings)
        profile_readonly = profile.pop("readonly", None)
        if "log_comment" not in settings:
            profile["log_comment"] = _marker(query_id)
        assign(profile)
        if profile_readonly is not None:
            run(f"SET readonly = {int(profile_readonly)}")
        for statement in session.statements if session else ():
            run(statement)
        assign({k: v for k, v in settings.items() if k != "readonly"})
        if "readonly" in settings:
            run(f"SET readonly = {int(settings['readonly'])}")
        if request.method == "GET" and self._run_scalar(handle, "getSetting('readonly')") == "0":
            run("SET readonly = 2")

    @staticmethod
    def _run(handle: Any, sql: str) -> Any:
        try:
            return handle.query(sql, "TabSeparated")
        except Exception as exc:
            raise _engine_error(exc) from None

    def _run_scalar(self, handle: Any, expression: str) -> str:
        return bytes(self._run(handle, f"SELECT {expression}").bytes()).decode().strip()

    def _execute(
        self,
        handle: Any,
        *,
        url_query: str,
        body: bytes,
        values: Mapping[str, str],
        params: Mapping[str, str],
        session: _Session | None,
    ) -> _Answer:
        head = url_query if url_query else body.decode("latin-1")
        data = body if url_query else b""
        insert = _INSERT_DATA_RE.match(head)
        if insert and not re.search(r"\b(VALUES|SELECT|WITH)\b", insert["target"], re.I):
            rest = head[insert.end() :].encode("latin-1")
            return self._insert(handle, insert["target"], insert["fmt"], data or rest, values)
        text = f"{url_query}\n{body.decode()}" if url_query and body else url_query or body.decode()
        if self.cluster:
            text = _declustered(text)
        kill = _KILL_RE.match(text)
        if kill:
            target = (
                kill["literal"] if kill["literal"] is not None else values.get(kill["param"], "")
            )
            mode = kill["mode"] or "SYNC"
            text = f"KILL QUERY WHERE Settings['log_comment'] = {_quote(_marker(target))} {mode}"
        fmt_match = _TRAILING_FORMAT_RE.search(text)
        fmt = fmt_match.group(1) if fmt_match else params.get("default_format", "TabSeparated")
        result = self._query(handle, text, fmt, values)
        if session is not None:
            self._remember(session, text)
        has_result = bool(_RESULT_RE.match(text)) and not kill
        return _Answer(bytes(result.bytes() or b""), fmt if has_result else None, _summary(result))

    def _query(self, handle: Any, text: str, fmt: str, values: Mapping[str, str]) -> Any:
        try:
            return handle.query(text, fmt, params=dict(values))
        except Exception as exc:
            raise _engine_error(exc) from None

    def _insert(
        self, handle: Any, target: str, fmt: str, data: bytes, values: Mapping[str, str]
    ) -> _Answer:
        table, settings_clause = target, ""
        split = re.split(r"\bSETTINGS\b", target, maxsplit=1, flags=re.IGNORECASE)
        if len(split) == 2:
            table, settings_clause = split[0].strip(), f" SETTINGS {split[1].strip()}"
        with tempfile.NamedTemporaryFile(suffix=".insert", delete=False) as file:
            file.write(data)
        try:
            sql = (
                f"INSERT INTO {table} FROM INFILE {_quote(file.name)}{settings_clause} FORMAT {fmt}"
            )
            result = self._query(handle, sql, "TabSeparated", values)
        finally:
            os.unlink(file.name)
        summary = _summary(result)
        summary["written_rows"] = summary.get("read_rows", "0")
        summary["written_bytes"] = summary.get("read_bytes", "0")
        return _Answer(b"", None, summary)

    @staticmethod
    def _remember(session: _Session, text: str) -> None:
        use = _USE_RE.match(text)
        if use:
            session.database = use["db"]
        elif _SET_RE.match(text):
            session.statements.append(text.strip().rstrip(";"))


def _marker(query_id: str) -> str:
    return f"{DISPLAY_NAME}:{query_id}"


def _summary(result: Any) -> dict[str, str]:
    try:
        return {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": "0",
            "written_bytes": "0",
            "total_rows_to_read": str(result.rows_read()),
            "result_rows": "0",
            "result_bytes": str(len(result.bytes() or b"")),
            "elapsed_ns": str(int(result.elapsed() * 1e9)),
        }
    except Exception:
        return {}


def _declustered(sql: str) -> str:
    """The one-node cluster's view of DDL: ON CLUSTER runs here, replication is a no-op."""
    sql = _ON_CLUSTER_RE.sub("", sql)
    if _REPLICATED_RE.search(sql):
        sql = _REPLICATED_RE.sub(lambda m: f"{m['engine']}(", sql)
        sql = _REPLICATED_WINDOW_RE.sub("non_replicated_deduplication_window", sql)
    return sql


def _cluster_config(data: Path, cluster: str) -> Path:
    """A config naming one shard whose one replica is this engine, and the macros.

    One replica only: the engine counts every local replica of a shard and writes an
    insert once per local replica (each copy with its own deduplication token).
    """
    data.mkdir(parents=True, exist_ok=True)
    path = data.parent / f"{data.name}-cluster.xml"
    path.write_text(
        "<clickhouse><tcp_port>9000</tcp_port>"
        "<macros><shard>01</shard><replica>r1</replica></macros>"
        f"<remote_servers><{cluster}><shard><internal_replication>true</internal_replication>"
        "<replica><host>127.0.0.1</host><port>9000</port></replica>"
        f"</shard></{cluster}></remote_servers></clickhouse>"
    )
    return path


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK
    endpoint: Endpoint

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/ping":
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        if url.path == REQUEST_LOG_PATH:
            with self.endpoint._requests_lock:
                log = json.dumps(self.endpoint.requests).encode()
            self._send(200, log, {"Content-Type": "application/json"})
            return
        if url.path not in ("", "/"):
            self._send(404, b"There is no handle " + url.path.encode() + b"\n", {})
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        request = _Request(method, params, self.headers, body)
        endpoint = self.endpoint
        try:
            answer, query_id = endpoint.answer(request)
        except ClickHouseError as exc:
            text = f"{exc} (version {endpoint.version})\n".encode()
            headers = {
                "X-ClickHouse-Exception-Code": str(exc.code),
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
            }
            self._send(endpoint.statuses.get(exc.code, 500), text, headers)
            return
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": endpoint.timezone,
            "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
            "X-ClickHouse-Summary": json.dumps(answer.summary, separators=(",", ":")),
            "Content-Type": "text/tab-separated-values; charset=UTF-8"
            if (answer.fmt or "TabSeparated").startswith(("TabSeparated", "TSV"))
            else "application/octet-stream",
        }
        if answer.fmt:
            headers["X-ClickHouse-Format"] = answer.fmt
        payload = answer.body
        if params.get("enable_http_compression") == "1":
            accepted = [
                e.strip().split(";")[0] for e in self.headers.get("Accept-Encoding", "").split(",")
            ]
            chosen = next((e for e in accepted if e in _COMPRESSORS), None)
            if chosen:
                payload = _COMPRESSORS[chosen](payload)
                headers["Content-Encoding"] = chosen
        self._send(200, payload, headers)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        self.wfile.write(body)


def serve(
    endpoint: Endpoint,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
) -> http.server.ThreadingHTTPServer:
    """An HTTP(S) server for ``endpoint`` (call ``serve_forever``)."""
    handler = type("Handler", (_Handler,), {"endpoint": endpoint})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chdb_http_endpoint", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="chDB data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cluster", help="emulate a one-shard cluster of this name")
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD[:profile]")
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    args = parser.parse_args(argv)
    users = dict(User.parse(text) for text in args.user)
    endpoint = Endpoint(args.data, users=users, cluster=args.cluster)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    server = serve(endpoint, host=args.host, port=args.port, tls=tls)
    port = server.server_address[1]
    scheme = "https" if tls else "http"
    print(json.dumps({"url": f"{scheme}://{args.host}:{port}", "port": port}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.stdout.flush()
    # chDB's background threads do not always shut down cleanly at interpreter exit.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
