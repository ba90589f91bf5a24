"""netra.testing.ws.EventValidator: one test per invariant violation it must catch."""

from __future__ import annotations

from typing import Any

import pytest

from netra.testing.ws import EventValidator, Frame

THREAD = "thr_01JD2Z3ABCDEFGHJKMNPQRSTVW"
OTHER_THREAD = "thr_01JD2Z3ABCDEFGHJKMNPQRSTVX"
RUN = "run_01JD2Z3ABCDEFGHJKMNPQRSTVW"
TS = "2026-11-21T10:00:00.123Z"


def event(type_: str, seq: int, *, thread: str = THREAD, run: str = RUN, **data: Any) -> Frame:
    return {
        "type": type_,
        "event_id": f"evt_{seq:026d}",
        "thread_id": thread,
        "run_id": run,
        "seq": seq,
        "ts": TS,
        "data": data,
    }


def stream(*specs: tuple[str, dict[str, Any]], start: int = 1, **where: Any) -> list[Frame]:
    """Events with consecutive seqs from `start`."""
    return [event(t, start + i, **where, **data) for i, (t, data) in enumerate(specs)]


STARTED = ("agent_started", {"agent": "assistant", "input": "hi"})
THINKING = ("agent_thinking", {"text": "hmm"})
EXECUTING = ("tool_executing", {"tool_call_id": "tc_1", "tool": "calculator", "args": {}})
COMPLETED_TOOL = ("tool_completed", {"tool_call_id": "tc_1", "tool": "calculator", "result": 2})
DELTA = ("agent_message_delta", {"message_id": "msg_1", "delta": "2"})
COMPLETED = ("agent_completed", {"message_id": "msg_1", "text": "2", "usage": {}})
ERROR = ("agent_error", {"code": "timeout", "message": "too slow"})
CANCELLED = ("agent_cancelled", {"reason": "cancelled_by_user"})


@pytest.fixture
def golden() -> list[Frame]:
    return stream(STARTED, THINKING, EXECUTING, COMPLETED_TOOL, DELTA, COMPLETED)


def only_problem(validator: EventValidator, events: list[Frame], **options: Any) -> str:
    problems = validator.violations(events, **options)
    assert len(problems) == 1, problems
    return problems[0]


# -- valid streams ----------------------------------------------------------------
def test_golden_stream_is_valid(event_validator: EventValidator, golden: list[Frame]) -> None:
    options = {"allowed_threads": [THREAD], "complete": True, "require_critical": True}
    assert event_validator.violations(golden, **options) == []
    event_validator.assert_valid(golden, **options)


@pytest.mark.parametrize("terminal", [ERROR, CANCELLED])
def test_failed_and_cancelled_runs_are_valid(
    event_validator: EventValidator, terminal: tuple[str, dict[str, Any]]
) -> None:
    events = stream(
        STARTED, EXECUTING, ("tool_completed", {"tool_call_id": "tc_1", "error": "x"}), terminal
    )
    assert event_validator.violations(events, require_critical=True) == []


def test_two_threads_interleaved_have_independent_seqs(event_validator: EventValidator) -> None:
    other_run = "run_01JD2Z3ABCDEFGHJKMNPQRSTVX"
    mine = stream(STARTED, THINKING, COMPLETED)
    theirs = stream(STARTED, THINKING, COMPLETED, thread=OTHER_THREAD, run=other_run)
    interleaved = [e for pair in zip(mine, theirs, strict=True) for e in pair]
    assert event_validator.violations(interleaved) == []


def test_consecutive_runs_on_one_thread_are_valid(event_validator: EventValidator) -> None:
    second_run = "run_01JD2Z3ABCDEFGHJKMNPQRSTVX"
    events = stream(STARTED, THINKING, COMPLETED) + stream(
        STARTED, THINKING, COMPLETED, start=4, run=second_run
    )
    assert event_validator.violations(events) == []


# -- envelope and ordering --------------------------------------------------------
@pytest.mark.parametrize("field", ["type", "event_id", "thread_id", "run_id", "seq", "ts", "data"])
def test_missing_envelope_field(
    event_validator: EventValidator, golden: list[Frame], field: str
) -> None:
    del golden[1][field]
    problem = only_problem(event_validator, golden, complete=False)
    assert "envelope lacks" in problem
    assert repr(field) in problem


def test_unknown_event_type(event_validator: EventValidator, golden: list[Frame]) -> None:
    golden[1]["type"] = "agent_dreaming"
    # Each problem names the event: its index in the list, its type and its seq.
    assert only_problem(event_validator, golden) == (
        "event #1 (agent_dreaming, seq 2): unknown event type 'agent_dreaming'"
    )


def test_an_event_without_its_envelope_does_not_end_the_check(
    event_validator: EventValidator, golden: list[Frame]
) -> None:
    del golden[1]["data"]
    golden[3]["type"] = "agent_dreaming"
    assert event_validator.violations(golden, complete=False) == [
        "event #1 (agent_thinking, seq 2): envelope lacks ['data']",
        "event #3 (agent_dreaming, seq 4): unknown event type 'agent_dreaming'",
    ]


@pytest.mark.parametrize("seqs", [[1, 2, 2], [1, 3, 2]])
def test_non_increasing_seq(event_validator: EventValidator, seqs: list[int]) -> None:
    events = stream(STARTED, THINKING, COMPLETED)
    for e, seq in zip(events, seqs, strict=True):
        e["seq"] = seq
    problems = event_validator.violations(events, complete=False)
    assert any("not increasing" in p and f"seq {seqs[2]} after" in p for p in problems), problems


def test_a_seq_that_went_back_does_not_lower_the_bar(event_validator: EventValidator) -> None:
    events = stream(STARTED, THINKING, DELTA, COMPLETED)
    for e, seq in zip(events, [1, 3, 2, 3], strict=True):
        e["seq"] = seq
    # The last event repeats seq 3: still not increasing, though it follows a 2.
    assert event_validator.violations(events, complete=False) == [
        f"event #2 (agent_message_delta, seq 2): seq 2 after 3 in {THREAD}: not increasing",
        f"event #3 (agent_completed, seq 3): seq 3 after 3 in {THREAD}: not increasing",
    ]


@pytest.mark.parametrize("seq", [0, -1, "3", None])
@pytest.mark.parametrize("complete", [True, False])
def test_a_seq_that_is_not_a_positive_integer_is_a_violation(
    event_validator: EventValidator, seq: Any, complete: bool
) -> None:
    # A later part of a history (complete=False) has no first seq to compare with, so
    # only this check catches a seq of 0 there; a string or None raised TypeError.
    events = stream(STARTED, THINKING, DELTA, start=5)
    events[0]["seq"] = seq
    problem = f"event #0 (agent_started, seq {seq}): seq {seq!r} is not a positive integer"
    problems = event_validator.violations(events, complete=complete)
    if complete:  # also a gap and no end: whatever else is wrong, this is said
        assert problem in problems
    else:  # the events after it are checked as usual, and are fine
        assert problems == [problem]


def test_gap_is_a_violation_in_a_complete_history(event_validator: EventValidator) -> None:
    events = stream(STARTED, THINKING, COMPLETED)
    events[2]["seq"] = 4
    problem = only_problem(event_validator, events, complete=True)
    assert "gap" in problem
    assert "seq 2 then 4" in problem


def test_complete_history_must_start_at_seq_1(event_validator: EventValidator) -> None:
    events = stream(STARTED, THINKING, COMPLETED, start=5)
    assert "gap" in only_problem(event_validator, events, complete=True)


def test_gap_is_allowed_in_a_partial_history(event_validator: EventValidator) -> None:
    events = stream(THINKING, DELTA, COMPLETED, start=5)
    events[2]["seq"] = 9
    assert event_validator.violations(events, complete=False) == []


# -- run structure ----------------------------------------------------------------
def test_first_event_must_be_agent_started(event_validator: EventValidator) -> None:
    events = stream(THINKING, STARTED, COMPLETED)
    problems = event_validator.violations(events)
    assert any("first event is agent_thinking, not agent_started" in p for p in problems)


def test_agent_started_twice(event_validator: EventValidator) -> None:
    events = stream(STARTED, STARTED, COMPLETED)
    assert "agent_started appears 2 times" in only_problem(event_validator, events)


def test_two_terminal_events(event_validator: EventValidator) -> None:
    events = stream(STARTED, THINKING, COMPLETED, ERROR)
    problem = only_problem(event_validator, events)
    assert "2 terminal events" in problem
    assert "agent_completed" in problem
    assert "agent_error" in problem


def test_terminal_event_must_be_last(event_validator: EventValidator) -> None:
    events = stream(STARTED, COMPLETED, THINKING)
    problem = only_problem(event_validator, events)
    assert "agent_completed is not the last event of the run" in problem


def test_complete_run_needs_a_terminal_event(event_validator: EventValidator) -> None:
    events = stream(STARTED, THINKING)
    assert "no terminal event" in only_problem(event_validator, events, complete=True)
    assert event_validator.violations(events, complete=False) == []


def test_a_run_without_an_end_is_one_problem_not_one_per_open_tool_call(
    event_validator: EventValidator,
) -> None:
    events = stream(STARTED, THINKING, EXECUTING)  # the call is open because the run never ended
    assert event_validator.violations(events, complete=True) == [f"run {RUN}: no terminal event"]


# -- tool calls -------------------------------------------------------------------
def test_tool_completed_without_tool_executing(event_validator: EventValidator) -> None:
    events = stream(STARTED, COMPLETED_TOOL, COMPLETED)
    assert only_problem(event_validator, events) == (
        f"run {RUN}: tool_completed for tc_1 without a tool_executing before it"
    )


def test_tool_completed_before_its_tool_executing(event_validator: EventValidator) -> None:
    events = stream(STARTED, COMPLETED_TOOL, EXECUTING, COMPLETED)
    problems = event_validator.violations(events)
    assert any("without a tool_executing before it" in p for p in problems)
    assert any("tool call tc_1 never completed" in p for p in problems)


def test_tool_call_never_completed(event_validator: EventValidator) -> None:
    events = stream(STARTED, EXECUTING, ERROR)
    assert "tool call tc_1 never completed" in only_problem(event_validator, events)


def test_tool_call_started_twice(event_validator: EventValidator) -> None:
    events = stream(STARTED, EXECUTING, EXECUTING, COMPLETED_TOOL, COMPLETED)
    assert "tool call tc_1 started twice" in only_problem(event_validator, events)


@pytest.mark.parametrize(
    "data",
    [
        {"tool_call_id": "tc_1", "tool": "calculator", "result": 2, "error": "x"},
        {"tool_call_id": "tc_1", "tool": "calculator"},
    ],
    ids=["both", "neither"],
)
def test_tool_completed_needs_result_xor_error(
    event_validator: EventValidator, data: dict[str, Any]
) -> None:
    events = stream(STARTED, EXECUTING, ("tool_completed", data), COMPLETED)
    assert "needs result xor error" in only_problem(event_validator, events)


def test_error_without_result_is_fine(event_validator: EventValidator) -> None:
    failed_tool = ("tool_completed", {"tool_call_id": "tc_1", "tool": "x", "error": "boom"})
    events = stream(STARTED, THINKING, EXECUTING, failed_tool, COMPLETED)
    assert event_validator.violations(events, require_critical=True) == []


# -- isolation and critical events ------------------------------------------------
def test_event_from_a_foreign_thread(event_validator: EventValidator, golden: list[Frame]) -> None:
    problems = event_validator.violations(golden, allowed_threads=[OTHER_THREAD])
    assert len(problems) == len(golden)
    assert all(f"belongs to thread {THREAD}, not one of this user's" in p for p in problems)


def test_allowed_threads_accepts_any_of_several(
    event_validator: EventValidator, golden: list[Frame]
) -> None:
    assert event_validator.violations(golden, allowed_threads=[OTHER_THREAD, THREAD]) == []


@pytest.mark.parametrize("missing", ["agent_thinking", "tool_executing"])
def test_require_critical_reports_the_missing_event(
    event_validator: EventValidator, missing: str
) -> None:
    specs = [STARTED, THINKING, EXECUTING, COMPLETED_TOOL, COMPLETED]
    drop = {missing} if missing == "agent_thinking" else {"tool_executing", "tool_completed"}
    events = stream(*[s for s in specs if s[0] not in drop])
    problems = event_validator.violations(events, require_critical=True)
    assert f"run {RUN}: completed without {missing}" in problems
    assert event_validator.violations(events, require_critical=False) == []


def test_require_critical_reports_a_missing_tool_completed_in_a_partial_history(
    event_validator: EventValidator,
) -> None:
    events = stream(STARTED, THINKING, EXECUTING, COMPLETED)
    assert event_validator.violations(events, complete=False, require_critical=True) == [
        f"run {RUN}: completed without tool_completed"
    ]


def test_require_critical_ignores_failed_runs(event_validator: EventValidator) -> None:
    events = stream(STARTED, ERROR)
    assert event_validator.violations(events, require_critical=True) == []


# -- assertion helpers ------------------------------------------------------------
def test_assert_valid_lists_every_problem(event_validator: EventValidator) -> None:
    events = stream(THINKING, EXECUTING, COMPLETED)
    with pytest.raises(AssertionError) as info:
        event_validator.assert_valid(events)
    assert str(info.value) == (
        "2 event invariant violation(s):\n"
        f"  run {RUN}: first event is agent_thinking, not agent_started\n"
        f"  run {RUN}: tool call tc_1 never completed"
    )


def test_assert_valid_takes_the_options_of_violations(event_validator: EventValidator) -> None:
    partial = stream(THINKING, DELTA, COMPLETED, start=5)  # a later part of a history
    event_validator.assert_valid(partial, complete=False)
    with pytest.raises(AssertionError, match="gap in"):
        event_validator.assert_valid(partial, complete=True)


def test_assert_same_history_accepts_equal_histories(golden: list[Frame]) -> None:
    copy = [dict(e) for e in golden]
    EventValidator.assert_same_history(golden, copy)
    assert copy == golden


@pytest.mark.parametrize("change", ["data", "drop", "reorder"])
def test_assert_same_history_detects_a_difference(golden: list[Frame], change: str) -> None:
    persisted = [dict(e) for e in golden]
    if change == "data":
        persisted[4] = {**persisted[4], "data": {"message_id": "msg_1", "delta": "3"}}
    elif change == "drop":
        del persisted[2]
    else:
        persisted[1], persisted[2] = persisted[2], persisted[1]
    with pytest.raises(AssertionError, match="live events differ from GET /events"):
        EventValidator.assert_same_history(golden, persisted)


def test_assert_same_history_shows_both_sides_by_seq_and_type(golden: list[Frame]) -> None:
    persisted = [dict(e) for e in golden]
    del persisted[2]
    with pytest.raises(AssertionError) as info:
        EventValidator.assert_same_history(golden[:4], persisted[:3])
    assert str(info.value) == (
        "live events differ from GET /events:\n"
        "  live:   [(1, 'agent_started'), (2, 'agent_thinking'), (3, 'tool_executing'), "
        "(4, 'tool_completed')]\n"
        "  stored: [(1, 'agent_started'), (2, 'agent_thinking'), (4, 'tool_completed')]"
    )
