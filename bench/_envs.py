"""A peer's own virtual environment, built once and reused (Phoenix, the LangChain peers).

A peer is installed from the package index into a virtual environment of its own under
``.bench/`` (gitignored), so its dependencies never meet the bench's: with ``uv venv`` /
``uv pip install`` when ``uv`` is installed (beside the running interpreter or on the
PATH), else — or when uv fails, e.g. cannot reach the index pip is configured for — with
``python -m venv`` and pip, with the interpreter running the bench. A stamp written after
a successful install (the requirements, the Python version and a caller's ``key``, e.g.
a hash of pyproject.toml) marks it complete, so a later run reuses it and a half-built
or outdated one is built again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENVS", "STAMP", "Environment", "EnvironmentBuildError", "install_commands"]

ENVS = Path(__file__).resolve().parents[1] / ".bench"
STAMP = ".bench-stamp"
INSTALL_TIMEOUT = 1800.0


class EnvironmentBuildError(RuntimeError):
    """The environment could not be built; the message ends with the tool's output."""


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def install_commands(
    venv: Path, requirements: tuple[str, ...], *, uv: str | None, python: str = sys.executable
) -> list[list[str]]:
    """The commands that build ``venv`` (afresh) with ``requirements`` installed."""
    target = str(venv / "bin" / "python")
    if uv:
        return [
            [uv, "venv", "--quiet", "--python", python, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", target, *requirements],
        ]
    return [
        [python, "-m", "venv", "--clear", str(venv)],
        [target, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [target, "-m", "pip", "install", "--quiet", *requirements],
    ]


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentBuildError(f"`{' '.join(command)}` failed: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise EnvironmentBuildError(
            f"`{' '.join(command)}` exited {done.returncode}:\n" + "\n".join(tail)
        )


@dataclass(frozen=True)
class Environment:
    """A virtual environment ``root/name`` holding ``requirements`` (pip's syntax)."""

    name: str
    requirements: tuple[str, ...]
    key: str = ""
    root: Path = ENVS

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def stamp_text(self) -> str:
        stamp = {"requirements": list(self.requirements), "python": sys.version, "key": self.key}
        return json.dumps(stamp, sort_keys=True)

    def ready(self) -> bool:
        stamp = self.path / STAMP
        return self.python.exists() and stamp.exists() and stamp.read_text() == self.stamp_text()

    def ensure(self) -> bool:
        """Build the environment unless it is built already; True when it was built now."""
        if self.ready():
            return False
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        uv = _uv()
        try:
            for command in install_commands(self.path, self.requirements, uv=uv):
                _run(command)
        except EnvironmentBuildError:
            if uv is None:
                raise
            for command in install_commands(self.path, self.requirements, uv=None):
                _run(command)  # uv failed (an index it cannot reach): pip, afresh
        (self.path / STAMP).write_text(self.stamp_text())
        return True
