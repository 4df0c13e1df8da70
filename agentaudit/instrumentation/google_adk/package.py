"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("google-adk >= 1.35, < 3",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("google-adk", (1, 35), (3,))
"""What ``instrument()`` checks before adding the plugin: every release of the last six
months, on both lines (1.35.0 was the first, 2026-06-10; 2.x from 2.3.0), and 2.0-2.2
between them. The public ``BaseTool.check_require_confirmation`` the plugin asks before
a call runs came with 2.5 (and 1.38); before it, ``_plugin`` asks the tool's own
``require_confirmation`` setting."""
