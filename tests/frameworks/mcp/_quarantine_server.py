"""An MCP server subprocess that enforces quarantine on its side too (for the tests).

``python -m tests.frameworks.mcp._quarantine_server SPANS_FILE`` over stdio: the test
server of ``_server_app`` plus the quarantine guard installed from the environment
(``AGENTAUDIT_API_URL``, ``AGENTAUDIT_TOKEN``, ``AGENTAUDIT_QUARANTINE_INTERVAL``). The
guard checks the *caller's* agent, user and session, which the MCP integration reads
from the request ``_meta``.
"""

from __future__ import annotations

import sys

from agentaudit.instrumentation import _quarantine
from tests.frameworks.mcp._server_app import build


def main(argv: list[str]) -> int:
    server = build(argv[1])
    if _quarantine.install() is None:
        print("the quarantine guard did not install", file=sys.stderr)
        return 1
    server.run("stdio")  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
