"""Fixtures shared by the unit tests: hand-written fakes, never patches of Netra's code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from netra.env import IsolatedEnvironment
from netra.state.store import MemoryStateStore
from netra.testing.clock import FakeClock


class RecordingStream:
    """A TurnStream that keeps everything a model streams, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def thinking(self, text: str) -> None:
        self.calls.append(("thinking", text))

    async def text_delta(self, delta: str) -> None:
        self.calls.append(("delta", delta))

    @property
    def thoughts(self) -> list[str]:
        return [text for kind, text in self.calls if kind == "thinking"]

    @property
    def text(self) -> str:
        return "".join(text for kind, text in self.calls if kind == "delta")


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock starting at t=1000 s that moves only through `advance()`."""
    return FakeClock()


@pytest.fixture
def store(fake_clock: FakeClock) -> MemoryStateStore:
    """A memory state store on the fake clock."""
    return MemoryStateStore(clock=fake_clock)


@pytest.fixture
def recording_stream() -> RecordingStream:
    """A fresh TurnStream that records thinking and text deltas."""
    return RecordingStream()


@pytest.fixture
def make_stream() -> Callable[[], RecordingStream]:
    """Make more recording TurnStreams, for tests that compare two turns."""
    return RecordingStream


MakeEnv = Callable[..., IsolatedEnvironment]


@pytest.fixture
def make_env() -> MakeEnv:
    """Build an IsolatedEnvironment over a plain dict, never the process environment."""

    def make(
        values: Mapping[str, str] | None = None, *, dotenv: Path | None = None
    ) -> IsolatedEnvironment:
        return IsolatedEnvironment(dict(values or {}), dotenv=dotenv)

    return make
