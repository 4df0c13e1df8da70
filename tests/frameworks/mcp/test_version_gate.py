"""The version gate against whatever mcp is really installed.

The integration turns on for mcp 1.28 and later, 1.x and 2.x: in the main framework
environment (mcp 2.x), in the crewai environment (crewai pins mcp 1.x) and in
"mcp-oldest" (1.28). Outside that range it must stay off with one warning and leave the
SDK untouched. Imports nothing that exists only in one major version.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

import pytest

from agentaudit.instrumentation import _version_check, instrument
from agentaudit.instrumentation import mcp as integration
from agentaudit.instrumentation.mcp.package import _supported

mcp_session = pytest.importorskip("mcp.client.session")


def test_the_installed_mcp_is_instrumented_exactly_when_supported(
    provider: Any, caplog: pytest.LogCaptureFixture
) -> None:
    version = _version_check.parse_version(metadata.version("mcp"))
    supported = _supported[1] <= version < _supported[2]
    before = mcp_session.ClientSession.__dict__["call_tool"]
    _version_check.reset_warnings()
    caplog.set_level(logging.WARNING, logger="agentaudit.instrumentation")
    instrument(tracer_provider=provider, integrations=["mcp"])
    warnings = [r.getMessage() for r in caplog.records if "supported range" in r.getMessage()]
    assert integration.instrumented() is supported
    if supported:
        assert warnings == []
        assert mcp_session.ClientSession.__dict__["call_tool"] is not before
    else:
        assert len(warnings) == 1
        assert f"mcp {metadata.version('mcp')} is outside" in warnings[0]
        assert mcp_session.ClientSession.__dict__["call_tool"] is before
    _version_check.reset_warnings()
