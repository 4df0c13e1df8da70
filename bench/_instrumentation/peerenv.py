"""The peers' environment: a virtualenv of its own with agentaudit[langchain] (this
checkout, editable) and the LangChain instrumentations of OpenInference and OpenLLMetry,
installed from the package index with their versions from the ``peers`` extra of
pyproject.toml (one place to pin them).

Built under ``.bench/peers`` by :class:`bench._envs.Environment` (uv, else venv + pip);
rebuilt when pyproject.toml, the requirements or the Python version change.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bench._envs import ENVS, Environment

__all__ = ["PEER_DISTRIBUTIONS", "ROOT", "ensure", "requirements"]

ROOT = Path(__file__).resolve().parents[2]
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


def ensure(root: Path | None = None) -> Path:
    """The interpreter of the peers' environment, built or rebuilt when needed (a new
    pyproject.toml, new pins, another Python)."""
    pyproject = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    env = Environment("peers", tuple(requirements()), key=pyproject, root=root or ENVS)
    env.ensure()
    return env.python
