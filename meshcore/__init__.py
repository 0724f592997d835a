"""Shared pieces of llmesh used by the agent, the coordinator and meshctl:
configuration, errors, hashing, names, and the one place channels and ports are built."""

__version__ = "0.1.0"
