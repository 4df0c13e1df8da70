"""A scripted AutoGen model client (a ``ChatCompletionClient`` subclass, AutoGen's
custom-model extension point): replies from a script, records what it received."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from autogen_core import FunctionCall
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)

_USAGE = RequestUsage(prompt_tokens=0, completion_tokens=0)


def call(call_id: str, name: str, arguments: dict[str, Any]) -> CreateResult:
    """A model result asking for one tool call."""
    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id=call_id, name=name, arguments=json.dumps(arguments))],
        usage=_USAGE,
        cached=False,
    )


def text(reply: str) -> CreateResult:
    return CreateResult(finish_reason="stop", content=reply, usage=_USAGE, cached=False)


class ScriptedClient(ChatCompletionClient):
    """Replies from a script (the last repeats); ``seen`` holds what each call received,
    each message as ``model_dump(mode="json")``."""

    def __init__(self, replies: list[CreateResult]) -> None:
        self.replies = replies
        self.seen: list[list[dict[str, Any]]] = []

    async def create(
        self, messages: Sequence[LLMMessage], *args: Any, **kwargs: Any
    ) -> CreateResult:
        self.seen.append(copy.deepcopy([m.model_dump(mode="json") for m in messages]))
        return self.replies[min(len(self.seen), len(self.replies)) - 1]

    async def create_stream(  # type: ignore[override]
        self, messages: Sequence[LLMMessage], *args: Any, **kwargs: Any
    ) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return _USAGE

    def total_usage(self) -> RequestUsage:
        return _USAGE

    def count_tokens(self, messages: Sequence[LLMMessage], **kwargs: Any) -> int:
        return 0

    def remaining_tokens(self, messages: Sequence[LLMMessage], **kwargs: Any) -> int:
        return 100_000

    @property
    def capabilities(self) -> Any:
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=False,
            function_calling=True,
            json_output=False,
            family=ModelFamily.UNKNOWN,
            structured_output=False,
        )
