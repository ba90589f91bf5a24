"""Project: every file's cached result, seen together by the cross-file rules."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from netra.testing.check.config import CheckConfig
from netra.testing.check.context import name_matcher
from netra.testing.check.model import FileResult


@dataclass
class Project:
    """The scanned project: root, configuration and one FileResult per Python file."""

    root: Path
    config: CheckConfig
    results: dict[str, FileResult]
    text_files: dict[str, str] = field(default_factory=dict)
    # Per-run scratch space for rules that compute something twice (findings and metrics).
    memo: dict[str, Any] = field(default_factory=dict)

    def facts(self, rule_id: str) -> Iterator[tuple[str, Any]]:
        """(path, facts) for every file where the rule collected something, in path order."""
        for path in sorted(self.results):
            value = self.results[path].facts.get(rule_id)
            if value is not None:
                yield path, value

    @cached_property
    def asserting_names(self) -> frozenset[str]:
        """Names of helpers and fixtures that assert, directly or through other helpers.

        Helpers are matched by name only; when two helpers share a name and one of
        them asserts, the name counts as asserting (the scanner errs towards
        silence rather than false alarms).
        """
        matcher = name_matcher(self.config.assertion_helpers)
        callers: dict[str, set[str]] = defaultdict(set)
        asserting: set[str] = set()
        for result in self.results.values():
            for helper in result.helpers:
                if helper.asserts or (
                    matcher is not None and any(matcher(c) for c in helper.callees)
                ):
                    asserting.add(helper.name)
                else:
                    for callee in helper.callees:
                        callers[callee].add(helper.name)
        queue = list(asserting)
        while queue:
            name = queue.pop()
            for caller in callers.pop(name, ()):
                if caller not in asserting:
                    asserting.add(caller)
                    queue.append(caller)
        return frozenset(asserting)

    def reaches_assertion(self, names: Iterable[str]) -> bool:
        """Whether calling any of `names` runs an assertion."""
        asserting = self.asserting_names
        matcher = name_matcher(self.config.assertion_helpers)
        return any(n in asserting or (matcher is not None and matcher(n)) for n in names)
