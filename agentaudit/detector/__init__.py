"""The detector: per-agent behavioural baselines, findings, and the automatic revocation
path the agent cannot trigger (docs/detector.md).

It reads every stored tool call (following the writer's committed batches inside
``agentaudit up``, or the store by a watermark as ``agentaudit detect --follow``), keeps a
baseline per agent learned from that agent's history, and raises a
:class:`~agentaudit.detector.model.Finding` when live behaviour leaves it. A policy maps
findings to actions carried out by the revocation service (requested by ``detector``)
and to alerts; responders triage findings on the dashboard.
"""

# The rules load before any other detector module: ``card_rule`` (rule ``off_card``)
# subclasses ``rules.Rule`` and ``rules`` registers it, so ``rules`` must come first.
from agentaudit.detector import rules as _rules  # noqa: F401
