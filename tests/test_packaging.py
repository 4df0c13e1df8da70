"""A wheel built from a checkout without symlinks is complete, installs and imports.

The code lives in one tree under ``agentaudit/``; the top-level ``collector/``,
``dashboards/``, ``instrumentation/`` and ``schema/`` are symlinks for readers. A checkout
with ``core.symlinks=false`` (the Windows default) turns each link into a small text file
holding its target: the wheel must not care.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READER_LINKS = ("collector", "dashboards", "instrumentation", "schema")


def _checkout_without_symlinks(destination: Path) -> None:
    """The tracked files as ``git -c core.symlinks=false`` checks them out."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.write_text(os.readlink(source))  # what git writes for a link
        elif source.is_file():
            shutil.copy2(source, target)


def _packages_in_tree() -> set[str]:
    return {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "agentaudit").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_each_file_has_one_path_and_the_reader_links_point_into_it() -> None:
    for name in READER_LINKS:
        link = ROOT / name
        assert link.is_symlink(), f"{name} should be a link into agentaudit/"
        assert os.readlink(link) == f"agentaudit/{name}"
    assert not any(p.is_symlink() for p in (ROOT / "agentaudit").rglob("*"))


@pytest.mark.timeout(900)
def test_wheel_from_a_symlinkless_checkout_installs_and_imports(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    _checkout_without_symlinks(checkout)
    assert (checkout / "collector").is_file()  # the link became a text file
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--outdir",
            str(tmp_path / "dist"),
            str(checkout),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("agentaudit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {
        n.removesuffix("/__init__.py").replace("/", ".")
        for n in names
        if n.endswith("/__init__.py")
    }
    assert packages == _packages_in_tree()
    assert "agentaudit/schema/migrations/0002_tool_calls.sql" in names
    assert "agentaudit/collector/ingest/redaction/rules/secrets.toml" in names
    assert "agentaudit/demo/catalog.toml" in names  # `up --demo`'s identity cards
    assert "agentaudit/py.typed" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The base install is the instrumentation: it imports without the heavy parts.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    light = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, agentaudit, agentaudit.auto, agentaudit.schema.attributes; "
            "from agentaudit import audited_tool, context; "
            "heavy = {'chdb', 'clickhouse_connect', 'pyarrow', 'streamlit'} & set(sys.modules); "
            "assert not heavy, heavy; print('ok')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert light.returncode == 0, light.stderr
    assert light.stdout.strip() == "ok"

    # With the collector and dashboard extras, every subpackage imports.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[collector,dashboards]"],
        check=True,
        capture_output=True,
    )
    every = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib, sys\n"
            f"for name in {sorted(_packages_in_tree())!r}:\n"
            "    importlib.import_module(name)\n"
            "print('ok')",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # not the checkout: import the installed wheel
    )
    assert every.returncode == 0, every.stderr
    assert every.stdout.strip() == "ok"
