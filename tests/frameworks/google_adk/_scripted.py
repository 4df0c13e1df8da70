"""A scripted ADK model (a ``BaseLlm`` subclass, ADK's custom-model extension point) and
helpers to run an ``LlmAgent`` on an ``InMemoryRunner`` without any network."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncGenerator, Callable
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.events import Event
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import InMemoryRunner
from google.genai import types
from pydantic import Field

APP = "support-app"

Turn = Callable[[int, LlmRequest], LlmResponse]


def call(call_id: str, name: str, arguments: dict[str, Any]) -> LlmResponse:
    """A model response asking for one function call."""
    return LlmResponse(
        content=types.Content(
            role="model",
            parts=[
                types.Part(function_call=types.FunctionCall(id=call_id, name=name, args=arguments))
            ],
        )
    )


def text(reply: str) -> LlmResponse:
    return LlmResponse(content=types.Content(role="model", parts=[types.Part(text=reply)]))


def received(llm_request: LlmRequest) -> dict[str, Any]:
    """What the model received, in plain JSON: the system instruction and the contents
    as given (the form docs/frameworks.md names), recorded by the model itself."""
    found: dict[str, Any] = {}
    system = llm_request.config.system_instruction if llm_request.config else None
    if system is not None:
        found["system_instruction"] = (
            system if isinstance(system, str) else system.model_dump(mode="json", exclude_none=True)  # type: ignore[union-attr]
        )
    found["contents"] = [c.model_dump(mode="json", exclude_none=True) for c in llm_request.contents]
    return copy.deepcopy(found)


class ScriptedLlm(BaseLlm):
    """Replies from a script of responses (the last repeats); records every request."""

    replies: list[LlmResponse] = Field(default_factory=list)
    seen: list[dict[str, Any]] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.seen.append(received(llm_request))
        yield self.replies[min(len(self.seen), len(self.replies)) - 1]


async def run_async(
    agent: LlmAgent,
    text_in: str,
    *,
    user: str = "carol",
    session: str = "adk-session-1",
    runner: InMemoryRunner | None = None,
    message: types.Content | None = None,
) -> list[Event]:
    """One turn of ``agent`` on an in-memory runner; returns the events."""
    runner = runner or InMemoryRunner(agent=agent, app_name=APP)
    service = runner.session_service
    if await service.get_session(app_name=APP, user_id=user, session_id=session) is None:
        await service.create_session(app_name=APP, user_id=user, session_id=session)
    new_message = message or types.Content(role="user", parts=[types.Part(text=text_in)])
    return [
        event
        async for event in runner.run_async(
            user_id=user, session_id=session, new_message=new_message
        )
    ]


def run(agent: LlmAgent, text_in: str, **kwargs: Any) -> list[Event]:
    return asyncio.run(run_async(agent, text_in, **kwargs))


def function_responses(events: list[Event]) -> dict[str, Any]:
    """Function call id -> the response ADK handed back to the model."""
    found: dict[str, Any] = {}
    for event in events:
        for response in event.get_function_responses():
            found[str(response.id)] = response.response
    return found
