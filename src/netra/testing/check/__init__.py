"""`netra check`: a fast static scanner for tests that cannot fail.

The command lives in `netra.testing.check.command`; the engine (walk, parse
once, cache, parallelise) in `engine`; one rule per module in `rules/`;
output formats in `reporters/`. See docs/check.md for the rule catalogue.
"""
