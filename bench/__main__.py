"""Run the benchmarks and write their sections into ``docs/benchmarks.md``.

Each ``bench/bench_<name>.py`` module exposes ``run() -> str``, which measures its
subject side by side with its floor and peers in one run (medians of repeated runs, in
fresh processes where process state matters) and returns one Markdown section that
starts with ``## `` and states the command that reproduces it.

    python -m bench                 # every benchmark, rewrite docs/benchmarks.md
    python -m bench instrumentation # one benchmark, replace only its section
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import re
import sys
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Produced by `make bench` (`python -m bench`); one benchmark alone with
`python -m bench <name>`. Each section below was measured in one run, side by side with
its floor and peers, and reports medians of repeated runs: these are noisy 2-core
machines, so ratios within a run matter more than absolute numbers. The ingest section
also runs Arize Phoenix, which the bench installs into an environment of its own under
`.bench/` (gitignored; reused once built): if Phoenix cannot be installed or started,
the section says so with the error and the rest of the run goes on.
"""


def _available() -> list[str]:
    folder = Path(__file__).resolve().parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(folder)])
        if m.name.startswith("bench_")
    )


def _sections(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in re.finditer(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", text, re.S):
        found[match.group(1)] = match.group(2)
    return found


def main(argv: list[str]) -> int:
    names = argv or _available()
    unknown = sorted(set(names) - set(_available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(_available())}")
        return 2
    sections = _sections(DOC.read_text()) if DOC.exists() else {}
    for name in names:
        print(f"== bench {name} ...", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.bench_{name}")
        body = module.run().rstrip() + "\n"
        stamp = time.strftime("%Y-%m-%d", time.gmtime())
        sections[name] = (
            f"{body}\n_Measured {stamp} on {platform.machine()}, Python "
            f"{platform.python_version()}, in {time.perf_counter() - started:.0f} s._\n"
        )
        print(body, flush=True)
    parts = [HEADER]
    for name in sorted(sections):
        parts.append(f"<!-- bench:{name} -->\n{sections[name]}<!-- /bench:{name} -->\n")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(parts))
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
