"""Every pass-1 collector module; importing this registers them all (``base.COLLECTORS``)."""

from asyncmend.codemods.facts import locks, routes, sessions, summaries, transactions

__all__ = ["locks", "routes", "sessions", "summaries", "transactions"]
