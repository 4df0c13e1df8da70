"""``agentaudit up`` and ``agentaudit collector``: serve until Ctrl-C or SIGTERM."""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from agentaudit.config import Config
from agentaudit.config.tokens import ADMIN_TOKEN_FILE, AGENT_TOKEN_FILE

__all__ = ["serve"]


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


def _start_demo(grpc_port: int, api_port: int, agent_token: str | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "AGENTAUDIT_API_URL": f"http://127.0.0.1:{api_port}",  # the quarantine guard polls it
    }
    env.pop("AGENTAUDIT_ADMIN_TOKEN", None)  # never given to an agent
    env.pop("AGENTAUDIT_TOKEN", None)
    if agent_token:
        env["AGENTAUDIT_TOKEN"] = agent_token
    demo = [sys.executable, "-m", "agentaudit.demo", "--history", "--follow"]
    return subprocess.Popen(demo, env=env)


def _describe_tokens(given: Config, running: Config) -> str:
    """Where the tokens are (paths, never values), or the open-mode warning."""
    if running.insecure_no_auth:
        return (
            "  WARNING    --insecure-no-auth: no tokens; every local process, agents "
            "included, can query, revoke and release"
        )
    lines = []
    for configured, name, who in (
        (given.token, AGENT_TOKEN_FILE, "agents (AGENTAUDIT_TOKEN)"),
        (given.admin_token, ADMIN_TOKEN_FILE, "responders (AGENTAUDIT_ADMIN_TOKEN)"),
    ):
        where = "from the environment" if configured else str(running.state_dir / name)
        lines.append(f"  token      {who}: {where}")
    return "\n".join(lines)


def _with_demo_webhook(config: Config, url: str, secret: str) -> Config:
    """``config`` plus a ``[[revocation.webhook]]`` to the demo's alert receiver."""
    revocation = dict(config.sections.get("revocation", {}))
    revocation.setdefault("dashboard_url", f"http://{config.host}:{config.dashboard_port}")
    hooks = list(revocation.get("webhook", []))
    revocation["webhook"] = [*hooks, {"name": "demo-secops", "url": url, "secret": secret}]
    return dataclasses.replace(config, sections={**config.sections, "revocation": revocation})


def _with_demo_catalog(config: Config) -> Config:
    """``config`` with the demo agents' identity cards (agentaudit/demo/catalog.toml) in
    force, unless a catalog is configured: the broker and the detector enforce them, and
    the Agents page shows them."""
    if config.catalog is not None:
        return config
    from importlib import resources

    cards = Path(str(resources.files("agentaudit.demo") / "catalog.toml"))
    return dataclasses.replace(config, catalog=cards)


def _with_demo_history_trusted(config: Config) -> Config:
    """``config`` believing the demo history's claimed times (twelve days back), unless
    ``[detector] max_claimed_age_seconds`` is configured."""
    from agentaudit.demo.history import CLAIMED_AGE_SECONDS

    detector = dict(config.sections.get("detector", {}))
    detector.setdefault("max_claimed_age_seconds", CLAIMED_AGE_SECONDS)
    return dataclasses.replace(config, sections={**config.sections, "detector": detector})


def _demo_config(config: Config, webhook_url: str, secret: str) -> Config:
    """``config`` as ``up --demo`` runs it: alerts to the demo's receiver, the demo's
    identity cards, the demo history's claimed times believed (each unless configured)."""
    config = _with_demo_webhook(config, webhook_url, secret)
    return _with_demo_history_trusted(_with_demo_catalog(config))


def serve(config: Config, *, dashboard: bool, demo: bool) -> int:
    """Run the collector (and the dashboard, and the demo agents) until told to stop."""
    from agentaudit.collector.app import Collector
    from agentaudit.collector.interpreter import tune_process

    receiver = None
    if demo:
        from agentaudit.demo.webhook_receiver import AlertReceiver

        secret = secrets.token_hex(16)
        receiver = AlertReceiver(secret).start()  # prints each verified alert
        config = _demo_config(config, receiver.url, secret)
    collector = Collector(config)
    try:
        collector.start()
    except BaseException:
        if receiver is not None:
            receiver.stop()
        raise
    given, config = config, collector.config  # with the tokens it ensured
    tune_process()
    demo_process = None
    try:
        assert collector.admin is not None
        scheme = "https" if config.tls else "http"
        print(
            f"agentaudit: store {config.clickhouse_url}\n"
            f"  OTLP/gRPC  {config.host}:{collector.grpc_port}\n"
            f"  OTLP/HTTP  {scheme}://{config.host}:{collector.http_port}/v1/traces\n"
            f"  admin API  {scheme}://{config.host}:{collector.admin.port}\n"
            f"{_describe_tokens(given, config)}"
            + (f"\n  catalog    {config.catalog} (identity cards)" if config.catalog else ""),
            flush=True,
        )
        if receiver is not None:
            print(f"  alerts     {receiver.url} (demo webhook receiver)", flush=True)
        if demo:
            demo_process = _start_demo(collector.grpc_port, collector.admin.port, config.token)
        if dashboard:
            from agentaudit.dashboards import register_store
            from agentaudit.dashboards.server import serve as serve_dashboard

            assert collector.store is not None
            register_store(collector.store)
            # The Revoke page calls this process's own admin API.
            local = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
            os.environ.setdefault(
                "AGENTAUDIT_API_URL", f"{scheme}://{local}:{collector.admin.port}"
            )
            if config.admin_token:  # this process's own responder token, for its dashboard
                os.environ.setdefault("AGENTAUDIT_ADMIN_TOKEN", config.admin_token)
            print(f"  dashboard  http://{config.host}:{config.dashboard_port}", flush=True)
            serve_dashboard(host=config.host, port=config.dashboard_port, config=config)
        else:
            print("agentaudit: running; Ctrl-C to stop", flush=True)
            _wait_for_signal()
    finally:
        if demo_process is not None and demo_process.poll() is None:
            demo_process.terminate()
            demo_process.wait(10)
        print("agentaudit: flushing and stopping ...", flush=True)
        collector.stop()
        if receiver is not None:
            receiver.stop()
    return 0
