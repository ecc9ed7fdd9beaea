"""Every pass-1 collector module; importing this registers them all (``base.COLLECTORS``)."""

from asyncmend.codemods.facts import locks, models, routes, sessions, summaries, transactions

__all__ = ["locks", "models", "routes", "sessions", "summaries", "transactions"]
