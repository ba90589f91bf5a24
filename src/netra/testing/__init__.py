"""netra.testing: the single source of truth for writing and running Netra's tests."""
