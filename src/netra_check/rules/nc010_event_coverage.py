"""NC010 critical-event-coverage: required events that no critical test asserts.

What it does:
    For each event in `required_events` (for Netra: `agent_started`,
    `agent_thinking`, `tool_executing`, `tool_completed`, `agent_completed`),
    looks for a test in the `event_category` folder (default
    `tests/mission_critical`) that names the event (as a string such as
    `"tool_completed"`, an identifier such as `EventType.TOOL_COMPLETED`, or a
    module-level constant of the same file that holds such strings, like
    `EXPECTED = ("agent_started", ...)`) and asserts, directly or through a
    helper. Reports the coverage as a percentage on the dashboard and one
    finding per event no such test covers. Nothing is reported while the
    category folder holds no test files.

Why is this bad?
    These events are the product: a user who never sees `tool_completed` sees a
    hung agent. If no test that must pass before anything else checks an event,
    a change can silently stop emitting it.

Example:
    ```python
    # tests/mission_critical/test_golden_path.py
    async def test_golden_path(chat):
        events = await chat.run("use the calculator")
        assert events[0].type == "agent_started"
        assert events[-1].type == "agent_completed"
    ```
    (`agent_thinking`, `tool_executing` and `tool_completed` are never checked.)

Use instead:
    ```python
    async def test_golden_path(chat):
        events = await chat.run("use the calculator")
        assert [e.type for e in events] == [
            "agent_started", "agent_thinking", "tool_executing",
            "tool_completed", "agent_completed",
        ]
    ```
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import NamedTuple

from netra_check.context import FileContext
from netra_check.model import Finding, Metric, Rule
from netra_check.project import Project
from netra_check.rules.nc003_assertion_free import reached_names


class EventTest(NamedTuple):
    """A test in the critical category, the events it names and how it asserts."""

    qualname: str
    events: tuple[str, ...]
    asserts: bool
    callees: tuple[str, ...]


def named_events(
    root: ast.AST, events: tuple[str, ...], constants: dict[str, set[str]] | None = None
) -> set[str]:
    """Required events named under `root`: strings, identifiers, or constants holding them."""
    found: set[str] = set()
    for node in ast.walk(root):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(e for e in events if e in node.value)
        elif isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name.lower() in events:
                found.add(name.lower())
            if constants and isinstance(node, ast.Name) and name in constants:
                found.update(constants[name])
    return found


def module_constants(ctx: FileContext, events: tuple[str, ...]) -> dict[str, set[str]]:
    """Module-level names assigned a value that names events (`FIVE = ("agent_started", ...)`)."""
    constants: dict[str, set[str]] = {}
    for stmt in ctx.module.statements:
        if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            named = named_events(stmt.value, events)
            if named:
                for target in targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = named
    return constants


class CriticalEventCoverage(Rule):
    """See the module docstring."""

    id = "NC010"
    name = "critical-event-coverage"
    summary = "required events not asserted by a critical-category test"
    hint = "add a test in the critical category that asserts the event is emitted"

    def collect(self, ctx: FileContext) -> list[EventTest] | None:
        """The critical tests of this file (even those naming no event: they count the folder)."""
        config = ctx.config
        if ctx.role.category != config.event_category or not ctx.role.is_test_file:
            return None
        events = tuple(e.lower() for e in config.required_events)
        constants = module_constants(ctx, events)
        found = []
        for test in ctx.tests:
            named = named_events(test.node, events, constants)
            state = test.assertion_state(ctx.assertion_matcher)
            asserts = state is True
            callees = () if asserts or not named else ctx.qualify(reached_names(test, state))
            found.append(EventTest(test.qualname, tuple(sorted(named)), asserts, callees))
        return found

    def _coverage(self, project: Project) -> tuple[list[str], set[str], bool]:
        events = [e.lower() for e in project.config.required_events]
        covered: set[str] = set()
        any_tests = False
        for _, tests in project.facts(self.id):
            any_tests = True
            for test in tests:
                if test.events and (test.asserts or project.reaches_assertion(test.callees)):
                    covered.update(test.events)
        return events, covered, any_tests

    def _folder(self, project: Project) -> str:
        config = project.config
        return config.categories.get(config.event_category, config.event_category)

    def check_project(self, project: Project) -> Iterator[Finding]:
        """One finding per required event no critical test asserts."""
        events, covered, any_tests = self._coverage(project)
        if not any_tests:
            return
        folder = self._folder(project)
        for event in events:
            if event not in covered:
                yield Finding(
                    rule_id=self.id,
                    path=folder,
                    line=None,
                    message=f"required event {event!r} is not asserted by any test in {folder} "
                    f"({len(covered)}/{len(events)} covered)",
                    anchor=f"event|{event}",
                )

    def metrics(self, project: Project, findings: list[Finding]) -> list[Metric]:
        """Coverage of the required events by the critical category, as a percentage."""
        events, covered, any_tests = self._coverage(project)
        label = f"Critical-event coverage ({self._folder(project)})"
        if not events or not any_tests:
            return [Metric("event_coverage", label, 0, 100, "n/a", "100%", True, True)]
        percent = 100.0 * len(covered & set(events)) / len(events)
        return [
            Metric(
                key="event_coverage",
                label=label,
                value=percent,
                target=100,
                display=f"{percent:.0f}% ({len(covered & set(events))}/{len(events)})",
                target_display="100%",
                ok=percent >= 100,
                higher_is_better=True,
            )
        ]
