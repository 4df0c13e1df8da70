"""Redaction before disk: secrets and personal data out of spans, by rule packs as data.

Public surface: :class:`Redactor` (build with :meth:`Redactor.from_config` from the config
file's ``[redaction]`` section, then ``redactor.redact(spans)`` on every request between
decoding and the WAL), the :class:`Policy` / :class:`Rule` data model and the packaged
rule packs. See ``docs/redaction.md`` for the rules, actions and exemptions.
"""

from __future__ import annotations

from agentaudit.collector.ingest.redaction._engines import available_engines
from agentaudit.collector.ingest.redaction._key import KEY_ENV, KEY_FILE_NAME
from agentaudit.collector.ingest.redaction._redactor import (
    DIGEST_ATTRIBUTES,
    NESTING_RULE,
    Redactor,
)
from agentaudit.collector.ingest.redaction._rules import (
    Policy,
    Rule,
    available_packs,
    load_pack,
    parse_policy,
)

__all__ = [
    "DIGEST_ATTRIBUTES",
    "KEY_ENV",
    "KEY_FILE_NAME",
    "NESTING_RULE",
    "Policy",
    "Redactor",
    "Rule",
    "available_engines",
    "available_packs",
    "load_pack",
    "parse_policy",
]
