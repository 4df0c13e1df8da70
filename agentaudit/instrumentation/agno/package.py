"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("agno >= 2.6.13, < 4",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("agno", (2, 6, 13), (4,))
"""What ``instrument()`` checks before adding the hook and wrapping the model calls:
every release of the last six months (2.6.13 was the first, 2026-06-10). Before 3.0.11
Agno does not await what a sync tool hook returns for an async tool: those get the
async hook (``_hooks.audit_tool_hook_async``)."""
