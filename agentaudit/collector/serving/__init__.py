"""HTTP plumbing shared by the OTLP/HTTP receiver and the admin API.

server (uvicorn on a socket bound up front, so a busy port fails at start-up) and
auth (constant-time bearer checks, capped JSON bodies).
"""
