"""The provenance context: nesting, decorator form, threads and asyncio without leaks."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import baggage

import agentaudit
from agentaudit.instrumentation import looks_like_secret
from agentaudit.schema import attributes as A

from .conftest import Spans


@agentaudit.audited_tool
def whoami(tag: str) -> str:
    return tag


def _identity(spans: Spans) -> dict[str, tuple[object, object, object]]:
    found = {}
    for span in spans.tools():
        attrs = span.attributes or {}
        found[str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS])] = (
            attrs.get(A.ENDUSER_ID),
            attrs.get(A.SESSION_ID),
            attrs.get(A.GEN_AI_AGENT_ID),
        )
    return found


def test_nesting_inner_wins_per_key_and_restores(spans: Spans) -> None:
    with agentaudit.context(agent="outer-agent", user="alice", session="s1", conversation="c1"):
        with agentaudit.context(user="bob", agent_name="Bob's helper"):
            whoami("inner")
        whoami("outer")
    whoami("none")
    inner, outer, none = spans.tools()
    inner_attrs, outer_attrs, none_attrs = (s.attributes or {} for s in (inner, outer, none))
    assert inner_attrs[A.ENDUSER_ID] == "bob"
    assert inner_attrs[A.SESSION_ID] == "s1"
    assert inner_attrs[A.GEN_AI_AGENT_ID] == "outer-agent"
    assert inner_attrs[A.GEN_AI_AGENT_NAME] == "Bob's helper"
    assert inner_attrs[A.GEN_AI_CONVERSATION_ID] == "c1"
    assert outer_attrs[A.ENDUSER_ID] == "alice"
    assert outer_attrs[A.GEN_AI_AGENT_NAME] == "outer-agent"
    assert A.ENDUSER_ID not in none_attrs
    assert A.SESSION_ID not in none_attrs


def test_context_as_decorator_sync_and_async(spans: Spans) -> None:
    @agentaudit.context(agent="deco", user="u1", session="s-deco")
    def run() -> str:
        return whoami("sync")

    @agentaudit.context(agent="deco", user="u2", session="s-deco-async")
    async def run_async() -> str:
        await asyncio.sleep(0)
        return whoami("async")

    assert run() == "sync"
    assert asyncio.run(run_async()) == "async"
    identity = _identity(spans)
    assert identity['{"tag":"sync"}'] == ("u1", "s-deco", "deco")
    assert identity['{"tag":"async"}'] == ("u2", "s-deco-async", "deco")


def test_context_puts_identity_in_baggage() -> None:
    with agentaudit.context(agent="a1", user="u1", session="s1"):
        assert baggage.get_baggage(A.BAGGAGE_USER) == "u1"
        assert baggage.get_baggage(A.BAGGAGE_SESSION) == "s1"
        assert baggage.get_baggage(A.BAGGAGE_AGENT) == "a1"
    assert baggage.get_baggage(A.BAGGAGE_USER) is None


def test_concurrent_threads_never_see_each_others_context(spans: Spans) -> None:
    barrier = threading.Barrier(8)

    def session(index: int) -> None:
        with agentaudit.context(agent=f"agent-{index}", user=f"user-{index}", session=f"s-{index}"):
            barrier.wait(timeout=30)
            for step in range(25):
                whoami(f"{index}:{step}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(session, range(8)))
    identity = _identity(spans)
    assert len(identity) == 200
    for tag, (user, sess, agent) in identity.items():
        index = tag.split('"')[3].split(":")[0]
        assert (user, sess, agent) == (f"user-{index}", f"s-{index}", f"agent-{index}")


def test_thread_with_copied_context_inherits_it(spans: Spans) -> None:
    with agentaudit.context(agent="a", user="u", session="s"):
        ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(whoami, "copied"))
    thread.start()
    thread.join(timeout=30)
    assert _identity(spans)['{"tag":"copied"}'] == ("u", "s", "a")


def test_concurrent_asyncio_tasks_keep_their_own_context_and_prompt(spans: Spans) -> None:
    async def session(index: int) -> None:
        with agentaudit.context(agent="bot", user=f"user-{index}", session=f"s-{index}"):
            agentaudit.record_prompt([{"role": "user", "content": f"task {index}"}])
            for step in range(10):
                await asyncio.sleep(0)
                whoami(f"{index}:{step}")

    async def main() -> None:
        await asyncio.gather(*(session(i) for i in range(10)))

    asyncio.run(main())
    prompts = {
        (s.attributes or {})[A.SESSION_ID]: (s.attributes or {})[A.PROMPT_HASH]
        for s in spans.chats()
    }
    assert len(set(prompts.values())) == 10
    for span in spans.tools():
        attrs = span.attributes or {}
        index = str(attrs[A.GEN_AI_TOOL_CALL_ARGUMENTS]).split('"')[3].split(":")[0]
        assert attrs[A.ENDUSER_ID] == f"user-{index}"
        assert attrs[A.PROMPT_HASH] == prompts[f"s-{index}"]


def test_approval_and_credential_scope_and_validation(spans: Spans) -> None:
    with agentaudit.approval("policy:low-risk", status="policy"):
        whoami("policy")
    with agentaudit.credential(id="jti-123", scopes="mail.read mail.send"):
        whoami("cred")
    whoami("plain")
    policy, cred, plain = (s.attributes or {} for s in spans.tools())
    assert (policy[A.APPROVAL_STATUS], policy[A.APPROVAL_APPROVER]) == ("policy", "policy:low-risk")
    assert cred[A.CREDENTIAL_SCOPES] == ("mail.read", "mail.send")
    assert plain[A.APPROVAL_STATUS] == "none"
    assert A.CREDENTIAL_ID not in plain
    with pytest.raises(ValueError, match="status"):
        agentaudit.approval("x", status="maybe")
    with pytest.raises(ValueError, match="approver"):
        agentaudit.approval(None)
    with pytest.raises(ValueError, match="must be a non-empty string"):
        agentaudit.context(user="")


@pytest.mark.parametrize(
    "secret",
    [
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "sk-proj-4f9aK2lLm0QzX8vB7nC6dE5fG4hJ3kL2",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "hvs.CAESIJ3kx8aZ2kqL0pQ7mN5vB6cX1zY4wE9r",
        "Bearer abc.def",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "Zx8Qp2Lm9Rt4Vw7Yb3Nc6Hd1Kf5Jg0Ps2Ua8Ee4Io",
    ],
)
def test_credential_refuses_secret_tokens(secret: str) -> None:
    assert looks_like_secret(secret)
    with pytest.raises(ValueError, match="looks like a secret"):
        agentaudit.credential(id=secret)


@pytest.mark.parametrize(
    "ident",
    [
        "cred-42",
        "3f2b8c1e-9d4a-4b7e-8f6a-1c2d3e4f5a6b",
        "AKIAIOSFODNN7EXAMPLE",
        "vault:accessor:0a1b2c3d",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "spiffe://example.org/agent/mail",
    ],
)
def test_credential_accepts_identifiers(ident: str) -> None:
    assert not looks_like_secret(ident)
    agentaudit.credential(id=ident)
