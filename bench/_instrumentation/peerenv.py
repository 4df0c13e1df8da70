"""The peers' environment: a virtualenv of its own with agentaudit[langchain] (this
checkout, editable) and the LangChain instrumentations of OpenInference and OpenLLMetry,
installed from the package index with their versions from the ``peers`` extra of
pyproject.toml (one place to pin them).

Created under ``.bench/peers`` (gitignored) on first use, by ``uv`` when it is installed
(``make bench`` installs it with the test extra), else (or when uv fails, e.g. cannot
reach the index pip is configured for) by ``python -m venv`` + pip, with the interpreter
running the bench; reused while pyproject.toml and the requirements are unchanged (a
stamp file records them).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PEER_DISTRIBUTIONS", "ROOT", "ensure", "requirements"]

ROOT = Path(__file__).resolve().parents[2]
ENV_DIR = ROOT / ".bench" / "peers"
PEER_DISTRIBUTIONS = (
    "openinference-instrumentation-langchain",
    "opentelemetry-instrumentation-langchain",
)
"""The peers compared, as named in the ``peers`` extra."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirements of the peers' environment, pins taken from ``pyproject``."""
    by_name: dict[str, str] = {}
    for spec in _peers_extra(pyproject.read_text()):
        name = _NAME.match(spec)
        if name is not None:
            by_name[name.group(0).lower()] = spec
    missing = [name for name in PEER_DISTRIBUTIONS if name not in by_name]
    if missing:
        raise RuntimeError(f"pyproject.toml's peers extra lacks {', '.join(missing)}")
    return ["-e", f"{ROOT}[langchain]", *(by_name[name] for name in PEER_DISTRIBUTIONS)]


def _peers_extra(text: str) -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the extra is a plain list of strings
        block = re.search(r"^peers\s*=\s*\[(.*?)\]", text, re.M | re.S)
        return re.findall(r'"([^"]+)"', block.group(1)) if block else []
    extras = tomllib.loads(text)["project"]["optional-dependencies"]
    return list(extras.get("peers", []))


def _python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    return shutil.which("uv")


def ensure(env: Path = ENV_DIR) -> Path:
    """The interpreter of the peers' environment, created or updated when needed."""
    wanted = requirements()
    stamp_text = json.dumps(
        {
            "python": sys.version,
            "requirements": wanted,
            "pyproject": hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest(),
        },
        sort_keys=True,
    )
    stamp = env / ".bench-stamp"
    python = _python(env)
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python
    uv = _uv()
    try:
        if uv is None:
            raise RuntimeError("uv is not installed")
        if not python.exists():
            _run([uv, "venv", "--quiet", "--python", sys.executable, str(env)])
        _run([uv, "pip", "install", "--quiet", "--python", str(python), *wanted])
    except RuntimeError:
        # No uv, or uv cannot reach the index pip is configured for: pip, in a fresh venv.
        _run([sys.executable, "-m", "venv", "--clear", str(env)])
        _run([str(python), "-m", "pip", "install", "--quiet", *wanted])
    stamp.write_text(stamp_text)
    return python


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=1800, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"setting up the peers' environment failed: {error}") from error
    if done.returncode != 0:
        raise RuntimeError(
            f"setting up the peers' environment failed: {' '.join(command)}\n{done.stderr}"
        )
