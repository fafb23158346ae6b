"""Kimiyi Voice core: the domain (workflows, turns, cache policy, languages, failover) and its adapters."""

__version__ = "0.1.0"
