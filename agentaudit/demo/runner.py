"""Choosing how the demo runs: real framework agents when installed, else the plain agent.

* The incident (``mail-assistant`` for ``bob``) runs on LangGraph when ``langchain-core``
  and ``langgraph`` are importable and the LangChain integration is on.
* The calendar sessions (``calendar-assistant`` for ``alice`` and ``carol``) run on
  LangGraph with their tools on an MCP server subprocess over stdio when, in addition,
  ``mcp`` is importable and the MCP integration is on.
* Otherwise each runs on the plain scripted agent (:mod:`.scenario`).

Each run prints one line saying which implementation it used. A framework run that fails
is reported and not repeated on the plain agent (its rows may already be exported).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import time
from collections.abc import Callable

from agentaudit import configure
from agentaudit.demo import data, scenario

__all__ = ["available", "run_all"]

log = logging.getLogger("agentaudit.demo")


def _importable(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None for name in modules)
    except (ImportError, ValueError):
        return False


def _integration_on(name: str, framework_modules: tuple[str, ...]) -> bool:
    if not _importable(*framework_modules):
        return False
    for module in framework_modules:
        importlib.import_module(module)  # post-import hooks instrument it now
    integration = importlib.import_module(f"agentaudit.instrumentation.{name}")
    return bool(integration.instrumented())


def available() -> dict[str, bool]:
    """Which framework integrations the demo can drive in this environment."""
    langgraph = _integration_on("langchain", ("langchain_core", "langgraph.prebuilt"))
    mcp = langgraph and _integration_on("mcp", ("mcp",))
    return {"langgraph": langgraph, "mcp": mcp}


def _run(label: str, action: Callable[[], None]) -> bool:
    try:
        action()
    except Exception:
        log.exception("agentaudit demo: %s failed", label)
        print(f"agentaudit demo: {label}: FAILED (see the log above)", flush=True)
        return False
    print(f"agentaudit demo: {label}", flush=True)
    return True


def _plain_calendar() -> None:
    for user, session in data.CALENDAR_SESSIONS:
        scenario.run_calendar_session(user, session)


def run_all(pause: float = 0.0) -> bool:
    """Run every demo session once; False when one of them failed."""
    configure(tools=data.TOOL_RESOURCES)
    frameworks = available()
    ok = True
    if frameworks["mcp"]:
        from agentaudit.demo._mcp_calendar import run_calendar_sessions

        ok &= _run(
            "calendar sessions ran on LangGraph with tools on an MCP server over stdio",
            lambda: asyncio.run(run_calendar_sessions()),
        )
    else:
        ok &= _run(
            "calendar sessions ran on the plain scripted agent "
            "(LangGraph + MCP need agentaudit[langchain,mcp] and their integrations on)",
            _plain_calendar,
        )
    time.sleep(pause)
    if frameworks["langgraph"]:
        from agentaudit.demo._langgraph_mail import run_incident

        ok &= _run("incident ran on a LangGraph ReAct agent (scripted model)", run_incident)
    else:
        ok &= _run(
            "incident ran on the plain scripted agent "
            "(LangGraph needs agentaudit[langchain] and its integration on)",
            scenario.run_incident,
        )
    return ok
