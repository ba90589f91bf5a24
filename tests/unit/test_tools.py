"""netra.agents.tools: calculator, notes, clock and timer, called as the engine calls them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netra.agents.context import ExecutionContextFactory, UserExecutionContext
from netra.agents.tools import BUILTIN_TOOLS, ToolError
from netra.agents.tools.calculator import CALCULATOR, MAX_EXPRESSION_LENGTH, evaluate
from netra.agents.tools.clock import CLOCK
from netra.agents.tools.notes import MAX_NOTE_LENGTH, MAX_NOTES, NOTES
from netra.agents.tools.timer import MAX_SECONDS, TIMER
from netra.db.engine import Database
from netra.ids import new_id
from netra.realtime.bus import InMemoryEventBus
from netra.realtime.log import EventLogWriter
from netra.state.store import MemoryStateStore
from netra.testing.fixtures import TEST_INSTANCE

MakeContext = Callable[[str], UserExecutionContext]


@pytest.fixture
async def make_context(tmp_path: Path) -> AsyncIterator[MakeContext]:
    """Contexts from the real factory; the tools here never touch the (unmigrated) database."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    factory = ExecutionContextFactory(
        EventLogWriter(db, InMemoryEventBus(), TEST_INSTANCE), MemoryStateStore()
    )

    def make(user_id: str) -> UserExecutionContext:
        return factory.create(user_id, new_id("thr"), new_id("run"), "assistant")

    yield make
    await db.dispose()


@pytest.fixture
def ctx(make_context: MakeContext) -> UserExecutionContext:
    return make_context(new_id("usr"))


def test_builtin_tools_have_unique_names_and_object_schemas() -> None:
    names = [tool.name for tool in BUILTIN_TOOLS]
    assert names == ["calculator", "clock", "notes", "timer"]
    assert all(tool.spec.parameters["type"] == "object" for tool in BUILTIN_TOOLS)


# -- calculator -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("12 * (3 + 4)", 84),
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),  # left associative
        ("2 ^ 10", 1024),  # ^ means power, not xor
        ("2 ** 3 ** 2", 512),  # power is right associative
        ("-3 ** 2", -9),
        ("(-3) ** 2", 9),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("+-3", -3),
        ("1.5 * 2", 3.0),
        ("2 ** -1", 0.5),
        ("((((1))))", 1),
        ("2 ** 1000", 2**1000),
    ],
)
def test_evaluate(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["1 / 0", "1 // 0", "5 % 0", "1 / (2 - 2)", "0 ** -1"])
def test_division_by_zero_is_a_tool_error(expression: str) -> None:
    with pytest.raises(ToolError, match="division by zero"):
        evaluate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "x + 1",
        "__import__('os').system('true')",
        "abs(-3)",
        "(1).real",
        "().__class__",
        "[1, 2]",
        "'a' * 3",
        "True + 1",
        "1 if 1 else 2",
        "1 < 2",
        "1 and 2",
        "~1",
        "1 << 4",
        "1j * 2",
        "(lambda: 1)()",
    ],
)
def test_names_calls_attributes_and_other_syntax_are_rejected(expression: str) -> None:
    with pytest.raises(ToolError, match="only numbers"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["2 +", "", "1 2", "(1 + 2", "import os"])
def test_unparsable_input_is_a_tool_error(expression: str) -> None:
    with pytest.raises(ToolError, match="not an arithmetic expression"):
        evaluate(expression)


@pytest.mark.parametrize("expression", ["2 ** 1001", "2 ^ 5000", "2 ** -1001", "2 ** (1000 + 1)"])
def test_huge_exponent_is_rejected(expression: str) -> None:
    with pytest.raises(ToolError, match="exponent larger than 1000"):
        evaluate(expression)


def test_float_overflow_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="too large"):
        evaluate("10.0 ** 400")


@pytest.mark.parametrize(
    "expression",
    [
        # Each exponent is allowed, but the results are millions of digits: CPU and memory
        # on the event loop, and integers that json.dumps refuses (over 4300 digits).
        "(2 ** 1000) ** 1000",
        "9 ** 1000 * 9 ** 1000 * 9 ** 1000 * 9 ** 1000 * 9 ** 1000",
    ],
)
def test_integer_results_too_large_to_use_are_rejected(expression: str) -> None:
    with pytest.raises(ToolError, match="too large"):
        evaluate(expression)


@pytest.mark.parametrize(
    "expression",
    [
        # Complex, infinite and NaN results are not JSON (PostgreSQL's json type rejects
        # Infinity/NaN; json.dumps rejects complex), so the run would die writing the event.
        "(-8) ** (1 / 3)",
        "(-1) ** 0.5",
        "1e308 * 10",
        "1e309",
        "1e308 * 10 - 1e308 * 10",
    ],
)
def test_results_that_are_not_finite_real_numbers_are_rejected(expression: str) -> None:
    with pytest.raises(ToolError):
        evaluate(expression)


def test_expression_length_limit() -> None:
    longest = "1" + "+1" * 99 + "0"
    assert len(longest) == MAX_EXPRESSION_LENGTH
    assert evaluate(longest) == 1 + 99 - 1 + 10
    with pytest.raises(ToolError, match=f"longer than {MAX_EXPRESSION_LENGTH}"):
        evaluate(longest + "0")


async def test_calculator_tool_returns_expression_and_tidy_value(
    ctx: UserExecutionContext,
) -> None:
    assert await CALCULATOR.run(ctx, {"expression": "6 / 3"}) == {"expression": "6 / 3", "value": 2}
    value = (await CALCULATOR.run(ctx, {"expression": "1 / 4"}))["value"]
    assert value == 0.25
    whole = (await CALCULATOR.run(ctx, {"expression": "6 / 3"}))["value"]
    assert type(whole) is int


@pytest.mark.parametrize("args", [{}, {"expression": ""}, {"expression": "   "}, {"expression": 5}])
async def test_calculator_tool_needs_an_expression(
    ctx: UserExecutionContext, args: dict[str, Any]
) -> None:
    with pytest.raises(ToolError, match="`expression` must be a non-empty string"):
        await CALCULATOR.run(ctx, args)


# -- notes ----------------------------------------------------------------------
async def test_notes_add_list_clear(ctx: UserExecutionContext) -> None:
    assert await NOTES.run(ctx, {"action": "list"}) == {"notes": []}
    assert await NOTES.run(ctx, {"action": "add", "text": "buy milk"}) == {"notes": ["buy milk"]}
    assert await NOTES.run(ctx, {"action": "add", "text": "  call mom  "}) == {
        "notes": ["buy milk", "call mom"]
    }
    assert await NOTES.run(ctx, {"action": "list"}) == {"notes": ["buy milk", "call mom"]}
    assert await NOTES.run(ctx, {"action": "clear"}) == {"notes": []}
    assert await NOTES.run(ctx, {"action": "list"}) == {"notes": []}


async def test_notes_default_action_is_list(ctx: UserExecutionContext) -> None:
    await NOTES.run(ctx, {"action": "add", "text": "one"})
    assert await NOTES.run(ctx, {}) == {"notes": ["one"]}


async def test_notes_persist_across_runs_of_the_same_user(make_context: MakeContext) -> None:
    user_id = new_id("usr")
    await NOTES.run(make_context(user_id), {"action": "add", "text": "from run one"})
    later_run = make_context(user_id)
    assert await NOTES.run(later_run, {"action": "list"}) == {"notes": ["from run one"]}


async def test_notes_are_isolated_between_users(make_context: MakeContext) -> None:
    alice, bob = make_context(new_id("usr")), make_context(new_id("usr"))
    await NOTES.run(alice, {"action": "add", "text": "alice's secret"})
    assert await NOTES.run(bob, {"action": "list"}) == {"notes": []}
    await NOTES.run(bob, {"action": "add", "text": "bob's note"})
    await NOTES.run(bob, {"action": "clear"})
    assert await NOTES.run(alice, {"action": "list"}) == {"notes": ["alice's secret"]}


async def test_notes_keep_only_the_newest(ctx: UserExecutionContext) -> None:
    for number in range(MAX_NOTES + 2):
        await NOTES.run(ctx, {"action": "add", "text": f"note {number}"})
    notes = (await NOTES.run(ctx, {"action": "list"}))["notes"]
    assert len(notes) == MAX_NOTES
    assert notes[0] == "note 2"
    assert notes[-1] == f"note {MAX_NOTES + 1}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"action": "add"}, "`text` must be a non-empty string"),
        ({"action": "add", "text": "   "}, "`text` must be a non-empty string"),
        ({"action": "add", "text": 3}, "`text` must be a non-empty string"),
        ({"action": "add", "text": "x" * (MAX_NOTE_LENGTH + 1)}, f"at most {MAX_NOTE_LENGTH}"),
        ({"action": "delete"}, "unknown action 'delete'"),
    ],
)
async def test_notes_argument_errors(
    ctx: UserExecutionContext, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await NOTES.run(ctx, args)
    assert await NOTES.run(ctx, {"action": "list"}) == {"notes": []}


async def test_note_of_maximum_length_is_kept(ctx: UserExecutionContext) -> None:
    text = "x" * MAX_NOTE_LENGTH
    assert await NOTES.run(ctx, {"action": "add", "text": text}) == {"notes": [text]}


# -- clock ----------------------------------------------------------------------
async def _clock(ctx: UserExecutionContext, args: dict[str, Any]) -> tuple[datetime, str]:
    before = datetime.now(UTC).replace(microsecond=0)
    result = await CLOCK.run(ctx, args)
    after = datetime.now(UTC)
    moment = datetime.fromisoformat(result["iso"])
    assert before <= moment <= after
    return moment, result["timezone"]


@pytest.mark.parametrize("args", [{}, {"timezone": "UTC"}, {"timezone": ""}, {"timezone": None}])
async def test_clock_defaults_to_utc(ctx: UserExecutionContext, args: dict[str, Any]) -> None:
    moment, zone = await _clock(ctx, args)
    assert moment.utcoffset() == timedelta(0)
    assert zone == "UTC"


async def test_clock_in_a_named_zone(ctx: UserExecutionContext) -> None:
    moment, zone = await _clock(ctx, {"timezone": "Asia/Kolkata"})  # +05:30, no DST
    assert moment.utcoffset() == timedelta(hours=5, minutes=30)
    assert zone == "Asia/Kolkata"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "Not A Zone", 5])
async def test_clock_unknown_zone_is_a_tool_error(ctx: UserExecutionContext, zone: object) -> None:
    with pytest.raises(ToolError, match="unknown time zone"):
        await CLOCK.run(ctx, {"timezone": zone})


# -- timer ----------------------------------------------------------------------
@pytest.mark.parametrize("seconds", [0, 0.0])
async def test_timer_zero_seconds(ctx: UserExecutionContext, seconds: float) -> None:
    assert await TIMER.run(ctx, {"seconds": seconds}) == {"waited_seconds": seconds}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "must be a number"),
        ({"seconds": "5"}, "must be a number"),
        ({"seconds": True}, "must be a number"),
        ({"seconds": None}, "must be a number"),
        ({"seconds": -1}, f"between 0 and {MAX_SECONDS}"),
        ({"seconds": MAX_SECONDS + 0.5}, f"between 0 and {MAX_SECONDS}"),
    ],
)
async def test_timer_argument_errors(
    ctx: UserExecutionContext, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await TIMER.run(ctx, args)
