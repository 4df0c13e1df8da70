"""An instrumented agent process for ``test_revocation.py``: a tool call every 0.2 s.

``python _revocation_agent.py AGENT MAX_ROUNDS``. Instrumented by ``import agentaudit.auto``
only (which installs the quarantine guard). Each round calls ``read_status`` (no
credential: only the quarantine guard can stop it) and ``send_report``, which gets a
just-in-time credential (hook registered here in code) and checks it the way a tool
server would: EdDSA signature against the admin API's JWKS and the live deny-list.
Prints one line per call, ``<ok|blocked|error> <tool> <round> <unix time> <detail>``;
stops after three blocked ``read_status`` calls.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from opentelemetry import trace

import agentaudit
import agentaudit.auto
from agentaudit.broker import CredentialClient, HttpDenyListSource, Verifier, fetch_jwks
from agentaudit.instrumentation._jit import JitCredentials, JitTool, current_credential
from agentaudit.instrumentation._runtime import add_before_tool_call

API = os.environ["AGENTAUDIT_API_URL"]
TOOL = "send_report"
verifier = Verifier(
    fetch_jwks(API), denylist=HttpDenyListSource(API, token=os.environ["AGENTAUDIT_TOKEN"])
)


@agentaudit.audited_tool(name=TOOL, resource="report:{name}")
def send_report(name: str) -> str:
    credential = current_credential()
    if credential is None:
        raise PermissionError("401: the tool server needs a credential")
    claims = verifier.verify(credential.token, tool=TOOL, resource=f"report:{name}")
    return claims.id


@agentaudit.audited_tool
def read_status() -> str:
    return "green"


def _call(tool: Callable[..., str], index: int, *args: str) -> bool:
    """Run one call and print its line; True when the agent refused it as quarantined."""
    name = tool.__name__
    try:
        detail = tool(*args)
    except agentaudit.AgentQuarantined as exc:
        line, blocked = (
            f"blocked {name} {index} {time.time():.3f} {type(exc).__name__}: {exc}",
            True,
        )
    except Exception as exc:
        line, blocked = f"error {name} {index} {time.time():.3f} {type(exc).__name__}: {exc}", False
    else:
        line, blocked = f"ok {name} {index} {time.time():.3f} {detail}", False
    print(line, flush=True)
    return blocked


def main() -> int:
    agent, max_rounds = sys.argv[1], int(sys.argv[2])
    add_before_tool_call(JitCredentials(CredentialClient(), tools={TOOL: JitTool()}))
    blocked = 0
    with agentaudit.context(agent=agent, user="alice", session="sess-revocation"):
        for index in range(max_rounds):
            blocked += _call(read_status, index)
            if blocked >= 3:
                break
            _call(send_report, index, f"q{index}")
            time.sleep(0.2)
    return 0 if trace.get_tracer_provider().force_flush(10_000) else 1  # type: ignore[attr-defined]


if __name__ == "__main__":
    raise SystemExit(main())
