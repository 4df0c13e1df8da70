"""The labelled corpus and the scoring of ``python -m bench detector`` (bench_detector.py).

* :mod:`.calls` — sessions of steps into ``Call`` objects with ids, times and provenance,
  then through the collector's own redaction and row normaliser (what the detector reads);
* :mod:`.agentdojo` — AgentDojo's user tasks (benign) and injection tasks (attacks), by
  their ground-truth function calls, as the traffic of one agent per suite;
* :mod:`.scenarios` — our agents: weeks of ordinary traffic, six attack classes and their
  near-miss benign twins;
* :mod:`.score` — the real ``Detector`` over each agent's stream in time order, and what
  counts as detected, missed and false;
* :mod:`.latency` — export to quarantine with real processes (``agentaudit up``, an
  instrumented agent).
"""
