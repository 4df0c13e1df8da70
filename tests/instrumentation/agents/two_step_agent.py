"""The issue's two-step agent (see mail_agent.py) under ``import agentaudit.auto``."""

from __future__ import annotations

from mail_agent import main  # type: ignore[import-not-found]

import agentaudit.auto  # noqa: F401 - instruments this process, before the agent's imports

if __name__ == "__main__":
    main()
