"""The admin API (port 4320) and what only responders may do through it.

api (health, confined investigator queries, metrics) and revocation/ (revocations,
releases, quarantine state, just-in-time credentials, deny-list, alert webhooks).
"""
