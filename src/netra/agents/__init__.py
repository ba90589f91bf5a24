"""Agents: registry of specs, per-run execution context, the agent loop, tools and models."""
