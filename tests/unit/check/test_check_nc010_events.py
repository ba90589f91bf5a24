"""NC010: coverage of the required events by the critical category."""

from __future__ import annotations


def coverage(result):
    return next(m for m in result.metrics if m.key == "event_coverage")


def test_full_coverage(workspace) -> None:
    workspace.write(
        "tests/mission_critical/test_events.py",
        """
        def test_order(chat):
            assert [e.type for e in chat.run()] == [
                "agent_started", "agent_thinking", "tool_executing",
                "tool_completed", "agent_completed",
            ]
        """,
    )
    result = workspace.scan()
    assert coverage(result).display == "100% (5/5)"
    assert [f for f in result.findings if f.rule_id == "NC010"] == []


def test_partial_coverage_reports_each_missing_event(workspace) -> None:
    workspace.write(
        "tests/mission_critical/test_events.py",
        """
        from app.events import EventType

        def test_started(chat):
            assert chat.first().type == EventType.AGENT_STARTED

        def test_mentions_but_does_not_assert(chat):
            chat.run("tool_completed")
        """,
    )
    result = workspace.scan()
    assert coverage(result).display == "20% (1/5)"
    missing = sorted(f.anchor for f in result.findings if f.rule_id == "NC010")
    assert missing == [
        "event|agent_completed",
        "event|agent_thinking",
        "event|tool_completed",
        "event|tool_executing",
    ]
    assert all(
        f.path == "tests/mission_critical" and f.line is None
        for f in result.findings
        if f.rule_id == "NC010"
    )


def test_assertion_through_helper_counts(workspace) -> None:
    workspace.write(
        "tests/mission_critical/test_events.py",
        """
        def expect_event(events, name):
            assert name in [e.type for e in events]

        def test_all(chat):
            events = chat.run()
            for name in ("agent_started", "agent_thinking", "tool_executing",
                         "tool_completed", "agent_completed"):
                expect_event(events, name)
        """,
    )
    assert coverage(workspace.scan()).display == "100% (5/5)"


def test_tests_outside_the_category_do_not_count(workspace) -> None:
    workspace.write("tests/mission_critical/test_x.py", "def test_x():\n    assert run()\n")
    workspace.write(
        "tests/unit/test_events.py",
        "def test_x(chat):\n    assert chat.last() == 'agent_started'\n",
    )
    assert coverage(workspace.scan()).display == "0% (0/5)"


def test_no_critical_tests_means_not_applicable(workspace) -> None:
    workspace.write("tests/unit/test_x.py", "def test_x():\n    assert run()\n")
    result = workspace.scan()
    assert coverage(result).display == "n/a"
    assert [f for f in result.findings if f.rule_id == "NC010"] == []


def test_events_and_category_are_configurable(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        """
        [tool.netra.check]
        required_events = ["order_placed", "order_shipped"]
        categories = { smoke = "tests/smoke" }
        no_mock_categories = []
        event_category = "smoke"
        """,
    )
    workspace.write(
        "tests/smoke/test_orders.py",
        "def test_placed(shop):\n    assert shop.events() == ['order_placed']\n",
    )
    result = workspace.scan()
    assert coverage(result).display == "50% (1/2)"


def test_module_constants_named_in_a_test_count(workspace) -> None:
    workspace.write(
        "tests/mission_critical/test_events.py",
        """
        FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed")
        UNUSED = ["agent_completed"]

        def test_order(chat):
            types = [e.type for e in chat.run()]
            assert tuple(t for t in types if t in FIVE) == FIVE
        """,
    )
    result = workspace.scan()
    assert coverage(result).display == "80% (4/5)"
    missing = [f.anchor for f in result.findings if f.rule_id == "NC010"]
    assert missing == ["event|agent_completed"]
