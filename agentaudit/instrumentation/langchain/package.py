"""The distributions this integration instruments and their tested ranges (data only)."""

from __future__ import annotations

from agentaudit.instrumentation._version_check import VersionRange

_instruments = ("langchain-core >= 0.3, < 2",)
"""Requirement strings, in the form ``opentelemetry-instrument`` reads."""

_supported: VersionRange = ("langchain-core", (0, 3), (2,))
"""What ``instrument()`` checks before registering its callback handler."""

_optional = ("langgraph >= 0.3, < 2",)
"""Used when present: LangGraph thread ids and interrupt/resume approvals."""
