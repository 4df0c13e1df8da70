"""The machinery of ``python -m bench instrumentation`` (bench_instrumentation.py).

* :mod:`.workload` - registered sources and fresh prompts of a given size (deterministic);
* :mod:`.step` - one fresh process: the model-call step (``record_prompt`` + one
  ``@audited_tool`` call) against its floor, for several source counts and span
  processors, interleaved round by round.
"""
