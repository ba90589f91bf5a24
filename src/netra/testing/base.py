"""The one canonical base for test classes: `SSotBaseTestCase` and `SSotAsyncTestCase`.

Plain pytest classes underneath, so fixtures, parametrisation and async tests
work as everywhere else. Each test gets:

- `self.env`: an overlay on the process environment, dropped after the test,
  so no variable set in one test is seen by the next;
- a cleanup stack (`add_cleanup`, `enter_context`, and their async twins);
- `self.temp_dir`, a fresh directory, and `make_temp_dir(name)`;
- `record_metric(name, value)`: named numbers that land in the JUnit XML and in
  the JSON summary of `netra test`;
- unittest's hooks and assertions (`setUp`, `asyncSetUp`, `setUpClass`,
  `assertEqual`, `assertRaises`, `addCleanup`, `addClassCleanup`, `subTest`,
  `maxDiff`, `longMessage`, ...), taken from `unittest` itself, so a suite
  migrated from `unittest.TestCase` keeps working. `subTest` reports through
  pytest's `subtests` fixture, as pytest does for `unittest.TestCase`; the
  decorators `unittest.skip`, `skipIf`, `skipUnless` and `expectedFailure`
  become pytest's skip and strict xfail marks (`unittest_marks`, applied by the
  plugin at collection), so a skipped class never runs its `setUpClass`.
"""

from __future__ import annotations

import asyncio
import unittest
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    ExitStack,
    contextmanager,
)
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import pytest
import pytest_asyncio

from netra.env import IsolatedEnvironment
from netra.testing.results import METRIC_PREFIX

T = TypeVar("T")


# unittest.TestCase members, besides assert* and fail*, that a test calls on `self`
_FORWARDED = frozenset({"addTypeEqualityFunc", "_formatMessage", "_truncateMessage"})


class _UnittestAssertions(unittest.TestCase):
    """unittest's assertion methods, runnable outside a unittest run.

    `maxDiff`, `longMessage` and `failureException` are read from the test
    (class or instance attributes), as unittest reads them from the TestCase.
    """

    def __init__(self, owner: SSotBaseTestCase) -> None:
        super().__init__()
        self._owner = owner

    @property
    def maxDiff(self) -> int | None:  # type: ignore[override]
        return self._owner.maxDiff

    @property
    def longMessage(self) -> bool:  # type: ignore[override]
        return self._owner.longMessage

    @property
    def failureException(self) -> type[BaseException]:  # type: ignore[override]
        return self._owner.failureException

    def runTest(self) -> None:  # pragma: no cover - never run, needed to instantiate
        raise NotImplementedError


def unittest_marks(cls: type, function: object) -> list[pytest.MarkDecorator]:
    """pytest marks for unittest's decorators on an SSot test class or its test method.

    `@unittest.skip*` (on the class or the method) becomes a skip mark and
    `@unittest.expectedFailure` (on either too) a strict xfail mark: a test that passes then
    fails, as unittest counts an unexpected success as a failure.
    """
    marks = []
    for owner in (cls, function):
        if getattr(owner, "__unittest_skip__", False):
            marks.append(pytest.mark.skip(reason=getattr(owner, "__unittest_skip_why__", "")))
    # unittest reads the flag on the test case too: @expectedFailure may decorate a class.
    if any(getattr(owner, "__unittest_expecting_failure__", False) for owner in (cls, function)):
        marks.append(pytest.mark.xfail(strict=True, reason="unittest.expectedFailure"))
    return marks


class SSotBaseTestCase:
    """Base for synchronous (and mixed) test classes; see the module docstring."""

    env: IsolatedEnvironment
    temp_dir: Path
    metrics: dict[str, float]
    _request: pytest.FixtureRequest
    _process_env_patch: pytest.MonkeyPatch
    _cleanups: ExitStack  # the test's, newest first
    _ssot_class_cleanups: ClassVar[ExitStack]

    # The async base runs the hooks and cleanups where the test's event loop is still open.
    _ssot_hooks_in_sync_context: ClassVar[bool] = True

    # unittest.TestCase's attributes, read by the assert* methods
    maxDiff: int | None = None
    longMessage: bool = True
    failureException: type[BaseException] = AssertionError

    # -- per-test context ---------------------------------------------------------
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _ssot_class_context(cls) -> Iterator[None]:
        # As in unittest: class cleanups run after tearDownClass, and also when
        # setUpClass raised (then tearDownClass does not run).
        with ExitStack() as class_cleanups:
            cls._ssot_class_cleanups = class_cleanups
            cls.setUpClass()
            try:
                yield
            finally:
                cls.tearDownClass()

    @pytest.fixture(autouse=True)
    def _ssot_test_context(
        self,
        request: pytest.FixtureRequest,
        netra_process_env: IsolatedEnvironment,
        tmp_path: Path,
    ) -> Iterator[None]:
        self._request = request
        self._node = request.node
        self.env = netra_process_env
        self.temp_dir = tmp_path
        self.metrics = {}
        with netra_process_env.overlay(), ExitStack() as cleanups:
            self._cleanups = cleanups
            if not self._ssot_hooks_in_sync_context:
                yield
                return
            self.setUp()
            try:
                yield
            finally:
                self.tearDown()  # then the cleanups, newest first, as unittest does

    # -- unittest-style hooks (override as needed) --------------------------------
    @classmethod
    def setUpClass(cls) -> None:
        """Runs once before the class's first test."""

    @classmethod
    def tearDownClass(cls) -> None:
        """Runs once after the class's last test."""

    def setUp(self) -> None:
        """Runs before each test, inside its environment overlay."""

    def tearDown(self) -> None:
        """Runs after each test, before its cleanups."""

    # -- environment ---------------------------------------------------------------
    def set_env(self, key: str, value: str | None) -> None:
        """Set (or with None, hide) a variable for this test only."""
        self.env.set(key, value)

    def get_env(self, key: str, default: str | None = None) -> str | None:
        return self.env.get(key, default)

    def set_process_env(self, key: str, value: str | None) -> None:
        """Set (or with None, unset) a variable of the process itself, undone after the test.

        For code under test that reads `os.environ` itself (a library, a child
        process): `set_env` only changes this test's overlay, which such code
        never sees. pytest's MonkeyPatch makes the change and undoes it after
        the test, so it does not leak into the next one; `self.env` sees it.
        """
        patch = self.__dict__.get("_process_env_patch")
        if patch is None:
            patch = self._process_env_patch = self.enter_context(pytest.MonkeyPatch.context())
        if value is None:
            patch.delenv(key, raising=False)
        else:
            patch.setenv(key, value)

    # -- cleanups and temp dirs ----------------------------------------------------
    def add_cleanup(self, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call `callback` after the test, newest first, even if the test failed."""
        self._cleanups.callback(callback, *args, **kwargs)

    addCleanup = add_cleanup  # the unittest spelling

    def enter_context(self, manager: AbstractContextManager[T]) -> T:
        """Enter `manager` now and exit it after the test."""
        return self._cleanups.enter_context(manager)

    enterContext = enter_context  # the unittest spelling

    @classmethod
    def addClassCleanup(cls, callback: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Call `callback` after the class's last test (after `tearDownClass`), newest first."""
        cls._ssot_class_cleanups.callback(callback, *args, **kwargs)

    @classmethod
    def enterClassContext(cls, manager: AbstractContextManager[T]) -> T:
        """Enter `manager` now and exit it after the class's last test."""
        return cls._ssot_class_cleanups.enter_context(manager)

    def make_temp_dir(self, name: str) -> Path:
        """A new directory inside this test's temp dir."""
        path = self.temp_dir / name
        path.mkdir(parents=True)
        return path

    # -- metrics -------------------------------------------------------------------
    def record_metric(self, name: str, value: float) -> None:
        """Record a named number for this test; `netra test` puts it in its JSON summary."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"metric {name!r} must be a number, got {value!r}")
        self.metrics[name] = value
        self._node.user_properties.append((f"{METRIC_PREFIX}{name}", value))

    # -- unittest compatibility ----------------------------------------------------
    def skipTest(self, reason: str) -> NoReturn:
        pytest.skip(reason)

    @contextmanager
    def subTest(self, msg: str | None = None, **params: Any) -> Iterator[None]:
        """unittest's `subTest`: a failure inside is reported as its own subtest (with
        `msg` and `params`) and the test goes on; the test then fails as well."""
        subtests = self._request.getfixturevalue("subtests")
        with subtests.test(msg, **params):
            yield

    @property
    def _testMethodName(self) -> str:
        name: str = getattr(self._node, "originalname", self._node.name)
        return name

    def id(self) -> str:
        """The test's dotted name, as unittest gives it (`module.Class.test_name`)."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}.{self._node.name}"

    def __getattr__(self, name: str) -> Any:
        # assertEqual, assertRaises, fail, ...: unittest's own implementations. Made on
        # first use, so they also work where no test context exists, e.g. in a fixture.
        forwarded = name.startswith(("assert", "fail")) or name in _FORWARDED
        if forwarded and hasattr(_UnittestAssertions, name):
            asserts = self.__dict__.get("_asserts")
            if asserts is None:
                asserts = self.__dict__["_asserts"] = _UnittestAssertions(self)
            return getattr(asserts, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class SSotAsyncTestCase(SSotBaseTestCase):
    """Base for async test classes: adds `asyncSetUp`/`asyncTearDown` and async cleanups."""

    pytestmark = pytest.mark.asyncio  # async tests run without asyncio_mode = "auto" too
    _ssot_hooks_in_sync_context = False
    _ssot_loop: asyncio.AbstractEventLoop
    _ssot_tear_down: bool  # asyncSetUp and asyncTearDown both ran without raising

    # As unittest's IsolatedAsyncioTestCase: `setUp`, `tearDown` and the sync cleanups run
    # while the test's loop is open but not running (it is current, so they may run it
    # themselves), the async hooks and cleanups on it; every cleanup in one stack,
    # unwound newest first after `tearDown`. Three fixtures, set up in this order and torn
    # down in the reverse one: the loop, the sync hooks, the async hooks.
    @pytest_asyncio.fixture
    async def _ssot_test_loop(
        self, _ssot_test_context: None
    ) -> AsyncIterator[asyncio.AbstractEventLoop]:
        yield asyncio.get_running_loop()

    @pytest.fixture(autouse=True)
    def _ssot_sync_hooks(self, _ssot_test_loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        self._ssot_loop = _ssot_test_loop
        self._ssot_tear_down = False
        with ExitStack() as cleanups:
            self._cleanups = cleanups
            self.setUp()
            yield
            if self._ssot_tear_down:  # as in unittest, not after asyncSetUp or asyncTearDown raised
                self.tearDown()

    @pytest_asyncio.fixture(autouse=True)
    async def _ssot_async_context(self, _ssot_sync_hooks: None) -> AsyncIterator[None]:
        await self.asyncSetUp()
        try:
            yield
        finally:
            await self.asyncTearDown()
        self._ssot_tear_down = True

    async def asyncSetUp(self) -> None:
        """Runs before each test, after `setUp`, on the test's event loop."""

    async def asyncTearDown(self) -> None:
        """Runs after each test, before `tearDown` (and, as in unittest, neither runs if
        `asyncSetUp` raised, nor `tearDown` if this raised)."""

    def add_async_cleanup(
        self, callback: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any
    ) -> None:
        """Await `callback` after the test, newest first, on the test's event loop."""
        loop = self._ssot_loop
        self._cleanups.callback(lambda: loop.run_until_complete(callback(*args, **kwargs)))

    addAsyncCleanup = add_async_cleanup  # the unittest spelling

    async def enter_async_context(self, manager: AbstractAsyncContextManager[T]) -> T:
        """Enter `manager` now and exit it after the test, on the test's event loop."""
        kind = type(manager)
        result = await kind.__aenter__(manager)
        loop = self._ssot_loop

        def exit_(*exc_info: Any) -> bool | None:
            return loop.run_until_complete(kind.__aexit__(manager, *exc_info))

        self._cleanups.push(exit_)
        return result

    enterAsyncContext = enter_async_context  # the unittest spelling
