"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("agno >= 3.1, < 4",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("agno", (3, 1), (4,))
"""What ``instrument()`` checks before adding the hook and wrapping the model calls
(3.0 does not await what a sync tool hook returns in an async run)."""
