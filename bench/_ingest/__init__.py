"""The machinery of ``python -m bench ingest`` (bench_ingest.py) that is not the collector.

* :mod:`.workload` - the spans (~15 attributes, shaped like audited tool calls) and the
  OTLP requests the SDK's own encoder builds from them;
* :mod:`.clients` - the sender processes: SDK exporters, or replaying pre-encoded
  requests over OTLP/gRPC or OTLP/HTTP; the same senders feed the collector and Phoenix;
* :mod:`.procfs` - CPU time of a process tree and the load average, from ``/proc``;
* :mod:`.environment` - a peer's own virtual environment, built once and reused;
* :mod:`.phoenix` - Arize Phoenix installed in its own environment, run as a server and
  fed the same requests (``python -m bench._ingest.phoenix`` runs it alone).
"""
