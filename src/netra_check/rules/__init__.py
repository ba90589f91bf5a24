"""The rule registry: one line per rule. A new rule is one new module and one line here."""

from __future__ import annotations

from netra_check.model import Rule
from netra_check.rules.nc001_uncollectable import UncollectableTest
from netra_check.rules.nc002_placeholder import PlaceholderTest
from netra_check.rules.nc003_assertion_free import AssertionFreeTest
from netra_check.rules.nc004_mock_in_real_service_test import MockInRealServiceTest
from netra_check.rules.nc005_non_canonical_base import NonCanonicalTestBase
from netra_check.rules.nc006_runner_bypass import RunnerBypass
from netra_check.rules.nc007_direct_environ import DirectEnviron
from netra_check.rules.nc008_relative_import import RelativeImport
from netra_check.rules.nc009_duplicated_orchestration import DuplicatedOrchestration
from netra_check.rules.nc010_event_coverage import CriticalEventCoverage

REGISTRY: tuple[Rule, ...] = (
    UncollectableTest(),  # NC001 test files and tests pytest cannot collect
    PlaceholderTest(),  # NC002 placeholder tests
    AssertionFreeTest(),  # NC003 tests that assert nothing
    MockInRealServiceTest(),  # NC004 mocks in integration/e2e
    NonCanonicalTestBase(),  # NC005 test classes off the canonical base (+ fragmentation)
    RunnerBypass(),  # NC006 pytest run outside the canonical runner
    DirectEnviron(),  # NC007 os.environ in tests
    RelativeImport(),  # NC008 relative imports in tests
    DuplicatedOrchestration(),  # NC009 fixtures/helpers copied across files
    CriticalEventCoverage(),  # NC010 required events asserted by critical tests
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in REGISTRY}


def rule_doc(rule: Rule) -> str:
    """The four-part documentation of a rule: its module docstring."""
    import sys

    return (sys.modules[type(rule).__module__].__doc__ or "").strip()
