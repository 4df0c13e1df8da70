"""``agentaudit hash-password`` prints a hash the dashboard login accepts."""

from __future__ import annotations

import subprocess
import sys

from agentaudit.dashboards.auth import verify_password


def _run(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentaudit", "hash-password"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prints_a_verifiable_hash() -> None:
    done = _run("correct horse battery\n")
    assert done.returncode == 0, done.stderr
    encoded = done.stdout.strip()
    assert "correct horse" not in encoded
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("wrong password", encoded)


def test_refuses_a_short_password_in_one_line() -> None:
    done = _run("short\n")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == ("agentaudit: error: choose a password of at least 8 characters")
