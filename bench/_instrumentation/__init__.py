"""The machinery of ``python -m bench instrumentation`` (bench_instrumentation.py).

* :mod:`.workload` - registered sources and fresh prompts of a given size (deterministic);
* :mod:`.step` - one fresh process: the model-call step (``record_prompt`` + one
  ``@audited_tool`` call) against its floor, for several source counts and span
  processors, interleaved round by round;
* :mod:`.matching` - one fresh process: source matching alone, against one C substring
  scan per source;
* :mod:`.peerenv` - the peers' own virtualenv (``.bench/peers``), from the package index;
* :mod:`.peers` - one fresh process in that environment: a LangChain step, bare and
  instrumented by agentaudit, OpenInference or OpenLLMetry.
"""
