"""Framework integration test environments.

Agent frameworks conflict with one another (crewai pins ``mcp<2`` and an older
pydantic), so their integration tests run in environments of their own, each installing
agentaudit with the framework's extra (which declares the tested range). ``make test``
runs every session after the main suite. ``uv`` builds the environments when present.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# group -> (extras to install, test paths under tests/frameworks/, version pins)
GROUPS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "main": (
        [
            "fwtest",
            "mcp",
            "langchain",
            "openai-agents",
            "pydantic-ai",
            "llama-index",
            "smolagents",
            "peers",
        ],
        ["mcp", "langchain", "openai_agents", "pydantic_ai", "llama_index", "smolagents", "peers"],
        [],
    ),
    # crewai pins mcp 1.x: the MCP integration's version gate (stays off) is checked here.
    "crewai": (["fwtest", "crewai"], ["crewai", "mcp/test_version_gate.py"], []),
    # The lower end of the declared LangChain/LangGraph range.
    "langchain-oldest": (
        ["fwtest", "langchain"],
        ["langchain"],
        ["langchain-core==0.3.*", "langgraph==0.3.*"],
    ),
}


@nox.session(name="frameworks")
@nox.parametrize("group", list(GROUPS))
def frameworks(session: nox.Session, group: str) -> None:
    """Run the framework integration tests of one compatible group of frameworks."""
    extras, folders, pins = GROUPS[group]
    session.install("-e", f".[{','.join(extras)}]", *pins)
    paths = [f"tests/frameworks/{name}" for name in folders]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *paths, *session.posargs)
