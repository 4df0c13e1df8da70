"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("llama-index-core >= 0.14.20, < 0.15",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("llama-index-core", (0, 14, 20), (0, 15))
"""What ``instrument()`` checks before adding the handlers."""
