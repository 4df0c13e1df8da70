"""SIEM export: the chained audit rows as OCSF events, at least once, with a checkpoint.

* :mod:`~agentaudit.export.ocsf` — tool calls as API Activity (AI Operation profile),
  revocations as Entity Management, findings as Detection Finding; each event carries its
  place in the chain (batch or seal, link number and hash, row hash);
* :mod:`~agentaudit.export.sinks` — a JSON-lines file (exactly once with the checkpoint)
  and a Splunk-HEC-compatible HTTP sink (at least once);
* :mod:`~agentaudit.export.exporter` — follows the chains, sends unit by unit, saves the
  checkpoint after each; ``[export]`` in the config file runs it inside the collector
  after every seal, ``agentaudit export --ocsf --since …`` runs it for a backfill.

Docs: docs/evidence.md ("SIEM export").
"""

from __future__ import annotations

from agentaudit.export.exporter import SOURCES, Checkpoint, Exporter, build_exporter
from agentaudit.export.ocsf import (
    OCSF_VERSION,
    Position,
    finding_event,
    revocation_event,
    tool_call_event,
)
from agentaudit.export.sinks import EventSink, ExportError, FileSink, HecSink

__all__ = [
    "OCSF_VERSION",
    "SOURCES",
    "Checkpoint",
    "EventSink",
    "ExportError",
    "Exporter",
    "FileSink",
    "HecSink",
    "Position",
    "build_exporter",
    "finding_event",
    "revocation_event",
    "tool_call_event",
]
