"""A real MCP server for the SDK's MCP tools test: ``python -m ...openai_agents._mcp_server``.

Serves ``read_inbox`` over stdio (uninstrumented: the test audits the agent's side).
"""

from __future__ import annotations

from tests.frameworks.openai_agents._scripted import email_text


def main() -> None:
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:  # mcp 1.x (next to the oldest openai-agents)
        from mcp.server.fastmcp import FastMCP as MCPServer  # type: ignore[no-redef]

    server = MCPServer("mailbox")

    @server.tool()
    def read_inbox(folder: str = "inbox") -> str:
        """Read the newest message of a mail folder."""
        return email_text(folder)

    server.run("stdio")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
