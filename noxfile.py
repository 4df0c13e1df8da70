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

# session name -> (extras to install, test folders under tests/frameworks/)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "main": (
        ["fwtest", "mcp", "langchain", "openai-agents", "pydantic-ai", "llama-index",
         "smolagents", "peers"],
        ["mcp", "langchain", "openai_agents", "pydantic_ai", "llama_index", "smolagents",
         "peers"],
    ),
    "crewai": (["fwtest", "crewai"], ["crewai"]),
}


@nox.session(name="frameworks")
@nox.parametrize("group", list(GROUPS))
def frameworks(session: nox.Session, group: str) -> None:
    """Run the framework integration tests of one compatible group of frameworks."""
    extras, folders = GROUPS[group]
    session.install("-e", f".[{','.join(extras)}]")
    paths = [f"tests/frameworks/{name}" for name in folders]
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *paths, *session.posargs)
