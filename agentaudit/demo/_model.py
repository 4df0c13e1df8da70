"""A LangChain chat model that answers with a script (tool calls included); no network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

__all__ = ["ScriptedChatModel", "tool_call"]


class ScriptedChatModel(BaseChatModel):  # type: ignore[misc,unused-ignore]
    """Replies with ``replies`` in order, whatever the input (a stand-in for an LLM)."""

    replies: list[AIMessage]
    model: str = "scripted-demo-model"
    index: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model}

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.index >= len(self.replies):
            raise RuntimeError("the scripted model ran out of replies")
        reply = self.replies[self.index]
        self.index += 1
        return ChatResult(generations=[ChatGeneration(message=reply)])


def tool_call(name: str, args: dict[str, Any], call_id: str, text: str = "") -> AIMessage:
    """An assistant message that calls one tool."""
    return AIMessage(text, tool_calls=[{"name": name, "args": args, "id": call_id}])
