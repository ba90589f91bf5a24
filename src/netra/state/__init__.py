"""Scoped key-value state with TTL (in-process by default)."""
