"""A wheel built from the repository installs into a clean virtualenv and imports."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_wheel_installs_and_imports_in_a_clean_venv(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("agentaudit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # The subpackages are real files in the wheel, not symlinks, and the DDL ships.
    assert "agentaudit/collector/store.py" in names
    assert "agentaudit/schema/migrations/0002_tool_calls.sql" in names
    assert "agentaudit/py.typed" in names

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, agentaudit, agentaudit.collector, agentaudit.schema.attributes; "
            "from agentaudit import audited_tool, context; "
            "heavy = {'chdb', 'clickhouse_connect', 'pyarrow', 'streamlit'} & set(sys.modules); "
            "assert not heavy, heavy; print('ok')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "ok"
