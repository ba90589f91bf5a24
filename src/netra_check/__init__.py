"""netra-check: a fast static scanner for tests that cannot fail.

A package of its own that imports nothing from `netra` and needs only the
standard library, so any repository (and pre-commit) can run it. The command
lives in `command` (`netra-check`, and `netra check` delegates to it); the
engine (walk, parse once, cache, parallelise) in `engine`; one rule per module
in `rules/`; output formats in `reporters/`. See docs/check.md.
"""

__version__ = "0.1.0"  # also the version of the netra-check distribution (packages/netra-check)
