"""Registered sources and fresh prompts, deterministic for a seed.

Text is drawn from one word vocabulary, so sources and prompts share words (as real
emails and conversations do) but a source is only in a prompt when it was put there.
Every message of every prompt starts with the step number: each step's prompt is new,
so no part of it was seen (or cached) before. Sources and messages carry no character
that JSON escapes, so a source is a substring of the prompt's canonical JSON too.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["Workload"]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SOURCE_CHARS = 320
"""Characters per registered source (an email of a few sentences)."""
MESSAGE_CHARS = 2_000
"""Characters per message: bigger prompts are longer conversations."""


def _vocabulary(rng: random.Random, size: int = 4_000) -> list[str]:
    return ["".join(rng.choices(_LETTERS, k=rng.randint(2, 10))) for _ in range(size)]


def _text(rng: random.Random, words: list[str], chars: int) -> str:
    out: list[str] = []
    length = 0
    while length < chars:
        sentence = " ".join(rng.choices(words, k=rng.randint(6, 14))).capitalize() + ". "
        out.append(sentence)
        length += len(sentence)
    return "".join(out)[:chars]


class Workload:
    """``count`` registered sources and prompts of ``prompt_chars`` holding source 0."""

    def __init__(self, prompt_chars: int, count: int, seed: int = 15) -> None:
        rng = random.Random(seed)
        words = _vocabulary(rng)
        self.sources = [
            f"From: sender-{index}@example.com. " + _text(rng, words, SOURCE_CHARS)
            for index in range(count)
        ]
        bodies = []
        remaining = prompt_chars
        while remaining > 0:
            size = min(MESSAGE_CHARS, remaining)
            bodies.append(_text(rng, words, size))
            remaining -= size
        head = bodies[0][: max(0, len(bodies[0]) - SOURCE_CHARS - 40)]
        bodies[0] = head + " Handle this email: " + self.sources[0]
        self._system = _text(rng, words, 200)
        self._bodies = bodies

    def prompt(self, step: int) -> list[dict[str, Any]]:
        """A prompt that no earlier step produced: every message starts with ``step``."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": f"{step} {self._system}"}]
        for index, body in enumerate(self._bodies):
            role = "user" if index % 2 == 0 else "assistant"
            messages.append({"role": role, "content": f"{step} {body}"})
        return messages
