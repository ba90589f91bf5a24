"""netra.ids: prefixed, time-sortable identifiers."""

from __future__ import annotations

import re

import pytest

from netra.ids import BODY_LENGTH, PREFIXES, is_valid, new_id, timestamp_ms

CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]+$")
SOME_MS = 1_732_183_200_123  # 2024-11-21T10:00:00.123Z


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_new_id_has_prefix_underscore_and_26_crockford_chars(prefix: str) -> None:
    value = new_id(prefix)
    head, sep, body = value.partition("_")
    assert (head, sep) == (prefix, "_")
    assert len(body) == BODY_LENGTH == 26
    assert CROCKFORD.match(body), body
    assert is_valid(value, prefix)


def test_body_never_uses_ambiguous_letters() -> None:
    bodies = "".join(new_id("evt").split("_", 1)[1] for _ in range(200))
    assert not set(bodies) & set("ILOU")
    assert bodies == bodies.upper()


def test_ids_are_unique_within_one_millisecond() -> None:
    values = {new_id("msg", now_ms=SOME_MS) for _ in range(500)}
    assert len(values) == 500


def test_ids_sort_by_creation_time() -> None:
    # Crosses base32 digit carries (31 -> 32, 1023 -> 1024) where a naive encoding breaks.
    times = [SOME_MS + delta for delta in (0, 1, 31, 32, 33, 1023, 1024, 86_400_000)]
    values = [new_id("run", now_ms=ms) for ms in reversed(times)]
    assert [timestamp_ms(v) for v in sorted(values)] == times


def test_later_millisecond_always_sorts_after_earlier_one() -> None:
    for _ in range(50):
        earlier = new_id("thr", now_ms=SOME_MS)
        later = new_id("thr", now_ms=SOME_MS + 1)
        assert earlier < later


@pytest.mark.parametrize("ms", [0, 1, SOME_MS, (1 << 48) - 1])
def test_timestamp_round_trip(ms: int) -> None:
    assert timestamp_ms(new_id("usr", now_ms=ms)) == ms


def test_default_timestamp_is_now() -> None:
    value = new_id("usr")
    # An id made now encodes a time after 2024 and before 2100.
    assert 1_704_067_200_000 < timestamp_ms(value) < 4_102_444_800_000


@pytest.mark.parametrize("ms", [-1, 1 << 48])
def test_timestamp_outside_48_bits_is_rejected(ms: int) -> None:
    with pytest.raises(ValueError, match="48 bits"):
        new_id("usr", now_ms=ms)


@pytest.mark.parametrize("prefix", ["user", "USR", "", "thr_", "xyz"])
def test_unknown_prefix_raises_naming_it(prefix: str) -> None:
    with pytest.raises(ValueError, match="unknown id prefix") as info:
        new_id(prefix)
    assert repr(prefix) in str(info.value)


def test_is_valid_rejects_wrong_prefix() -> None:
    value = new_id("thr")
    assert is_valid(value, "thr")
    assert not is_valid(value, "usr")
    assert not is_valid("usr" + value[3:], "thr")


@pytest.mark.parametrize(
    "body",
    [
        "0" * 25,  # too short
        "0" * 27,  # too long
        "",
        "0" * 25 + "I",  # excluded letters
        "0" * 25 + "L",
        "0" * 25 + "O",
        "0" * 25 + "U",
        "0" * 25 + "a",  # lower case
        "0" * 25 + "-",
        "8" + "0" * 25,  # above 2**128: the top bits of a 130-bit body must be zero
        "Z" * 26,
    ],
)
def test_is_valid_rejects_malformed_body(body: str) -> None:
    assert not is_valid(f"usr_{body}", "usr")


def test_is_valid_accepts_largest_body() -> None:
    assert is_valid("usr_7" + "Z" * 25, "usr")


@pytest.mark.parametrize(
    "value", [None, 42, b"usr_" + b"0" * 26, "usr" + "0" * 26, "usr-" + "0" * 26]
)
def test_is_valid_rejects_non_strings_and_missing_separator(value: object) -> None:
    assert not is_valid(value, "usr")


@pytest.mark.parametrize("value", ["usr_", "usr_123", "nothing", "usr_" + "0" * 27])
def test_timestamp_of_malformed_id_raises(value: str) -> None:
    with pytest.raises(ValueError, match="not a Netra id"):
        timestamp_ms(value)
