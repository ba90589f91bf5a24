"""The values the engine and the rules exchange: findings, metrics, per-file results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

try:
    # hashlib's own BLAKE2: importing hashlib also loads OpenSSL's bindings, which take longer
    # to import than a warm run spends hashing (the cache key, finding ids).
    from _blake2 import blake2b as blake2b
except ImportError:  # an interpreter without the builtin module
    from hashlib import blake2b as blake2b

if TYPE_CHECKING:
    from netra_check.context import FileContext
    from netra_check.project import Project


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place.

    `anchor` identifies the finding inside its file without using line numbers
    (the enclosing test's qualified name plus the offending source text), so a
    baseline survives code being moved up or down. Suppression comments are
    honoured on `line` and, for test-level findings, anywhere in
    `span_start..span_end` (decorators through the end of the `def` signature).
    """

    rule_id: str
    path: str
    line: int | None
    message: str
    anchor: str
    span_start: int | None = None
    span_end: int | None = None
    severity: str = "error"

    def fingerprint(self, occurrence: int = 0) -> str:
        """A line-independent identity used by baselines and SARIF."""
        key = f"{self.rule_id}\x00{self.path}\x00{self.anchor}\x00{occurrence}"
        return blake2b(key.encode(), digest_size=10).hexdigest()

    @property
    def location(self) -> str:
        """`path:line`, or just the path for a finding that is not on a line."""
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the summary dashboard."""

    key: str
    label: str
    value: float
    target: float
    display: str
    target_display: str
    ok: bool
    higher_is_better: bool = False
    detail: str = ""


# Marks the functions of modules indexed only because test code imports them (see
# FileRole.is_imported): production code, whose `assert` is an invariant, not a check. A
# test that calls `process_order()` from such a module is not followed into it; one that
# calls a method of one of its classes (`Checker().verify()`, a helper class) is, and from
# there the module's functions are.
PACKAGE_ONLY = "~"


def package_only(name: str) -> str:
    """A dotted callee of a function of an imported module, looked up among that package's
    functions first (see PACKAGE_ONLY); other callees as they are."""
    if "." not in name or name.startswith(("self.", "#")):
        return name
    return PACKAGE_ONLY + name


class BoundCall(NamedTuple):
    """A call that hands a function to a helper: `run_case(data, check=assert_valid)` is
    the callee `tests.cases.run_case#check=tests.checks.assert_valid` (see
    `FileContext.bound_calls`), followed to the function when the helper calls the
    parameter: the helper's callees then hold the marker `#check` (`marker`)."""

    helper: str
    slot: str  # a keyword's name, or a position ("0")
    function: str

    @classmethod
    def parse(cls, callee: str) -> BoundCall | None:
        """The bound call a callee is; None for a plain callee or a marker."""
        if "#" not in callee or callee[0] == "#":
            return None
        helper, _, binding = callee.partition("#")
        slot, _, function = binding.partition("=")
        return cls(helper, slot, function)

    def format(self) -> str:
        """The callee string (`parse` of it gives this bound call back)."""
        return f"{self.helper}#{self.slot}={self.function}"

    def map(self, change: Callable[[str], str]) -> BoundCall:
        """The same call with `change` applied to the helper and to the function."""
        return self._replace(helper=change(self.helper), function=change(self.function))

    @staticmethod
    def marker(slot: str) -> str:
        """The callee a helper holds when it calls its parameter `slot`."""
        return "#" + slot

    @staticmethod
    def is_marker(callee: str) -> bool:
        """Whether a callee is a helper's `marker`, no call of its own."""
        return callee[:1] == "#"


class HelperFact(NamedTuple):
    """What the assertion-following rules need to know about one non-test function."""

    name: str
    asserts: bool
    callees: tuple[str, ...]


class ClassFact(NamedTuple):
    """A class as pytest's collection sees it: a collected class runs its bases' tests too."""

    name: str
    # Each base as written, its first part resolved through the imports or to this module:
    # `shop.testing.fixtures.TestBase` for `fixtures.TestBase` after `from shop.testing
    # import fixtures`, `tests.test_x.Base` for a class `Base` of tests/test_x.py.
    bases: tuple[str, ...]
    tests: tuple[str, ...]  # its own methods that are tests when the class is collected
    collected: bool
    # A top-level class pytest collects from any test module whose namespace holds it
    # (`from pkg.suite import *`), wherever it is defined.
    collectable: bool = False
    copies: int = 1  # collected copies a plugin makes of it (see `class_parametrizers`)
    # Top-level, public, no `__init__`: collected by name, or by base (`extra_python_bases`).
    candidate: bool = False
    # (attribute, class) for the attributes of its instances whose class is known: every
    # assignment in its body or methods (`self.checker = Checker()` in `setUp`) builds the
    # same class (an annotation only bounds it); the class's dotted name resolved like
    # `bases`. An empty class: assigned something else too, so unknown.
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class FileResult:
    """Everything the engine keeps about one file; this is what the cache stores."""

    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    # HelperFact's fields as a plain tuple: the cache holds tens of thousands of them, and a
    # plain tuple loads several times faster than a NamedTuple (whose __new__ is Python).
    helpers: list[tuple[str, bool, tuple[str, ...]]] = field(default_factory=list)
    suppressions: dict[int, frozenset[str]] = field(default_factory=dict)
    tests: int = 0  # module-level test functions; class tests are counted with ClassFact
    classes: list[ClassFact] = field(default_factory=list)
    parsed: bool = True
    test_file: bool = False
    # (module, name) of `from module import name` (name "*" for a star import), for the
    # classes a test module collects from other modules; `__all__` when it is a literal.
    class_imports: tuple[tuple[str, str], ...] = ()
    exports: tuple[str, ...] | None = None
    # The modules its imports may name (see FileContext.imported_modules), for indexing
    # the project's own modules the tests import; kept for support and imported files.
    imports: tuple[str, ...] = ()
    imported: bool = False  # indexed only because it is imported (see FileRole.is_imported)


class Rule:
    """Base class of every rule. Subclasses set the class attributes and override hooks.

    The module docstring of the rule's module is its documentation (what it
    does, why it is bad, example, use instead); `--explain` prints it.
    """

    id: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    hint: ClassVar[str]

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """Findings that need only this file. Runs once per changed file; cached."""
        return iter(())

    def collect(self, ctx: FileContext) -> Any:
        """Picklable facts for `check_project`; None when the file contributes nothing."""
        return None

    def check_project(self, project: Project) -> Iterator[Finding]:
        """Findings that need every file's facts (cross-file rules). Runs every time."""
        return iter(())

    def check_text_file(self, path: str, text: str, project: Project) -> Iterator[Finding]:
        """Findings in a non-Python file such as a CI workflow."""
        return iter(())

    def metrics(self, project: Project, findings: list[Finding]) -> list[Metric]:
        """Extra dashboard rows beyond the finding count (which every rule gets)."""
        return []
