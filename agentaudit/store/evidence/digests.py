"""Signed digests: the chain heads, anchored outside the store, signed with Ed25519.

A chain proves what it links, not that its newest links are all there: whoever can delete
the newest batches can delete their links too. So, like CloudTrail's digest files, the
collector writes a digest every ``digest_interval`` seconds (default hourly) and at
shutdown, to a directory apart from the store (``digest_dir``, default
``<state dir>/digests``; optionally also POSTed to ``digest_webhook``)::

    {"digest": {"format": "agentaudit-digest/1", "seq": 7, "created_at": "...Z",
                "created_us": ..., "reason": "interval" | "shutdown" | ...,
                "key_id": "<16 hex>", "previous": {"seq": 6, "sha256": "..."} | null,
                "chains": {"tool_calls": {"<chain id>": {"seq": N, "head": "<hash>"}},
                           "seals": {"<chain id>": {"seq": N, "head": "<hash>"}}},
                "tables": {"<table>": {"rows": N}, ...}},
     "key_id": "<16 hex>", "signature": "<base64 Ed25519 over the digest's canonical JSON>"}

Canonical JSON: sorted keys, no spaces, ASCII. ``previous.sha256`` is SHA-256 of the
previous digest's canonical JSON, so the digests form a chain of their own: removing one
from the middle is seen. The key is ``<state dir>/digest.key`` (PKCS#8 PEM, mode 0600,
generated on first start); its public half ``<state dir>/digest.pub`` is what an auditor is
handed. ``key_id`` is the first 16 hex of SHA-256 over the raw public key.

:func:`verify_digests` (``agentaudit verify --digests DIR --public-key FILE``) refuses a
digest whose signature does not verify with a trusted key (forged or damaged: reported,
never used), checks the digests' own chain, and checks the store against every trusted
digest: each recorded chain head must still be in the store with the same hash — a chain
that ends before it was *truncated*, one whose link at that number differs was *replaced*.

Key rotation: move ``digest.key`` and ``digest.pub`` aside (keep the old public key) and
restart; a new pair is generated and the next digest names the new ``key_id`` while its
``previous`` still links the last digest of the old key. Hand the auditor both public keys
(``--public-key`` may be given more than once). A compromised key: rotate, and have the
auditor trust the old key only for digests they obtained before the compromise (e.g. from
the webhook's receiver).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentaudit.errors import AgentAuditError, ConfigError
from agentaudit.store import Store
from agentaudit.store.audit_chain import Problem, chain_heads
from agentaudit.store.evidence._tables import audit_tables, ident

__all__ = [
    "DIGEST_FORMAT",
    "DigestKey",
    "DigestWriter",
    "load_public_keys",
    "verify_digests",
]

log = logging.getLogger(__name__)

DIGEST_FORMAT = "agentaudit-digest/1"
KEY_FILE = "digest.key"
PUBLIC_FILE = "digest.pub"
SUFFIX = ".digest.json"


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - depends on the install
        raise AgentAuditError(
            "signed digests need the collector's dependencies: pip install 'agentaudit[collector]'"
        ) from None
    return serialization, ed25519


def _key_id(public: Any) -> str:
    serialization, _ = _crypto()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class DigestKey:
    """The Ed25519 private key digests are signed with."""

    private: Any
    key_id: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DigestKey:
        """``<state dir>/digest.key`` (made, with ``digest.pub``, on first use)."""
        serialization, ed25519 = _crypto()
        path = state_dir / KEY_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise ConfigError(f"digest key {path}: cannot read it: {exc.strerror}") from None
        if data is None:
            private = ed25519.Ed25519PrivateKey.generate()
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            state_dir.mkdir(parents=True, exist_ok=True)
            _write_new(path, pem, 0o600)
            public = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            (state_dir / PUBLIC_FILE).write_bytes(public)
            log.warning(
                "generated the digest signing key %s; hand its public half %s to auditors",
                path,
                state_dir / PUBLIC_FILE,
            )
        else:
            try:
                private = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"digest key {path}: not a PEM private key ({exc})") from None
            if not isinstance(private, ed25519.Ed25519PrivateKey):
                raise ConfigError(f"digest key {path}: not an Ed25519 key")
            public_path = state_dir / PUBLIC_FILE
            if not public_path.exists():
                public_path.write_bytes(
                    private.public_key().public_bytes(
                        serialization.Encoding.PEM,
                        serialization.PublicFormat.SubjectPublicKeyInfo,
                    )
                )
        return cls(private, _key_id(private.public_key()))

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(data)).decode()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_public_keys(paths: Iterable[Path]) -> dict[str, Any]:
    """``key_id -> Ed25519 public key`` of the PEM files an auditor trusts."""
    serialization, ed25519 = _crypto()
    keys: dict[str, Any] = {}
    for path in paths:
        try:
            public = serialization.load_pem_public_key(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"--public-key {path}: cannot read it: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"--public-key {path}: not a PEM public key ({exc})") from None
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise ConfigError(f"--public-key {path}: not an Ed25519 public key")
        keys[_key_id(public)] = public
    return keys


def snapshot(store: Store) -> dict[str, Any]:
    """The chain heads and row counts of ``store`` now."""
    seals = {
        str(c): {"seq": int(s), "head": str(h)}
        for c, s, h in store.query(
            "SELECT chain_id, max(seq), argMax(chain_hash, seq) FROM agentaudit.audit_seals "
            "GROUP BY chain_id"
        ).rows
    }
    batches = {c: {"seq": s, "head": h} for c, (s, h) in chain_heads(store).items()}
    tables = {
        name: {
            "rows": int(
                store.query(f"SELECT count() FROM agentaudit.{ident(name)}").rows[0][0]  # noqa: S608
            )
        }
        for name in sorted(audit_tables(store))
    }
    return {"chains": {"tool_calls": batches, "seals": seals}, "tables": tables}


class DigestWriter:
    """Writes signed digests of ``store`` into ``directory`` (and to ``webhook``)."""

    def __init__(
        self,
        store: Store,
        directory: Path,
        key: DigestKey,
        *,
        webhook: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._store = store
        self.directory = directory
        self._key = key
        self._webhook = webhook
        self._timeout = timeout
        directory.mkdir(parents=True, exist_ok=True)
        self._seq, self._previous = self._last()

    def _last(self) -> tuple[int, dict[str, Any] | None]:
        newest: tuple[int, dict[str, Any] | None] = (0, None)
        for path in self.directory.glob(f"*{SUFFIX}"):
            try:
                body = json.loads(path.read_bytes())["digest"]
                seq = int(body["seq"])
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("digest %s is unreadable; the next digest does not link it", path)
                continue
            if seq > newest[0]:
                newest = (seq, {"seq": seq, "sha256": hashlib.sha256(canonical(body)).hexdigest()})
        return newest

    def write(self, reason: str) -> Path:
        """Write the next digest; returns its file."""
        now_us = time.time_ns() // 1000
        body: dict[str, Any] = {
            "format": DIGEST_FORMAT,
            "seq": self._seq + 1,
            "created_us": now_us,
            "created_at": _iso(now_us),
            "reason": reason,
            "key_id": self._key.key_id,
            "previous": self._previous,
            **snapshot(self._store),
        }
        data = canonical(body)
        document = {"digest": body, "key_id": self._key.key_id, "signature": self._key.sign(data)}
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_us // 1_000_000))
        path = self.directory / f"{body['seq']:08d}-{stamp}{SUFFIX}"
        text = json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(text)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        temporary.replace(path)
        _fsync_dir(self.directory)
        self._seq = body["seq"]
        self._previous = {"seq": body["seq"], "sha256": hashlib.sha256(data).hexdigest()}
        if self._webhook:
            self._post(text, path.name)
        return path

    def _post(self, text: bytes, name: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - an http(s) URL checked by config
            self._webhook or "",
            data=text,
            headers={"Content-Type": "application/json", "X-Agentaudit-Digest": name},
            method="POST",
        )
        for attempt in range(3):
            try:
                with urllib.request.urlopen(request, timeout=self._timeout):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError) as exc:
                log.warning("digest webhook (attempt %d/3) failed: %s", attempt + 1, exc)
                time.sleep(0.5 * (attempt + 1))
        log.error("digest %s was not delivered to the webhook (it is in %s)", name, self.directory)


def _iso(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


@dataclass
class DigestReport:
    """What :func:`verify_digests` found."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trusted: int = 0


def _verify_signature(document: Any, keys: Mapping[str, Any]) -> dict[str, Any] | str:
    """The digest body, or why it is refused."""
    if not isinstance(document, dict) or not isinstance(document.get("digest"), dict):
        return "not a digest file"
    body = document["digest"]
    signature = document.get("signature")
    if body.get("format") != DIGEST_FORMAT or not isinstance(signature, str):
        return "not a digest of a format this verifier knows"
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return "its signature is not base64"
    data = canonical(body)
    for public in keys.values():
        try:
            public.verify(raw, data)
        except Exception:  # noqa: S112 - cryptography's InvalidSignature: try the next key
            continue
        return dict(body)
    return "its signature does not verify with any trusted public key (forged or altered)"


def _links(store: Store, table: str) -> dict[tuple[str, int], str]:
    return {
        (str(c), int(s)): str(h)
        for c, s, h in store.query(
            f"SELECT chain_id, seq, chain_hash FROM agentaudit.{table}"  # noqa: S608
        ).rows
    }


def verify_digests(store: Store, directory: Path, keys: Mapping[str, Any]) -> DigestReport:
    """Check the digests in ``directory`` and ``store`` against them; read-only."""
    report = DigestReport()
    files = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    if not files:
        report.problems.append(
            Problem("no_digest", f"no digest files ({'*' + SUFFIX}) in {directory}", table="")
        )
        return report
    trusted: list[tuple[int, dict[str, Any], str]] = []
    for path in files:
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            verdict: dict[str, Any] | str = f"unreadable ({exc})"
        else:
            verdict = _verify_signature(document, keys)
        if isinstance(verdict, str):
            report.problems.append(
                Problem("forged_digest", f"digest {path.name}: refused: {verdict}", table="")
            )
            continue
        trusted.append((int(verdict["seq"]), verdict, path.name))
    trusted.sort(key=lambda item: item[0])
    report.trusted = len(trusted)
    previous: tuple[int, dict[str, Any]] | None = None
    for seq, body, name in trusted:
        link = body.get("previous")
        if previous is not None:
            expected = {
                "seq": previous[0],
                "sha256": hashlib.sha256(canonical(previous[1])).hexdigest(),
            }
            if seq == previous[0]:
                report.problems.append(
                    Problem("digest_chain", f"digest {name}: a second digest numbered {seq}",
                            table="")
                )  # fmt: skip
            elif link != expected:
                missing = (
                    f"digests {previous[0] + 1}..{seq - 1} are missing, or "
                    if seq > previous[0] + 1
                    else ""
                )
                report.problems.append(
                    Problem("digest_chain",
                            f"digest {name}: does not follow digest {previous[0]} ({missing}"
                            "one was replaced)", table="")
                )  # fmt: skip
        elif link is not None:
            report.notes.append(
                f"the oldest digest given is {name} (number {seq}); earlier ones were not checked"
            )
        previous = (seq, body)
    batch_links = _links(store, "audit_chain")
    seal_links = _links(store, "audit_seals")
    newest_batch: dict[str, int] = {}
    for (chain, seq), _ in batch_links.items():
        newest_batch[chain] = max(newest_batch.get(chain, 0), seq)
    newest_seal: dict[str, int] = {}
    for (chain, seq), _ in seal_links.items():
        newest_seal[chain] = max(newest_seal.get(chain, 0), seq)
    for _, body, name in trusted:
        chains = body.get("chains", {})
        for family, links, newest, what in (
            ("tool_calls", batch_links, newest_batch, "tool_calls chain"),
            ("seals", seal_links, newest_seal, "seal chain"),
        ):
            for chain, head in sorted(chains.get(family, {}).items()):
                seq, digest = int(head["seq"]), str(head["head"])
                stored = links.get((chain, seq))
                where = f"digest {name} ({body.get('created_at')})"
                if stored is None:
                    report.problems.append(
                        Problem("truncated",
                                f"{where}: {what} {chain[:12]} had link {seq}; the store's chain "
                                f"ends at link {newest.get(chain, 0)}: its newest links (and "
                                "what they chained) were removed", "", chain, seq, family)
                    )  # fmt: skip
                elif stored != digest:
                    report.problems.append(
                        Problem("replaced",
                                f"{where}: {what} {chain[:12]} link {seq} differs from the one "
                                "the digest signed: the chain was replaced", "", chain, seq,
                                family)
                    )  # fmt: skip
    if trusted:
        newest_body = trusted[-1][1]
        anchored = {
            chain: int(head["seq"])
            for family in ("tool_calls", "seals")
            for chain, head in newest_body.get("chains", {}).get(family, {}).items()
        }
        later = sum(
            max(0, seq - anchored.get(chain, 0))
            for chain, seq in (*newest_batch.items(), *newest_seal.items())
        )
        if later:
            report.notes.append(
                f"{later} link(s) were written after the newest digest "
                f"({newest_body.get('created_at')}): not anchored by a digest yet"
            )
    return report
