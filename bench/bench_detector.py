"""Detection quality of the detector on a labelled corpus, and its time to quarantine.

The corpus (``bench/_detector/``): AgentDojo's four suites (user tasks benign, injection
tasks attacks, by their ground-truth function calls; no model is run) and three agents
of our own with weeks of ordinary traffic, six attack classes and their near-miss benign
twins, plus one class beyond them (``low_and_slow``). Every call goes through what the
collector does before the detector reads it (the span, the default redaction, the
``tool_calls`` row), then the real :class:`~agentaudit.detector.engine.Detector` runs
over each agent's calls in time order, its learning period completed by the first 14
days of backfilled history (bench/_detector/score.py defines detected and false).

Reported: recall per class and per AgentDojo suite and injection task; false findings
per 10,000 benign calls by severity; the twins; the same with e-mail addresses kept
(redaction's ``email`` rule off), which shows what pseudonymised recipients cost; the
time from export to quarantine over real processes (``agentaudit up``, an instrumented
agent; bench/_detector/latency.py); the engine's CPU per call on this corpus.

    python -m bench detector          # needs AgentDojo: pip install -e '.[bench]'
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from agentaudit.detector.policy import DetectorSettings

LATENCY_RUNS = 7
SEVERITIES = ("low", "medium", "high", "critical")


def _require_agentdojo() -> str:
    from bench._detector.agentdojo import INSTALL_HINT

    try:
        from importlib.metadata import version

        import agentdojo  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        raise SystemExit(INSTALL_HINT) from None
    return version("agentdojo")


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({n / d:.0%})" if d else "—"


def _evaluate(corpus: Any, settings: DetectorSettings) -> dict[str, Any]:
    from bench._detector import score

    benign = {a: score.run_benign(a, calls, settings) for a, calls in corpus.benign.items()}
    attacks = [(a, score.run_attack(corpus.benign[a.agent], a.calls, a.marked, settings))
               for a in corpus.attacks]  # fmt: skip
    return {"benign": benign, "attacks": attacks}


def _recall_rows(results: list[tuple[Any, Any]], key: str) -> dict[str, list[tuple[Any, Any]]]:
    grouped: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for attack, result in results:
        grouped[getattr(attack, key)].append((attack, result))
    return grouped


def _when(attack: Any, result: Any) -> str:
    if not result.detected:
        return "—"
    if attack.drip_day:
        return f"day {attack.drip_day.get(result.detected_span, '?')}"
    return f"{(result.detected_ns - attack.first_ns) / 1e9:.1f} s"


def _own_table(results: list[tuple[Any, Any]]) -> list[str]:
    from bench._detector.scenarios import CLASSES

    lines = [
        "| class | attacks | detected (≥ high) | ≥ medium | any finding | rules at ≥ high "
        "| from the attack's first call to detection |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    grouped = _recall_rows([r for r in results if r[0].source == "own"], "klass")
    for klass in CLASSES:
        rows = grouped.get(klass, [])
        n = len(rows)
        high = sum(r.detected for _, r in rows)
        medium = sum(r.severity in ("medium", "high", "critical") for _, r in rows)
        anything = sum(bool(r.severity) for _, r in rows)
        rules = Counter(rule for _, r in rows for rule in r.high_rules)
        ranked = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))  # stable on ties
        whens = [_when(a, r) for a, r in rows if r.detected]
        if whens and whens[0].startswith("day"):
            days = sorted(int(w.split()[1]) for w in whens)
            when = f"day {statistics.median(days):.0f} of the drift (range {days[0]}-{days[-1]})"
        elif whens:
            secs = sorted(float(w.split()[0]) for w in whens)
            when = f"median {statistics.median(secs):.1f} s, max {secs[-1]:.1f} s (attack time)"
        else:
            when = "—"
        lines.append(
            f"| `{klass}` | {n} | **{_pct(high, n)}** | {_pct(medium, n)} | {_pct(anything, n)} "
            f"| {', '.join(f'`{k}` {v}' for k, v in ranked) or '—'} | {when} |"
        )
    return lines


def _dojo_tables(results: list[tuple[Any, Any]], corpus: Any) -> list[str]:
    dojo = [r for r in results if r[0].source == "agentdojo"]
    lines = [
        "| suite | user tasks (benign) | injection tasks used (left out: no ground truth) "
        "| attacks | detected (≥ high) | ≥ medium | any finding |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total = [0, 0, 0, 0]
    for suite, rows in _recall_rows(dojo, "klass").items():
        users, injections = corpus.dojo_tasks[suite]
        left = corpus.dojo_left_out[suite]
        n = len(rows)
        high = sum(r.detected for _, r in rows)
        medium = sum(r.severity in ("medium", "high", "critical") for _, r in rows)
        anything = sum(bool(r.severity) for _, r in rows)
        for i, v in enumerate((n, high, medium, anything)):
            total[i] += v
        lines.append(
            f"| {suite} | {users} | {injections} ({len(left)}) | {n} | **{_pct(high, n)}** "
            f"| {_pct(medium, n)} | {_pct(anything, n)} |"
        )
    n, high, medium, anything = total
    lines.append(
        f"| **all** | | | {n} | **{_pct(high, n)}** | {_pct(medium, n)} | {_pct(anything, n)} |"
    )
    lines += [
        "",
        "Per injection task (each injected into 3 different carrier user tasks, on 3 days):",
        "",
        "| injection task | its ground-truth calls | detected (≥ high) | strongest finding on "
        "its calls | rules that named its calls |",
        "|---|---|---:|---|---|",
    ]
    by_task: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for attack, result in dojo:
        by_task[attack.name.split("#")[0]].append((attack, result))
    for task, rows in by_task.items():
        tools = " → ".join(
            dict.fromkeys(c.tool_name for c in rows[0][0].calls if c.span_id in rows[0][0].marked)
        )
        worst = max((r.severity for _, r in rows), key=lambda s: SEVERITIES.index(s) if s else -1)
        rules = sorted({rule for _, r in rows for rule in r.rules})
        lines.append(
            f"| {task} | {tools} | {sum(r.detected for _, r in rows)}/{len(rows)} "
            f"| {worst or 'none'} | {', '.join(f'`{x}`' for x in rules) or '—'} |"
        )
    return lines


def _false_table(benign: dict[str, Any]) -> tuple[list[str], dict[str, float]]:
    lines = [
        "| agent | benign calls | evaluated after learning (learned on day) | low | medium "
        "| high | critical | raised while learning |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals: Counter[str] = Counter()
    evaluated = calls = learning = 0
    for agent, result in benign.items():
        after = Counter(f.severity for f in result.after_learning())
        totals.update(after)
        evaluated += result.evaluated
        calls += result.calls
        learning += len(result.during_learning())
        lines.append(
            f"| {agent} | {result.calls:,} | {result.evaluated:,} ({result.learned_day:.1f}) | "
            + " | ".join(str(after.get(s, 0)) for s in SEVERITIES)
            + f" | {len(result.during_learning())} |"
        )
    lines.append(
        f"| **all** | {calls:,} | {evaluated:,} | "
        + " | ".join(str(totals.get(s, 0)) for s in SEVERITIES)
        + f" | {learning} |"
    )
    per = {s: totals.get(s, 0) / evaluated * 10_000 for s in SEVERITIES}
    per["high+"] = per["high"] + per["critical"]
    per["evaluated"] = evaluated
    lines.append(
        "| **per 10,000 evaluated benign calls** | | | "
        + " | ".join(f"{per[s]:.1f}" for s in SEVERITIES)
        + " | |"
    )
    return lines, per


def _twin_table(benign: dict[str, Any], corpus: Any) -> list[str]:
    from bench._detector import score
    from bench._detector.scenarios import CLASSES

    found: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for result in benign.values():
        for klass, items in score.twin_findings(result.findings, corpus.labels).items():
            found[klass].extend(items)
    lines = [
        "| twin of | instances | with a finding ≥ high | with any finding | findings by "
        "severity and rule |",
        "|---|---:|---:|---:|---|",
    ]
    for klass in CLASSES:
        if klass not in corpus.twin_counts:
            continue
        items = found.get(klass, [])
        high = {label for label, f in items if f.severity in ("high", "critical")}
        anyf = {label for label, _ in items}
        kinds = Counter(f"{f.severity} `{f.rule}`" for _, f in items)
        lines.append(
            f"| `{klass}` | {corpus.twin_counts[klass]} | {len(high)} | {len(anyf)} "
            f"| {', '.join(f'{k} ×{v}' for k, v in kinds.most_common()) or '—'} |"
        )
    return lines


def _quality_table(results: list[tuple[Any, Any]], benign: dict[str, Any]) -> list[str]:
    """Precision, recall and F1 per part of the corpus, at ``high`` (the default policy
    quarantines) and at ``medium`` (it alerts): bench/_detector/score.py, ``Scores``."""
    from bench._detector import score

    own_agents = {a.agent for a, _ in results if a.source == "own"}
    parts: list[tuple[str, Callable[[Any], bool], Callable[[str], bool]]] = [
        ("our agents, the six classes",
         lambda a: a.source == "own" and a.klass != "low_and_slow", lambda g: g in own_agents),
        ("our agents, with `low_and_slow`", lambda a: a.source == "own",
         lambda g: g in own_agents),
        ("AgentDojo", lambda a: a.source == "agentdojo", lambda g: g not in own_agents),
        ("all", lambda a: True, lambda g: True),
    ]  # fmt: skip
    lines = [
        "| part of the corpus | threshold | attacks | detected | benign sessions "
        "| flagged benign sessions | precision | recall | F1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, attack, agent in parts:
        for threshold in ("high", "medium"):
            s = score.scores(
                (r for a, r in results if attack(a)),
                (b for g, b in benign.items() if agent(g)),
                threshold,
            )
            lines.append(
                f"| {label} | ≥ {threshold} | {s.attacks} | {s.detected} | {s.benign_sessions:,} "
                f"| {s.false_sessions} | {s.precision:.3f} | {s.recall:.3f} | **{s.f1:.3f}** |"
            )
    return lines


def _missed(results: list[tuple[Any, Any]]) -> list[str]:
    lines = []
    for attack, result in results:
        if attack.source == "own" and not result.detected and attack.klass != "low_and_slow":
            strongest = result.severity or "no finding"
            rules = ", ".join(f"`{r}`" for r in sorted(result.rules)) or "none"
            lines.append(
                f"- `{attack.name}` ({attack.agent}): strongest {strongest}; rules {rules}."
            )
    return lines


def run() -> str:
    from bench._detector import corpus as corpora
    from bench._detector import latency
    from bench._detector.agentdojo import BENCHMARK_VERSION
    from bench._detector.calls import KEEP_EMAILS

    dojo_version = _require_agentdojo()
    settings = DetectorSettings()
    started = time.perf_counter()
    corpus = corpora.build()
    built = time.perf_counter() - started
    evaluated = _evaluate(corpus, settings)
    kept = corpora.build(redaction=KEEP_EMAILS)
    evaluated_kept = _evaluate(kept, settings)
    timings = latency.measure(LATENCY_RUNS)

    benign, results = evaluated["benign"], evaluated["attacks"]
    own = [r for r in results if r[0].source == "own"]
    six = [r for r in own if r[0].klass != "low_and_slow"]
    false_lines, per = _false_table(benign)
    cpu = statistics.median(r.cpu_seconds / r.calls * 1e6 for r in benign.values())
    calls_total = sum(len(c) for c in corpus.benign.values())
    attack_calls = sum(len(a.marked) for a in corpus.attacks)
    own_agents = ("support-bot", "drive-assistant", "devops-bot")
    dojo_agents = [a for a in corpus.benign if a not in own_agents]
    recall_six = sum(r.detected for _, r in six) / len(six)
    kept_results = evaluated_kept["attacks"]
    _, kept_per = _false_table(evaluated_kept["benign"])

    lines = [
        "## Detection quality (`bench/bench_detector.py`)",
        "",
        "`python -m bench detector`: the real `Detector` (default `[detector]` settings and "
        "policy) over a labelled corpus of tool calls, each agent's calls in time order, its "
        f"learning period completed by the first {corpora.HISTORY_DAYS} days of backfilled "
        f"history; twins and attacks fall on days {corpora.FIRST_DAY}-{corpora.LAST_DAY} of "
        f"{corpora.DAYS}. Every call goes through what the collector does first (the span, "
        "the default redaction — e-mail addresses pseudonymised —, the `tool_calls` row). "
        "No language model is run: AgentDojo's ground-truth calls are the traces.",
        "",
        "**Detected** means: a finding of severity `high` or `critical` names one of the "
        "attack's own calls (the finding's call or one of its evidence's "
        "`triggering_calls`), in a run of the agent's benign stream plus that one attack. "
        "At `high` and above the default policy quarantines the agent (all attacks come "
        "after learning). **False findings**: all findings of the benign runs (ordinary "
        "traffic and the near-miss twins, no attack), per 10,000 benign calls evaluated "
        "after the agent's learning period.",
        "",
        "### Corpus",
        "",
        f"{calls_total:,} benign calls of {len(corpus.benign)} agents over {corpora.DAYS} days "
        f"and {len(corpus.attacks)} attacks ({attack_calls:,} attack calls), built in "
        f"{built:.0f} s:",
        "",
        f"- **AgentDojo** {dojo_version} (benchmark {BENCHMARK_VERSION}): one agent per suite "
        f"({', '.join(dojo_agents)}), {corpora.DOJO_SESSIONS_PER_DAY} user tasks a day drawn "
        "from the suite's user tasks (the tasks and their ground-truth calls are "
        "AgentDojo's; the resource ids, times, credential and provenance are ours: dates "
        "moved with the day; results of e-mails, files, events, reviews, transactions, "
        "messages and web pages untrusted); each injection task with ground-truth calls "
        "injected into "
        f"{corpora.DOJO_INSTANCES} carrier user tasks after their first untrusted read "
        f"({sum(1 for a in corpus.attacks if a.source == 'agentdojo')} attacks).",
        "- **Our agents, synthetic** (`bench/_detector/scenarios.py`: scripted sessions, no "
        "framework or model): support-bot (~50 sessions a "
        "day: ticket, customer, 1-3 recipients of 3,000, update), drive-assistant (~30: "
        "folders, documents, shares, a few deletes), devops-bot (~20: issue, tests, pull "
        "request, staging deploys); 10 attacks per class, each alone in its run; 10 "
        "near-miss twins per class, all in the benign stream.",
        "",
        "| agent | benign calls | twins' calls included | attacks |",
        "|---|---:|---:|---:|",
    ]
    twin_calls: Counter[str] = Counter()
    by_span = {c.span_id: agent for agent, calls in corpus.benign.items() for c in calls}
    for span in corpus.labels:
        twin_calls[by_span.get(span, "?")] += 1
    missed = _missed(results)
    attacks_per = Counter(a.agent for a in corpus.attacks)
    for agent, calls in corpus.benign.items():
        lines.append(f"| {agent} | {len(calls):,} | {twin_calls.get(agent, 0):,} | "
                     f"{attacks_per.get(agent, 0)} |")  # fmt: skip
    lines += [
        "",
        "### Precision, recall, F1",
        "",
        "Per session: an attack (however many sessions it spans) is a positive, detected "
        "when a finding at or above the threshold names one of its calls; every benign "
        "session with a call after the agent's learning period (twins included) is a "
        "negative, flagged when a finding at or above the threshold raised after learning "
        "names one of its calls. At `high` the default policy quarantines, at `medium` it "
        "alerts. Precision depends on how many attacks the corpus holds against how many "
        "benign sessions (here about one attack per "
        f"{sum(b.sessions for b in benign.values()) // max(len(results), 1)} benign "
        "sessions): read it with the false findings per 10,000 calls below.",
        "",
        *_quality_table(results, benign),
        "",
        "### Recall per scenario class (our agents)",
        "",
        *_own_table(results),
        "",
        f"Recall on the six classes: **{recall_six:.2f}** "
        f"({sum(r.detected for _, r in six)}/{len(six)}; target 1.0). "
        + ("Missed:" if missed else "Missed: none."),
        "",
        *([*missed, ""] if missed else []),
        "### Recall on AgentDojo",
        "",
        *_dojo_tables(results, corpus),
        "",
        "### False findings (benign runs)",
        "",
        *false_lines,
        "",
        f"False `high` or `critical` findings: **{per['high+']:.2f} per 10,000** benign calls "
        f"evaluated after learning ({per['evaluated']:,.0f} calls; target ≤ 1).",
        "",
        "Near-miss benign twins (10 each, inside the benign runs above):",
        "",
        *_twin_table(benign, corpus),
        "",
        "### The same corpus with e-mail addresses kept",
        "",
        "Redaction pseudonymises e-mail addresses whole (`hmac:email:…`), so "
        "`new_recipient_domain` cannot see a recipient's domain (docs/detector.md, Limits). "
        'With the `email` rule disabled (`[redaction] disable = ["email"]`):',
        "",
        "| | default redaction | e-mail addresses kept |",
        "|---|---:|---:|",
    ]
    picks: list[tuple[str, Callable[[Any], bool]]] = [
        ("six classes, detected", lambda a: a.source == "own" and a.klass != "low_and_slow"),
        ("`low_and_slow`, detected", lambda a: a.klass == "low_and_slow"),
        ("AgentDojo, detected", lambda a: a.source == "agentdojo"),
    ]
    for label, pick in picks:
        a = [r for x, r in results if pick(x)]
        b = [r for x, r in kept_results if pick(x)]
        lines.append(
            f"| {label} | {_pct(sum(r.detected for r in a), len(a))} "
            f"| {_pct(sum(r.detected for r in b), len(b))} |"
        )
    lines += [
        f"| false `high`+ per 10,000 benign calls | {per['high+']:.2f} | {kept_per['high+']:.2f} |",
        f"| false `medium` per 10,000 benign calls | {per['medium']:.2f} "
        f"| {kept_per['medium']:.2f} |",
        "",
        "### Time from export to quarantine",
        "",
        f"{LATENCY_RUNS} runs with real processes (`bench/_detector/latency.py`, the machinery "
        "of `tests/e2e/test_detector.py`): a fresh `agentaudit up` (detector on), ten days "
        "of a support agent's history backfilled over OTLP, then an agent process "
        "instrumented by `import agentaudit.auto` (quarantine guard polling every 2 s) does "
        "its ordinary work, reads an injected ticket and mails one new recipient every "
        "0.1 s until refused. Timed from the call the detector's revocation names:",
        "",
        "| | median | max | each run |",
        "|---|---:|---:|---|",
    ]
    for label, values in (
        ("call start → its export received by the collector (`received_at`)",
         [t.call_to_export for t in timings]),
        ("**export received → quarantine in force** (revocation `requested_at`)",
         [t.export_to_quarantine for t in timings]),
        ("call start → the agent's next call refused (guard poll ≤ 2 s; limit 5 s)",
         [t.call_to_refusal for t in timings]),
    ):  # fmt: skip
        each = ", ".join(f"{v:.2f}" for v in values)
        lines.append(
            f"| {label} | {statistics.median(values):.2f} s | {max(values):.2f} s | {each} |"
        )
    lines += [
        "",
        "### CPU",
        "",
        f"The engine on this corpus: median {cpu:.1f} µs of CPU per call over the "
        f"{len(benign)} agents' benign runs (observe, the rules, learn, and `take_findings` "
        "after every call, which the live detector does once per batch). The detector's "
        "cost per stored call including the follower's reads is in *Detector CPU per call* "
        "(`python -m bench detector_cpu`), its effect on the collector's ingest rate in "
        "*Collector ingest* (`python -m bench ingest`, detector off vs on).",
        "",
        "Command: `python -m bench detector`",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
