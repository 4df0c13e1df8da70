"""Evidence that holds up: every audit table chained, signed digests, retention with legal
holds, erasure that keeps the chain verifiable. Design: docs/evidence.md.

* :mod:`~agentaudit.store.evidence.seal` — the sealer: a hash chain over every audit table
  other than ``tool_calls`` (which the writer chains per batch,
  :mod:`agentaudit.store.audit_chain`);
* :mod:`~agentaudit.store.evidence.digests` — Ed25519-signed digests of the chain heads,
  kept outside the store;
* :mod:`~agentaudit.store.evidence.retention` — per-table TTLs that spare held rows, and the
  policy history expiry is judged by;
* :mod:`~agentaudit.store.evidence.holds` — legal holds and what they keep;
* :mod:`~agentaudit.store.evidence.erasure` — erasing one person's identifiers, recorded;
* :mod:`~agentaudit.store.evidence.verify` — ``agentaudit verify`` of all of it (read-only).

Import the submodules; this package only documents them (they load pyarrow).
"""

from __future__ import annotations
