"""netra.realtime.frames.parse_frame: client frames in, actionable FrameErrors out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netra.realtime.frames import (
    AuthFrame,
    CancelFrame,
    FrameError,
    PingFrame,
    SubscribeFrame,
    UserMessageFrame,
    parse_frame,
)


def frame_error(frame: Any) -> FrameError:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    return info.value


# -- valid frames -----------------------------------------------------------------
def test_auth_frame() -> None:
    frame = parse_frame('{"type": "auth", "token": "abc.def.ghi"}')
    assert isinstance(frame, AuthFrame)
    assert frame.token == "abc.def.ghi"


def test_minimal_user_message() -> None:
    frame = parse_frame('{"type": "user_message", "text": "hi"}')
    assert isinstance(frame, UserMessageFrame)
    assert (frame.text, frame.thread_id, frame.agent, frame.client_msg_id) == (
        "hi",
        None,
        None,
        None,
    )


def test_full_user_message_keeps_text_verbatim() -> None:
    raw = {
        "type": "user_message",
        "text": "  spaced  ",
        "thread_id": "thr_x",
        "agent": "assistant",
        "client_msg_id": "c-1",
    }
    frame = parse_frame(json.dumps(raw))
    assert isinstance(frame, UserMessageFrame)
    assert frame.model_dump() == raw


def test_user_message_with_null_thread_starts_a_new_thread() -> None:
    frame = parse_frame('{"type": "user_message", "text": "hi", "thread_id": null}')
    assert isinstance(frame, UserMessageFrame)
    assert frame.thread_id is None


@pytest.mark.parametrize(
    ("raw", "after_seq"), [({}, 0), ({"after_seq": 0}, 0), ({"after_seq": 17}, 17)]
)
def test_subscribe_frame(raw: dict[str, Any], after_seq: int) -> None:
    frame = parse_frame(json.dumps({"type": "subscribe", "thread_id": "thr_x", **raw}))
    assert isinstance(frame, SubscribeFrame)
    assert (frame.thread_id, frame.after_seq) == ("thr_x", after_seq)


def test_cancel_frame() -> None:
    frame = parse_frame('{"type": "cancel", "run_id": "run_x"}')
    assert isinstance(frame, CancelFrame)
    assert frame.run_id == "run_x"


def test_ping_frame() -> None:
    assert isinstance(parse_frame('{"type": "ping"}'), PingFrame)


# -- rejected frames --------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["", "{", "not json", "{'type': 'ping'}", '{"type": "ping"} trailing']
)
def test_invalid_json(text: str) -> None:
    error = frame_error(text)
    assert error.code == "invalid_json"
    assert error.to_frame() == {"type": "error", "code": "invalid_json", "message": error.message}


@pytest.mark.parametrize("text", ["[]", '["ping"]', '"ping"', "42", "null", "true"])
def test_non_object(text: str) -> None:
    error = frame_error(text)
    assert error.code == "invalid_frame"
    assert "JSON object" in error.message


@pytest.mark.parametrize("kind", ["launch_missiles", "", "AUTH", None, 3])
def test_unknown_type_lists_the_known_ones(kind: Any) -> None:
    error = frame_error({"type": kind})
    assert error.code == "unknown_type"
    assert repr(kind) in error.message
    assert "auth, user_message, subscribe, cancel, ping" in error.message


def test_missing_type_is_unknown_type() -> None:
    error = frame_error({"text": "hi"})
    assert error.code == "unknown_type"
    assert "None" in error.message


def test_unknown_type_echoes_client_msg_id() -> None:
    error = frame_error({"type": "shout", "client_msg_id": "c-42"})
    assert error.client_msg_id == "c-42"
    assert error.to_frame()["client_msg_id"] == "c-42"


def test_non_string_client_msg_id_is_not_echoed() -> None:
    error = frame_error({"type": "shout", "client_msg_id": {"nested": True}})
    assert error.client_msg_id is None
    assert "client_msg_id" not in error.to_frame()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "auth"}, "token"),
        ({"type": "user_message"}, "text"),
        ({"type": "subscribe"}, "thread_id"),
        ({"type": "cancel"}, "run_id"),
    ],
)
def test_missing_field_is_named(frame: dict[str, Any], field: str) -> None:
    error = frame_error(frame)
    assert error.code == "invalid_frame"
    assert error.message.startswith(f"{field}:")
    assert "required" in error.message.lower()


def test_invalid_user_message_echoes_client_msg_id() -> None:
    error = frame_error({"type": "user_message", "text": "", "client_msg_id": "c-7"})
    assert error.code == "invalid_frame"
    assert error.message.startswith("text:")
    assert error.to_frame() == {
        "type": "error",
        "code": "invalid_frame",
        "message": error.message,
        "client_msg_id": "c-7",
    }


@pytest.mark.parametrize(
    ("frame", "extra"),
    [
        ({"type": "ping", "payload": 1}, "payload"),
        ({"type": "auth", "token": "t", "user_id": "usr_x"}, "user_id"),
        ({"type": "cancel", "run_id": "run_x", "force": True}, "force"),
    ],
)
def test_extra_fields_are_rejected(frame: dict[str, Any], extra: str) -> None:
    error = frame_error(frame)
    assert error.code == "invalid_frame"
    assert error.message.startswith(f"{extra}:")


@pytest.mark.parametrize("after_seq", [-1, -100])
def test_negative_after_seq(after_seq: int) -> None:
    error = frame_error({"type": "subscribe", "thread_id": "thr_x", "after_seq": after_seq})
    assert error.code == "invalid_frame"
    assert error.message.startswith("after_seq:")


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "auth", "token": ""}, "token"),
        ({"type": "auth", "token": "t" * 4097}, "token"),
        ({"type": "user_message", "text": 5}, "text"),
        ({"type": "user_message", "text": "hi", "thread_id": "t" * 65}, "thread_id"),
        ({"type": "user_message", "text": "hi", "client_msg_id": "c" * 129}, "client_msg_id"),
        ({"type": "subscribe", "thread_id": "thr_x", "after_seq": "abc"}, "after_seq"),
        ({"type": "cancel", "run_id": None}, "run_id"),
    ],
)
def test_bad_field_values_are_named(frame: dict[str, Any], field: str) -> None:
    error = frame_error(frame)
    assert error.code == "invalid_frame"
    assert error.message.startswith(f"{field}:")


# -- strict types, NUL and nesting (issue 12) ------------------------------------------
@pytest.mark.parametrize("after_seq", ['"5"', "true", "1e3", "5.0"])
def test_after_seq_must_be_a_json_integer(after_seq: str) -> None:
    error = frame_error(f'{{"type": "subscribe", "thread_id": "thr_x", "after_seq": {after_seq}}}')
    assert (error.code, error.message.split(":")[0]) == ("invalid_frame", "after_seq")


@pytest.mark.parametrize("field", ["text", "thread_id", "agent", "client_msg_id"])
def test_string_fields_take_no_numbers(field: str) -> None:
    frame: dict[str, Any] = {"type": "user_message", "text": "hi", field: 5}
    assert frame_error(frame).code == "invalid_frame"


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "user_message", "text": "a\x00b"},
        {"type": "user_message", "text": "hi", "thread_id": "thr_\x00"},
        {"type": "subscribe", "thread_id": "\x00"},
        {"type": "cancel", "run_id": "run_\x00"},
        {"type": "auth", "token": "a\x00"},
    ],
)
def test_nul_anywhere_is_an_invalid_frame(frame: dict[str, Any]) -> None:
    error = frame_error(frame)
    assert error.code == "invalid_frame"
    assert "NUL" in error.message


@pytest.mark.parametrize("depth", [1_100, 100_000])
def test_deeply_nested_json_is_invalid_json_not_a_recursion_error(depth: int) -> None:
    assert frame_error("[" * depth + "]" * depth).code == "invalid_json"
    nested = '{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}"
    assert frame_error(nested).code == "invalid_json"
