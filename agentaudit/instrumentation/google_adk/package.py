"""The distribution this integration instruments and its tested range (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("google-adk >= 2.5, < 3",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("google-adk", (2, 5), (3,))
"""What ``instrument()`` checks before adding the plugin (2.5 added the public
``BaseTool.check_require_confirmation`` the plugin asks before a call runs)."""
