"""Who is calling: principals, the tokens that prove them, the registry of agents.

principals (the :class:`~agentaudit.collector.identity.principals.Principal` a request
authenticates as, and the :class:`~agentaudit.collector.identity.principals.Authenticator`
that maps a bearer token to one; standard library only, so receivers and workers use it)
and registry (per-agent tokens, stored hashed, revocable).
"""
