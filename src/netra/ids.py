"""Prefixed, time-sortable identifiers: `usr_`, `thr_`, `run_`, `msg_`, `evt_`, ...

An id is the prefix, an underscore and 26 Crockford base32 characters: a
48-bit millisecond timestamp followed by 80 random bits (the ULID layout), so
ids sort by creation time and are safe to show to users.
"""

from __future__ import annotations

import base64
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
# base64's C base32 encoder does the bit slicing; its RFC 4648 digits map one to one
# onto Crockford's. (An id is made for every event, so this is on the hot path.)
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
PREFIXES = frozenset({"usr", "thr", "run", "msg", "evt", "rtk", "atk", "tc", "srv"})
BODY_LENGTH = 26


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Return a new id such as `thr_01JD2Z3...`."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}; expected one of {sorted(PREFIXES)}")
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"timestamp {ms} does not fit in 48 bits")
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    # 130 bits (26 digits) shifted left by 30 fill exactly 20 bytes, 32 base32 digits.
    digits = base64.b32encode((value << 30).to_bytes(20, "big"))[:BODY_LENGTH]
    return f"{prefix}_{digits.translate(_FROM_RFC4648).decode()}"


def is_valid(value: object, prefix: str) -> bool:
    """True when `value` is a well-formed id with the given prefix."""
    if not isinstance(value, str):
        return False
    head, sep, body = value.partition("_")
    return (
        head == prefix
        and sep == "_"
        and len(body) == BODY_LENGTH
        and all(c in _DECODE for c in body)
        and body[0] in "01234567"  # the top 2 bits of a 130-bit number are zero
    )


def timestamp_ms(value: str) -> int:
    """The creation time, in Unix milliseconds, encoded in an id."""
    _, _, body = value.partition("_")
    if len(body) != BODY_LENGTH:
        raise ValueError(f"not a Netra id: {value!r}")
    number = 0
    for c in body:
        number = (number << 5) | _DECODE[c]
    return number >> 80
