"""Framework integration test environments.

Agent frameworks conflict with one another (crewai pins ``mcp<2`` and an older
pydantic), so their integration tests run in environments of their own, each installing
agentaudit with the framework's extra (which declares the tested range). Each
integration is tested at the newest release ("main", "crewai") and at the lower end of
its declared range ("oldest", "crewai-oldest"). Google ADK, Agno and AutoGen AgentChat
are tested in "main" and at their lower ends in "adk-agno-autogen-oldest"; Strands
Agents in "strands" and "strands-oldest". ``make test`` runs every session after the
main suite. ``uv`` builds the environments when present.
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
            "google-adk",
            "agno",
            "autogen",
        ],
        [
            "mcp",
            "langchain",
            "openai_agents",
            "pydantic_ai",
            "llama_index",
            "smolagents",
            "peers",
            "google_adk",
            "agno",
            "autogen",
            "test_startup.py",
        ],
        [],
    ),
    # crewai pins mcp 1.x: the MCP integration's version gate (stays off) is checked here.
    "crewai": (["fwtest", "crewai"], ["crewai", "mcp/test_version_gate.py"], []),
    # The lower end of every declared range (package.py `_supported`), in one environment
    # (MCP is tested at mcp 2.x in "main" only). openai 2.36 is the release of the time of
    # openai-agents 0.17.0, which breaks with later openai 2.x (a required usage field).
    "oldest": (
        ["fwtest", "langchain", "openai-agents", "pydantic-ai", "llama-index", "smolagents"],
        ["langchain", "openai_agents", "pydantic_ai", "llama_index", "smolagents"],
        [
            "langchain-core==0.3.*",
            "langgraph==0.3.*",
            "openai-agents==0.17.0",
            "openai==2.36.0",
            "pydantic-ai-slim==2.28.0",
            "llama-index-core==0.14.20",
            "smolagents==1.24.0",
        ],
    ),
    # strands-agents pins mcp<2.2, which would move the "main" group's mcp (2.3) back.
    "strands": (["fwtest", "strands"], ["strands"], []),
    "strands-oldest": (["fwtest", "strands"], ["strands"], ["strands-agents==1.40.0"]),
    # The lower ends of Google ADK, Agno and AutoGen AgentChat: google-adk 2.5 caps
    # opentelemetry-sdk at 1.41, which the peers' instrumentations of "oldest" cannot share.
    "adk-agno-autogen-oldest": (
        ["fwtest", "google-adk", "agno", "autogen"],
        ["google_adk", "agno", "autogen"],
        ["google-adk==2.5.0", "agno==3.1.0", "autogen-agentchat==0.7.0"],
    ),
    # crewai 1.14 pins pydantic<2.12, which the oldest openai-agents cannot share.
    "crewai-oldest": (["fwtest", "crewai"], ["crewai"], ["crewai==1.14.1"]),
}


@nox.session(name="frameworks")
@nox.parametrize("group", list(GROUPS))
def frameworks(session: nox.Session, group: str) -> None:
    """Run the framework integration tests of one compatible group of frameworks."""
    extras, folders, pins = GROUPS[group]
    session.install("-e", f".[{','.join(extras)}]", *pins)
    paths = [f"tests/frameworks/{name}" for name in folders]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *paths, *session.posargs)
