"""A scripted Agno model (a ``agno.models.base.Model`` subclass, Agno's custom-model
extension point): replies from a script, records what it received. No network."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from agno.models.base import Model
from agno.models.message import Message
from agno.models.response import ModelResponse


def call(call_id: str, name: str, arguments: dict[str, Any]) -> ModelResponse:
    """A model response asking for one tool call."""
    return ModelResponse(
        role="assistant",
        tool_calls=[
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    )


def text(reply: str) -> ModelResponse:
    return ModelResponse(role="assistant", content=reply)


def received(messages: list[Message]) -> list[dict[str, Any]]:
    """What the model received, in plain JSON (the form docs/frameworks.md names):
    each message's role and content, and its tool calls, tool call id and name if set."""
    found = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            item["tool_calls"] = message.tool_calls
        if message.tool_call_id:
            item["tool_call_id"] = message.tool_call_id
        if message.name:
            item["name"] = message.name
        found.append(json.loads(json.dumps(item)))
    return found


@dataclass
class ScriptedModel(Model):
    """Replies from a script (the last repeats); ``seen`` holds what each call received."""

    id: str = "gateway-1"
    name: str = "ScriptedModel"
    provider: str = "scripted"
    replies: list[ModelResponse] = field(default_factory=list)
    seen: list[list[dict[str, Any]]] = field(default_factory=list)

    def _next(self, messages: list[Message]) -> ModelResponse:
        self.seen.append(received(messages))
        return self.replies[min(len(self.seen), len(self.replies)) - 1]

    def invoke(self, messages: list[Message], *args: Any, **kwargs: Any) -> ModelResponse:
        return self._next(messages)

    async def ainvoke(self, messages: list[Message], *args: Any, **kwargs: Any) -> ModelResponse:
        return self._next(messages)

    def invoke_stream(
        self, messages: list[Message], *args: Any, **kwargs: Any
    ) -> Iterator[ModelResponse]:
        yield self._next(messages)

    async def ainvoke_stream(
        self, messages: list[Message], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ModelResponse]:
        yield self._next(messages)

    def _parse_provider_response(self, response: Any, **kwargs: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]
