"""``agentaudit card AGENT`` and ``agentaudit card sign AGENT --by NAME``.

``card AGENT`` prints the agent's identity card: the catalog's join (owner, tools,
credentials, scopes granted / minimum / exercised in the window, lifetimes, resource
arguments, audit destination, revocation path), lint problems, open findings, and its
status against the newest sign-off (``signed``, ``unsigned``, ``drifted``, ``none``).
Formats: ``md`` (for people; every value inert), ``json`` (the keys of issue 13),
``a2a`` (an A2A AgentCard with the join in an extension).

``card sign AGENT --by NAME`` records a sign-off of the card as it is now: through a
running process's admin API (``POST /v1/cards/{agent}/signoffs``, responder token)
when one is used, else directly in a store no process holds. An agent not in the
catalog cannot be signed (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from agentaudit.cli._catalog_io import Where, add_where_flags, catalog_path, open_where
from agentaudit.config import Config
from agentaudit.errors import ConfigError, ExitCode

__all__ = ["add_card_parser", "run_card"]

FORMATS = ("md", "json", "a2a")


def add_card_parser(
    commands: Any, add_flags: Callable[[argparse.ArgumentParser, str], Any]
) -> None:
    card = commands.add_parser(
        "card",
        help="an agent's identity card (the join document); `card sign AGENT --by NAME`",
        description="Print AGENT's identity card, or record a sign-off with "
        "`card sign AGENT --by NAME`.",
        usage="agentaudit card AGENT [options] | agentaudit card sign AGENT --by NAME [options]",
    )
    card.add_argument("words", nargs="+", metavar="AGENT", help="AGENT, or: sign AGENT")
    card.add_argument("--by", default="", help="sign: who attests to the card")
    card.add_argument("--format", choices=FORMATS, default="md")
    card.add_argument(
        "--since",
        default="30d",
        help="the window of exercised scopes: calls claimed or received in it (default 30d)",
    )
    add_flags(card, "catalog")
    add_where_flags(card, lambda parser: add_flags(parser, "store"))


def _build(args: argparse.Namespace, config: Config, agent: str, where: Where) -> Any:
    from agentaudit.catalog.card import build_card
    from agentaudit.catalog.loader import load_catalog
    from agentaudit.catalog.observed import (
        observe,
        open_findings,
        parse_since,
        registry_owners,
    )
    from agentaudit.catalog.signoffs import newest_signoff

    catalog = load_catalog(catalog_path(args, config))
    source = where.source
    observations = observe(source, since_ns=parse_since(args.since), agent=agent)
    signoff = newest_signoff(source, agent)
    since_signoff = (
        observe(source, since_ns=signoff.signed_at_ms * 1_000_000, agent=agent)
        if signoff is not None
        else None
    )
    return catalog, build_card(
        catalog,
        agent,
        observations=observations,
        since_signoff=since_signoff,
        registry_owners=registry_owners(source),
        findings=open_findings(source, agent),
        signoff=signoff,
        window=args.since,
    )


def _print(card: Any, fmt: str) -> None:
    from agentaudit.catalog.card import card_a2a, card_markdown

    if fmt == "json":
        print(json.dumps(card.to_json(), ensure_ascii=False, indent=2))
    elif fmt == "a2a":
        print(json.dumps(card_a2a(card), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(card_markdown(card))


def _sign(args: argparse.Namespace, config: Config, agent: str, where: Where) -> int:
    from agentaudit.catalog.card import canonical_card, card_hash
    from agentaudit.catalog.signoffs import SignoffError, SignoffLog

    if not args.by.strip():
        raise ConfigError("card sign: give --by NAME (who attests to the card)")
    catalog, card = _build(args, config, agent, where)
    entry = catalog.agent(agent)
    if entry is None:
        raise ConfigError(f"card sign: {agent!r} is not in the catalog {catalog.path}")
    content, digest = canonical_card(entry), card_hash(entry)
    if where.client is not None:
        answer = where.client.sign_card(
            entry.name, signed_by=args.by, card_hash=digest, card=content, catalog=catalog.path
        )
        signed = answer.get("signoff", {})
    else:
        try:
            signed = (
                SignoffLog(where.store)
                .record(
                    entry.name,
                    signed_by=args.by,
                    card_hash=digest,
                    card=content,
                    catalog=catalog.path,
                    recorded_by="cli",
                )
                .to_json()
            )
        except SignoffError as exc:
            raise ConfigError(f"card sign: {exc}") from None
    high = [p for p in card.problems if p.severity == "high"]
    print(
        f"agentaudit: {entry.name}'s card {digest} signed by {signed.get('signed_by', args.by)} "
        f"at {signed.get('signed_at', '?')}",
        file=sys.stderr,
    )
    if high:
        print(
            f"agentaudit: note: the card has {len(high)} high problem(s); "
            "`agentaudit lint` names them",
            file=sys.stderr,
        )
    print(json.dumps(signed, ensure_ascii=False))
    return ExitCode.OK


def run_card(args: argparse.Namespace, config_from: Callable[[argparse.Namespace], Config]) -> int:
    words = args.words
    if len(words) == 2 and words[0] == "sign":
        signing, agent = True, words[1]
    elif len(words) == 1:
        signing, agent = False, words[0]
    else:
        raise ConfigError("usage: agentaudit card AGENT | agentaudit card sign AGENT --by NAME")
    config = config_from(args)
    with open_where(args, config, required=True) as where:
        assert where is not None
        if signing:
            return _sign(args, config, agent, where)
        _, card = _build(args, config, agent, where)
    _print(card, args.format)
    return ExitCode.OK
