"""``agentaudit detect``: the detector as its own process, backtests, and baselines.

* ``--follow`` — the detector role for a ClickHouse server with several collectors (run
  exactly one; the collectors keep ``detector_mode`` ``auto``/``off``). It follows every
  collector's batches by the audit chain, saves findings and baselines in the store,
  and acts through a collector's admin API (``POST /v1/revocations`` as the responder,
  ``requested_by = detector``; ``--api`` or ``AGENTAUDIT_API_URL``, token
  ``AGENTAUDIT_ADMIN_TOKEN``): the revocation path lives in the collector process, so
  every backend, webhook and the audit trail apply. With the embedded store it is
  refused: ``agentaudit up`` runs the detector itself.
* ``--replay [--since 30d] [--agent A]`` — run a fresh detector over the stored history
  without acting; print the findings it would have raised.
* ``--explain AGENT [--rebuild]`` — print an agent's baseline (as saved by the running
  detector; rebuilt from its stored calls with ``--rebuild`` or when none was saved).

Replay and explain read a store no process holds (``--store``/``--clickhouse``) or a
running process through its admin API (``--api URL``; with neither, the API at
``AGENTAUDIT_API_URL`` when a process answers there, else the default store), like
``agentaudit sql``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from agentaudit.client import AdminClient
from agentaudit.config import DEFAULT_API_URL, Config, safe_dsn
from agentaudit.config.tokens import responder_token
from agentaudit.config.values import parse_since
from agentaudit.detector.follower import ApiSource, Source, StoreSource
from agentaudit.detector.model import Finding
from agentaudit.detector.policy import load_detector_settings
from agentaudit.errors import ConfigError

__all__ = ["add_detect_parser", "run_detect"]

EPILOG = """\
--follow: with a ClickHouse server (--clickhouse DSN), run exactly one; it acts through a
collector's admin API (--api, AGENTAUDIT_API_URL) with AGENTAUDIT_ADMIN_TOKEN.
--replay / --explain: read a store no process holds (--store / --clickhouse) or a running
process (--api URL). docs: docs/detector.md"""


def add_detect_parser(
    commands: Any, add_store_flags: Callable[[argparse.ArgumentParser], Any]
) -> None:
    detect = commands.add_parser(
        "detect",
        help="the detector: follow a ClickHouse server, replay history, explain a baseline",
        description="The detector as a process of its own (--follow: one per ClickHouse "
        "server, acting through a collector's admin API), a backtest of stored history that "
        "acts on nothing (--replay), or an agent's baseline (--explain AGENT).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = detect.add_mutually_exclusive_group(required=True)
    mode.add_argument("--follow", action="store_true", help="run the detector role")
    mode.add_argument("--replay", action="store_true", help="backtest stored history, no action")
    mode.add_argument("--explain", metavar="AGENT", help="print an agent's baseline")
    detect.add_argument(
        "--since", default="30d", help="replay: how far back (30d, 12h, 90m, 2w, or a date)"
    )
    detect.add_argument("--agent", help="replay: only this agent")
    detect.add_argument("--top", type=int, default=10, help="replay: findings shown (10)")
    detect.add_argument("--rebuild", action="store_true", help="explain: rebuild from history")
    detect.add_argument("--format", choices=("text", "json"), default="text")
    detect.add_argument(
        "--api",
        metavar="URL",
        help="a running process's admin API (follow: where actions go; replay/explain: "
        "read through it)",
    )
    add_store_flags(detect)


def run_detect(
    args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]
) -> int:
    config = config_from(args)
    settings = load_detector_settings(config.sections)
    if args.follow:
        return _follow(args, config, settings)
    with _source(args, config) as source:
        if args.replay:
            return _replay(args, source, settings, config)
        return _explain(args, source, settings)


# -- where to read ---------------------------------------------------------------------


@contextmanager
def _store_source(config: Config) -> Iterator[Source]:
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    with Store.open(config.clickhouse_url) as store:
        apply_migrations(store)
        yield StoreSource(store)


@contextmanager
def _source(args: argparse.Namespace, config: Config) -> Iterator[Source]:
    """The API (``--api``, or one answering at AGENTAUDIT_API_URL), else the store."""
    if args.api:
        yield ApiSource(AdminClient(args.api, token=responder_token(config), timeout=300))
        return
    if not (args.store or args.clickhouse_url):
        url = os.environ.get("AGENTAUDIT_API_URL", DEFAULT_API_URL)
        client = AdminClient(url, token=responder_token(config), timeout=300)
        if client.healthy():
            yield ApiSource(client)
            return
    with _store_source(config) as source:
        yield source


# -- follow ----------------------------------------------------------------------------


def _wait_for_signal() -> None:
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _follow(args: argparse.Namespace, config: Config, settings: Any) -> int:
    from agentaudit.catalog.enforcement import CatalogFile
    from agentaudit.detector.actions import ApiActions
    from agentaudit.detector.alerts import build_alert_sinks
    from agentaudit.detector.service import DetectorService
    from agentaudit.store import Store
    from agentaudit.store.migrations import apply_migrations

    if config.embedded:
        raise ConfigError(
            "detect --follow follows a ClickHouse server (--clickhouse DSN); with the "
            "embedded store, `agentaudit up` runs the detector itself (detector_mode)"
        )
    if not settings.enabled:
        raise ConfigError("the detector is disabled: [detector] enabled = false in the config")
    url = args.api or os.environ.get("AGENTAUDIT_API_URL") or config.api_url
    client = AdminClient(url, token=responder_token(config), timeout=60)
    if not client.healthy(2.0):
        print(
            f"agentaudit detect: warning: no admin API answers at {url} yet; findings are "
            "recorded, actions are retried (set --api / AGENTAUDIT_API_URL)",
            file=sys.stderr,
        )
    # Rule off_card reads the identity-card catalog (AGENTAUDIT_CATALOG), following edits.
    catalog = CatalogFile(config.catalog) if config.catalog is not None else None
    revocation = config.sections.get("revocation", {})
    router = build_alert_sinks(config.sections, dashboard_url=revocation.get("dashboard_url"))
    with Store.open(config.clickhouse_url) as store, router:
        apply_migrations(store)
        service = DetectorService(
            store,
            settings,
            actions=ApiActions(client),
            on_finding=router.submit,
            catalog=catalog,
        ).start()
        print(
            f"agentaudit detect: following {safe_dsn(config.dsn)}; actions through {url}; "
            "Ctrl-C to stop",
            flush=True,
        )
        try:
            _wait_for_signal()
        finally:
            service.stop()
    return 0


# -- replay ----------------------------------------------------------------------------


def _day(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _action(finding: Finding) -> str:
    return {"none": "-", "alert": "alert"}.get(finding.action, f"would {finding.action}")


def _replay(args: argparse.Namespace, source: Source, settings: Any, config: Config) -> int:
    from agentaudit.catalog.loader import load_catalog
    from agentaudit.detector.replay import replay

    since = parse_since(args.since)
    # Rule off_card judges against the catalog setting (AGENTAUDIT_CATALOG), when set.
    catalog = load_catalog(config.catalog) if config.catalog is not None else None
    result = replay(source, settings, since_ns=since, agent=args.agent, catalog=catalog)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "since_ns": since,
                    "calls": result.calls,
                    "batches": result.batches,
                    "agents": sorted(result.agents),
                    "findings": [f.to_json() for f in result.top(len(result.findings))],
                },
                default=str,
            )
        )
        return 0
    span = f"from {_day(result.first_ns)} to {_day(result.last_ns)} UTC" if result.calls else ""
    print(
        f"agentaudit detect --replay: {result.calls:,} calls of {len(result.agents)} agent(s) "
        f"since {_day(since)} UTC {span}; nothing was acted on"
    )
    if not result.findings:
        print("no findings")
        return 0
    counts: Counter[tuple[str, str]] = Counter((f.rule, f.agent_id) for f in result.findings)
    acts: Counter[tuple[str, str, str]] = Counter(
        (f.rule, f.agent_id, _action(f)) for f in result.findings
    )
    print(f"\nfindings by rule and agent ({len(result.findings)}):")
    width = max(len(rule) for rule, _ in counts)
    for (rule, agent), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        actions = ", ".join(
            f"{n} {act}" for (r, a, act), n in sorted(acts.items()) if (r, a) == (rule, agent)
        )
        print(f"  {rule:<{width}}  {agent}  {count}  ({actions})")
    print(f"\ntop {min(args.top, len(result.findings))}:")
    for finding in result.top(args.top):
        print(
            f"  {finding.severity:<8} {finding.rule:<{width}} {_day(finding.ts_ns)}  "
            f"{_action(finding)}  session {finding.session_id or '-'}"
        )
        print(f"    {finding.summary}")
    return 0


# -- explain ---------------------------------------------------------------------------


def _items(data: Mapping[str, Any], limit: int = 8) -> str:
    items = data.get("items", {})
    ordered = sorted(items.items(), key=lambda kv: -int(kv[1]["n"]))
    shown = ", ".join(f"{name} ({entry['n']:,})" for name, entry in ordered[:limit])
    more = len(items) - limit
    return shown + (f", {more} more" if more > 0 else "") if shown else "-"


def _explain(args: argparse.Namespace, source: Source, settings: Any) -> int:
    from agentaudit.detector.replay import explain_baseline

    data, origin = explain_baseline(source, args.explain, settings, rebuild=args.rebuild)
    if data is None:
        print(f"agentaudit detect --explain: no baseline for {args.explain!r}: {origin}")
        return 1
    if args.format == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    print(render_baseline(data, origin))
    return 0


def render_baseline(data: Mapping[str, Any], origin: str) -> str:
    """A baseline's JSON as text for a person."""
    learning = data["learning"]
    lines = [
        f"baseline of {data['agent']} ({origin}): {data['calls']:,} calls, "
        f"{_day(data['first_ts'])} to {_day(data['last_ts'])} UTC "
        f"({learning['span_days']:.1f} days)",
        "learning: "
        + (
            "in progress (no automatic action until it completes)"
            if learning["active"]
            else f"complete since {_day(learning['completed_ts'])} UTC"
        ),
    ]
    reference = data.get("reference")
    if reference:
        lines.append(
            f"reference ({reference['kind']}): {reference['calls']:,} calls, "
            f"{_day(reference['since_ts'])} to {_day(reference['taken_ts'])} UTC, "
            f"{reference['refreshes']} refresh(es); {len(reference['tools'])} tools, busiest "
            f"minute {reference['minute_max']}, fan-out up to {reference['session_max']}/session"
        )
    lines.append(f"tools: {_items(data['tools'])}")
    lines.append(f"transitions: {_items(data['transitions'], 6)}")
    lines.append(f"hours (UTC): {_items(data['hours'], 24)}")
    lines.append(f"scopes: {_items(data['scopes'])}")
    cadence = data["cadence"]
    lines.append(
        f"cadence: busiest minute {cadence['minute_max']} calls; {cadence['minutes']:,} "
        f"active minutes; per-minute histogram {cadence['histogram']}"
    )
    reference_tools = (data.get("reference") or {}).get("per_tool", {})
    for tool, resources in data["resources_per_tool"].items():
        fanout = data["fanout"][tool]
        approved = reference_tools.get(tool, {}).get("approved_only", {})
        lines += [
            f"{tool}: {resources['calls']:,} calls",
            f"  resource types: {_items(resources['types'])}",
            f"  realms: {_items(resources['realms'])}",
            f"  resources: {len(resources['resources']['items']):,} distinct",
            f"  fan-out: at most {fanout['session_max']} per session, "
            f"{fanout['window_max']} per window",
            f"  argument shapes: {_items(data['argument_keys'][tool], 4)}",
            f"  provenance: {_items(data['provenance'][tool])}",
        ]
        if approved:
            always = ", ".join(
                f"{'the tool' if realm == '*' else realm} ({n:,} calls)"
                for realm, n in approved.items()
            )
            lines.append(f"  always with a verified approval: {always}")
    return "\n".join(lines)
