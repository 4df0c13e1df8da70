"""Framework integration test environments.

Agent frameworks conflict with one another (crewai and strands-agents cap mcp below 2.x,
crewai pins an older pydantic, google-adk caps opentelemetry-sdk), so their integration
tests run in environments of their own, each installing agentaudit with the framework's
extra (which declares the tested range). Each integration is tested at the newest
release ("main", "crewai") and at the lower end of its declared range ("oldest",
"crewai-oldest"). Google ADK, Agno and AutoGen AgentChat are tested in "main" and at
their lower ends in "adk-agno-autogen-oldest"; Strands Agents in "strands" and
"strands-oldest". The MCP integration (mcp 1.28 up to 2.x) is tested on mcp 2.x in
"main", on the 1.x release crewai brings in "crewai" and on 1.28 in "mcp-oldest".
"together" installs every framework extra in one environment, unpinned, as users do,
and runs the injected-ticket scenario of every framework through a real collector into
the embedded store, then every integration's own tests. ``make test`` runs every session
after the main suite. ``uv`` builds the environments when present.
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
    # crewai pins mcp 1.x (1.30 today): the MCP integration is tested here on the mcp 1.x
    # release crewai brings (with LangGraph, which its credential and demo tests drive).
    "crewai": (["fwtest", "crewai", "mcp", "langchain"], ["crewai", "mcp"], []),
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
            "pydantic-ai-slim==1.107.0",
            "llama-index-core==0.14.20",
            "smolagents==1.24.0",
        ],
    ),
    # strands-agents pins mcp<2.2, which would move the "main" group's mcp (2.3) back.
    "strands": (["fwtest", "strands"], ["strands"], []),
    "strands-oldest": (["fwtest", "strands"], ["strands"], ["strands-agents==1.40.0"]),
    # The lower ends of Google ADK, Agno and AutoGen AgentChat (google-adk 1.35.0 and agno
    # 2.6.13: their first releases of the last six months): google-adk 1.35 caps
    # opentelemetry-sdk at 1.41, which the peers' instrumentations of "oldest" cannot share.
    "adk-agno-autogen-oldest": (
        ["fwtest", "google-adk", "agno", "autogen"],
        ["google_adk", "agno", "autogen"],
        ["google-adk==1.35.0", "agno==2.6.13", "autogen-agentchat==0.7.0"],
    ),
    # crewai 1.14 pins pydantic<2.12, which the oldest openai-agents cannot share.
    "crewai-oldest": (["fwtest", "crewai"], ["crewai"], ["crewai==1.14.1"]),
    # The MCP integration at the oldest supported 1.x release (package.py `_supported`).
    "mcp-oldest": (["fwtest", "mcp", "langchain"], ["mcp"], ["mcp==1.28.0"]),
    # Every framework in ONE environment, as the resolver picks them (no pins), as users
    # install them, plus the collector (its embedded store, chdb): the injected ticket on
    # each framework's agent through a real collector into the store (issue #14), and every
    # integration's own tests beside the others. The resolver picks mcp 1.x here (crewai
    # and strands-agents cap it) and protobuf 5.29 (autogen-core pins it).
    "together": (
        [
            "fwtest",
            "collector",
            "mcp",
            "langchain",
            "openai-agents",
            "pydantic-ai",
            "llama-index",
            "crewai",
            "smolagents",
            "google-adk",
            "strands",
            "agno",
            "autogen",
        ],
        [
            "together",
            "mcp",
            "langchain",
            "openai_agents",
            "pydantic_ai",
            "llama_index",
            "crewai",
            "smolagents",
            "google_adk",
            "strands",
            "agno",
            "autogen",
            "test_startup.py",
        ],
        [],
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
