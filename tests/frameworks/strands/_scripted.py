"""A scripted Strands model (a ``strands.models.Model`` subclass, Strands' custom-model
extension point): replies from a script, records what it received. No network."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncGenerator
from typing import Any

from strands.models import Model


def call(call_id: str, name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream events of a response asking for one tool call."""
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockStart": {"start": {"toolUse": {"toolUseId": call_id, "name": name}}}},
        {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(arguments)}}}},
        {"contentBlockStop": {}},
        {"messageStop": {"stopReason": "tool_use"}},
    ]


def text(reply: str) -> list[dict[str, Any]]:
    return [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockStart": {"start": {}}},
        {"contentBlockDelta": {"delta": {"text": reply}}},
        {"contentBlockStop": {}},
        {"messageStop": {"stopReason": "end_turn"}},
    ]


class ScriptedModel(Model):
    """Replies from a script (the last repeats); ``seen`` holds what each call received:
    the system prompt as a system message, then the messages as given."""

    def __init__(self, replies: list[list[dict[str, Any]]], model_id: str = "gateway-1") -> None:
        self.replies = replies
        self.config: dict[str, Any] = {"model_id": model_id}
        self.seen: list[list[Any]] = []

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> Any:
        return self.config

    def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def stream(
        self,
        messages: Any,
        tool_specs: Any = None,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        received = [{"role": "system", "content": system_prompt}] if system_prompt else []
        self.seen.append(copy.deepcopy([*received, *messages]))
        for event in self.replies[min(len(self.seen), len(self.replies)) - 1]:
            yield event
