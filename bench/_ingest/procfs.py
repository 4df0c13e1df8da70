"""CPU time of processes and the machine's load, read from Linux ``/proc``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["children_cpu_seconds", "cpu_seconds", "family_cpu_seconds", "load_average"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (a server's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


def children_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of each live child of ``pid``, summed by its command line's last
    module name (``-m agentaudit.collector.workers.process`` -> ``workers.process``)."""
    found: dict[str, float] = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            seconds = cpu_seconds(int(child))
        except FileNotFoundError:  # it exited meanwhile: nothing left to count
            continue
        name = argv[argv.index(b"-m") + 1] if b"-m" in argv[:-1] else argv[0]
        kind = ".".join(name.decode(errors="replace").split(".")[-2:])
        found[kind] = found.get(kind, 0.0) + seconds
    return found


def load_average() -> str:
    """The 1-minute load average, as the kernel prints it."""
    return Path("/proc/loadavg").read_text().split()[0]
