"""Card sign-offs: who attested to an agent's card, when, and the hash of what they saw.

Rows of ``agentaudit.card_signoffs`` (migration ``0020_card_signoffs.sql``), appended
and never changed. Each row is linked to the agent's previous one (``prev_hash`` ->
``entry_hash``), so :func:`verify_signoffs` names a sign-off altered, deleted from the
middle, or inserted with a forged link after the fact.

Writers: :class:`SignoffLog` on a store this process holds (the CLI with ``--store``, the
admin API's ``POST /v1/cards/{agent}/signoffs`` in the process that holds it).
Readers: :func:`newest_signoff` / :func:`signoff_history` through any
:class:`~agentaudit.catalog.observed.Source` (store or admin API).
"""

# S608: the SQL below splices only literals quoted by quote_string.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from agentaudit.catalog.observed import Source
from agentaudit.schema.identifiers import canonical_id
from agentaudit.store.sql_guard import quote_string

__all__ = [
    "MAX_SIGNER_CHARS",
    "Signoff",
    "SignoffError",
    "SignoffLog",
    "check_signed_card",
    "entry_hash",
    "newest_signoff",
    "signoff_history",
    "verify_signoffs",
]

MAX_SIGNER_CHARS: Final = 256
MAX_CARD_BYTES: Final = 1024 * 1024
_COLUMNS: Final = (
    "agent, toUnixTimestamp64Milli(signed_at), signed_by, card_hash, card, catalog, "
    "recorded_by, prev_hash, entry_hash"
)


class SignoffError(ValueError):
    """A sign-off that cannot be recorded (the message says why)."""


@dataclass(frozen=True)
class Signoff:
    """One ``card_signoffs`` row (``signed_at_ms``: epoch milliseconds)."""

    agent: str
    signed_at_ms: int
    signed_by: str
    card_hash: str
    card: str
    catalog: str
    recorded_by: str
    prev_hash: str
    entry_hash: str

    @property
    def signed_at(self) -> str:
        """ISO 8601, UTC, milliseconds."""
        seconds, millis = divmod(self.signed_at_ms, 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"

    def to_json(self, *, with_card: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["signed_at"] = self.signed_at
        if not with_card:
            del data["card"]
        return data

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Signoff:
        return cls(str(row[0]), int(row[1]), *(str(v) for v in row[2:9]))


def entry_hash(
    *,
    agent: str,
    signed_at_ms: int,
    signed_by: str,
    card_hash: str,
    recorded_by: str,
    prev_hash: str,
) -> str:
    """The hash that seals one sign-off and links it to the agent's previous one."""
    text = "\n".join(
        (
            "agentaudit-signoff/v1",
            agent,
            str(signed_at_ms),
            signed_by,
            card_hash,
            recorded_by,
            prev_hash,
        )
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def check_signed_card(agent: str, card_hash: str, card: str) -> str:
    """Validate a card sent for signing: ``card`` is the canonical JSON whose SHA-256 is
    ``card_hash`` and it names ``agent``. Returns the canonical agent id."""
    canonical = canonical_id(agent)
    if canonical is None:
        raise SignoffError(f"{agent!r} is not an agent id (printable ASCII)")
    if len(card.encode()) > MAX_CARD_BYTES:
        raise SignoffError("the card is too large")
    digest = "sha256:" + hashlib.sha256(card.encode()).hexdigest()
    if digest != card_hash:
        raise SignoffError("card_hash is not the SHA-256 of card")
    try:
        content = json.loads(card)
    except ValueError:
        raise SignoffError("card is not JSON") from None
    if not isinstance(content, dict) or canonical_id(str(content.get("agent", ""))) != canonical:
        raise SignoffError(f"the card is not {canonical}'s")
    return canonical


def _signer(signed_by: str) -> str:
    signer = signed_by.strip()
    if not signer or len(signer) > MAX_SIGNER_CHARS or not signer.isprintable():
        raise SignoffError(f"--by must name who signs: 1-{MAX_SIGNER_CHARS} printable characters")
    return signer


def signoff_history(source: Source, agent: str, *, limit: int = 100) -> list[Signoff]:
    """The agent's sign-offs, newest first."""
    canonical = canonical_id(agent) or agent
    rows = source.rows(
        f"SELECT {_COLUMNS} FROM agentaudit.card_signoffs WHERE agent = {quote_string(canonical)} "
        f"ORDER BY signed_at DESC, entry_hash LIMIT {int(limit)}"
    )
    return [Signoff.from_row(r) for r in rows]


def newest_signoff(source: Source, agent: str) -> Signoff | None:
    """The agent's newest sign-off, or None."""
    found = signoff_history(source, agent, limit=1)
    return found[0] if found else None


class SignoffLog:
    """Appends sign-offs to a store this process holds; thread-safe within the process."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()

    def record(
        self,
        agent: str,
        *,
        signed_by: str,
        card_hash: str,
        card: str,
        recorded_by: str,
        catalog: str = "",
    ) -> Signoff:
        """Check and append one sign-off; returns it. SignoffError when it is refused."""
        canonical = check_signed_card(agent, card_hash, card)
        signer = _signer(signed_by)
        from agentaudit.catalog.observed import StoreSource

        with self._lock:
            previous = newest_signoff(StoreSource(self._store), canonical)
            now_ms = round(self._clock() * 1000)
            if previous is not None:
                now_ms = max(now_ms, previous.signed_at_ms + 1)
            prev_hash = previous.entry_hash if previous else ""
            sealed = entry_hash(
                agent=canonical,
                signed_at_ms=now_ms,
                signed_by=signer,
                card_hash=card_hash,
                recorded_by=recorded_by,
                prev_hash=prev_hash,
            )
            signoff = Signoff(
                canonical,
                now_ms,
                signer,
                card_hash,
                card,
                catalog[:1000],
                recorded_by,
                prev_hash,
                sealed,
            )
            self._store.command(
                "INSERT INTO agentaudit.card_signoffs (agent, signed_at, signed_by, card_hash, "
                "card, catalog, recorded_by, prev_hash, entry_hash) VALUES ({agent:String}, "
                "fromUnixTimestamp64Milli({at:Int64}), {by:String}, {hash:String}, "
                "{card:String}, {catalog:String}, {recorded:String}, {prev:String}, "
                "{entry:String})",
                {
                    "agent": signoff.agent,
                    "at": signoff.signed_at_ms,
                    "by": signoff.signed_by,
                    "hash": signoff.card_hash,
                    "card": signoff.card,
                    "catalog": signoff.catalog,
                    "recorded": signoff.recorded_by,
                    "prev": signoff.prev_hash,
                    "entry": signoff.entry_hash,
                },
            )
        return signoff


def verify_signoffs(source: Source) -> list[str]:
    """Walk every agent's sign-offs: one line per row altered (its seal or its card
    hash does not verify), missing from the chain, or linked twice. Empty when intact."""
    rows = source.rows(
        f"SELECT {_COLUMNS} FROM agentaudit.card_signoffs ORDER BY agent, signed_at, entry_hash"
    )
    problems: list[str] = []
    by_agent: dict[str, list[Signoff]] = {}
    for row in rows:
        signoff = Signoff.from_row(row)
        by_agent.setdefault(signoff.agent, []).append(signoff)
    for agent, signoffs in sorted(by_agent.items()):
        expected_prev = ""
        for signoff in signoffs:
            where = f"card sign-off of {agent} at {signoff.signed_at} by {signoff.signed_by!r}"
            sealed = entry_hash(
                agent=signoff.agent,
                signed_at_ms=signoff.signed_at_ms,
                signed_by=signoff.signed_by,
                card_hash=signoff.card_hash,
                recorded_by=signoff.recorded_by,
                prev_hash=signoff.prev_hash,
            )
            if sealed != signoff.entry_hash:
                problems.append(f"{where}: the row was altered (its seal does not verify)")
            elif "sha256:" + hashlib.sha256(signoff.card.encode()).hexdigest() != signoff.card_hash:
                problems.append(f"{where}: the signed card was altered")
            if signoff.prev_hash != expected_prev:
                problems.append(
                    f"{where}: does not follow the previous sign-off (one was deleted or inserted)"
                )
            expected_prev = signoff.entry_hash
    return problems
