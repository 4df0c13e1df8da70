"""Command-line flags built from the settings table, and the Config they give.

Each flag comes from one :class:`~agentaudit.config.Setting`, so a flag, its environment
variable and its config-file key cannot drift apart (``--grpc-port`` =
``AGENTAUDIT_GRPC_PORT`` = ``grpc_port``).
"""

from __future__ import annotations

import argparse

from agentaudit.config import SETTINGS, Config, Setting, load_config

__all__ = ["add_setting_flags", "config_from"]


def _add(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, s: Setting) -> None:
    help_text = f"{s.help} [{s.env}]"
    if s.is_switch:
        parser.add_argument(
            s.option, dest=s.name, action="store_true", default=None, help=help_text
        )
    else:
        parser.add_argument(s.option, dest=s.name, metavar=s.metavar, default=None, help=help_text)


def add_setting_flags(
    parser: argparse.ArgumentParser, *groups: str
) -> argparse._MutuallyExclusiveGroup | None:
    """Add the flags of the settings in ``groups``; returns the ``--store``/``--clickhouse``
    group when ``store`` is among them (callers may add a third way to it)."""
    where = None
    for setting in SETTINGS:
        if setting.group not in groups:
            continue
        if setting.name in ("store", "clickhouse_url"):
            where = where or parser.add_mutually_exclusive_group()
            _add(where, setting)
        else:
            _add(parser, setting)
    return where


def config_from(args: argparse.Namespace) -> Config:
    """The Config of a parsed command line (flags not given fall back to env and file)."""
    flags = {s.name: getattr(args, s.name, None) for s in SETTINGS if s.group != "env"}
    return load_config(flags)
