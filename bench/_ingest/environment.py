"""A peer's own virtual environment, built once and reused.

A peer (Phoenix) is installed from the package index into a virtual environment of its
own under ``.bench/`` (gitignored), so its dependencies never meet the bench's: with
``uv venv`` / ``uv pip install`` when ``uv`` is installed (beside the running interpreter
or on the PATH), else ``python -m venv`` and pip, with the interpreter running the bench.
The environment is named after its pinned requirement; a stamp written after a
successful install (the requirement and the Python version) marks it complete, so a
later run reuses it and a half-built one is built again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENVS", "PeerEnvironment", "PeerInstallError", "install_commands"]

ENVS = Path(__file__).resolve().parents[2] / ".bench"
STAMP = ".bench-stamp"
INSTALL_TIMEOUT = 1800.0


class PeerInstallError(RuntimeError):
    """The peer's environment could not be built; the message ends with the tool's output."""


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def install_commands(
    venv: Path, requirement: str, *, uv: str | None, python: str = sys.executable
) -> list[list[str]]:
    """The commands that build ``venv`` with ``requirement`` installed."""
    target = str(venv / "bin" / "python")
    if uv:
        return [
            [uv, "venv", "--quiet", "--python", python, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", target, requirement],
        ]
    return [
        [python, "-m", "venv", str(venv)],
        [target, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [target, "-m", "pip", "install", "--quiet", requirement],
    ]


@dataclass(frozen=True)
class PeerEnvironment:
    """A virtual environment holding one pinned requirement (``name==version``)."""

    requirement: str
    root: Path = ENVS

    @property
    def path(self) -> Path:
        return self.root / self.requirement.replace("==", "-")

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def _stamp_text(self) -> str:
        return f"{self.requirement}\n{sys.version.split()[0]}\n"

    def ready(self) -> bool:
        stamp = self.path / STAMP
        return self.python.exists() and stamp.exists() and stamp.read_text() == self._stamp_text()

    def ensure(self) -> bool:
        """Build the environment unless it is built already; True when it was built now."""
        if self.ready():
            return False
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for command in install_commands(self.path, self.requirement, uv=_uv()):
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerInstallError(f"`{' '.join(command)}` failed: {exc}") from exc
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
                raise PeerInstallError(
                    f"`{' '.join(command)}` exited {done.returncode}:\n" + "\n".join(tail)
                )
        (self.path / STAMP).write_text(self._stamp_text())
        return True
