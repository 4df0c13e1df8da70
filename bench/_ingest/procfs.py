"""CPU time of processes and the machine's load, read from Linux ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "family_cpu_seconds", "load_average"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (a server's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


def load_average() -> str:
    """The 1-minute load average, as the kernel prints it."""
    return Path("/proc/loadavg").read_text().split()[0]
