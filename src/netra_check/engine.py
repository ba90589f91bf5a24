"""The engine: find files, parse each once (in parallel, through the cache), run the rules.

The rules never walk the file system or parse anything themselves: they get a
FileContext per changed file (`check_file`, `collect`, cached by content) and a
Project with every file's cached facts (`check_project`, run every time because
it depends on the other files).
"""

from __future__ import annotations

import ast
import gc
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from netra_check.astutil import (
    BUILTIN_METHODS,
    callable_defaults,
    callee_ref,
    fixture_alias,
    is_assert_name,
    is_fixture,
    parameter_names,
)
from netra_check.cache import CacheEntry, ResultCache, code_version, content_digest
from netra_check.config import CheckConfig
from netra_check.context import (
    TOO_DEEP,
    Definition,
    FileContext,
    FileRole,
    module_names,
    parse_suppressions,
)
from netra_check.discovery import ModuleFinder, SourceFile, discover
from netra_check.model import (
    PACKAGE_ONLY,
    BoundCall,
    FileResult,
    Finding,
    HelperFact,
    Metric,
    Rule,
    package_only,
)
from netra_check.project import Project
from netra_check.rules import REGISTRY

# Below this much source, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 1_000_000
PARALLEL_MIN_FILES = 16


@dataclass
class CheckResult:
    """The outcome of one run, ready for a reporter."""

    root: Path
    config: CheckConfig
    findings: list[Finding]
    metrics: list[Metric]
    files: int
    analysed: int
    tests: int
    suppressed: int
    seconds: float
    base: Path | None = None  # where reports show paths from (the current folder); None: root


def class_tests(project: Project) -> int:
    """Tests in collected classes, counted as pytest does: each collected class also runs
    the tests it inherits (bases found by name, in the same file first), and a test module
    also collects the test classes it imports (`from pkg.suite import *`, followed through
    the scanned modules' own star imports and `__all__`)."""
    index = project.classes
    return sum(index.count(path, fact) for path, fact in index.collected())


def active_rules(config: CheckConfig) -> list[Rule]:
    """The registered rules whose severity is not "off"."""
    return [rule for rule in REGISTRY if config.severity_of(rule.id) != "off"]


def _wraps_same_name(definition: Definition) -> bool:
    """`def assert_that(...): return hamcrest.assert_that(...)`: a wrapper of a library assertion.

    The project pass judges a repository-defined `assert_*` helper by its body; a
    wrapper that calls the same-named function on another object must still count.
    """
    name = definition.name
    if not is_assert_name(name):
        return False
    return any(
        isinstance(call.func, ast.Attribute) and call.func.attr == name  # type: ignore[attr-defined]
        for call in definition.nodes(ast.Call)
    )


def _unbound(callees: tuple[str, ...]) -> tuple[str, ...]:
    """A method's callees as followed when it is reached by name alone (no known class):
    `self.check` is any `check`, and `self.checker.verify` any `verify` (unless it is a
    built-in container's method name)."""
    if not any("self." in c for c in callees):
        return callees
    found = set()
    for callee in callees:
        bound = BoundCall.parse(callee)
        if bound is not None:  # `self.run#0=self.check`: both parts by name
            bound = bound.map(_by_name)
            if not bound.helper or not bound.function:
                continue
            callee = bound.format()
        elif not (callee := _by_name(callee)):
            continue
        found.add(callee)
    return tuple(sorted(found))


def _in_package(callees: tuple[str, ...]) -> tuple[str, ...]:
    """The callees of a function of an imported module (see PACKAGE_ONLY): dotted names
    (`shop.compare.same`) are looked up among that package's functions first."""
    out = []
    for callee in callees:
        bound = BoundCall.parse(callee)
        out.append(package_only(callee) if bound is None else bound.map(package_only).format())
    return tuple(out)


def _by_name(callee: str) -> str:
    """A callee of a method as followed by name ("" when it can match no helper)."""
    if callee.startswith("self."):
        callee = callee[5:]
        if "." in callee:
            callee = callee.rpartition(".")[2]
            if callee in BUILTIN_METHODS:
                return ""
    return callee


def _helper_facts(ctx: FileContext) -> list[HelperFact]:
    """Every function: does it assert, and (if not) what does it call."""
    facts = []
    matcher = ctx.assertion_matcher
    modules = module_names(ctx.rel)
    by_name = not ctx.role.is_imported or ctx.role.is_support
    # Tests are included: a test that calls another test method asserts if that one does.
    for definition in ctx.functions():
        node = definition.function
        # In a production module an `assert` is an invariant, not a check of the test's.
        state = definition.assertion_state(matcher, invariants=not by_name)
        asserts = state is True or _wraps_same_name(definition)
        callees: tuple[str, ...] = ()
        if not asserts:
            # `check(data)` on a parameter: a caller's `helper(data, check=assert_valid)`
            # runs `assert_valid` (see FileContext.bound_calls). When the statements call
            # an `assert_*`-looking name, only their calls are followed (no walk).
            if isinstance(state, tuple):
                names = set(state)
                extra = ctx.called_parameters(definition, names)
            else:
                calls = definition.live_calls()
                names = {n for call in calls if (n := callee_ref(call))}  # type: ignore[arg-type]
                extra = ctx.called_parameters(definition, names)
                extra.update(ctx.bound_calls(calls, method=definition.kind == "method"))
            if is_fixture(node):
                names.update(parameter_names(node))  # fixtures run the fixtures they request
            defaults = callable_defaults(node)
            if defaults:  # `compare_fn(result, expected)` runs `compare_fn=assert_equal`
                names = {defaults.get(name, name) for name in names}
            callees = ctx.qualify(names, method=definition.kind == "method")
            if extra:
                callees = tuple(sorted({*callees, *extra}))
        # By name (for calls the scanner cannot resolve), and as imported or as a class's
        # method: `pkg.mod.helper`, `pkg.mod.Class.method`. A test only by name: the rare
        # `self.test_other()` is followed by name (see Project.resolve_self), and a large
        # suite's cache would otherwise hold every test twice.
        method = definition.kind == "method"
        if by_name:
            facts.append(HelperFact(node.name, asserts, _unbound(callees) if method else callees))
        else:
            callees = _in_package(callees)
        if not definition.is_test:
            qualname = definition.qualname
            # A function of a module indexed because it is imported is reached only from
            # code of such modules (see `_in_package`), never from a test's direct call.
            prefix = "" if by_name or method else PACKAGE_ONLY
            facts.extend(HelperFact(f"{prefix}{m}.{qualname}", asserts, callees) for m in modules)
        alias = fixture_alias(node) if by_name else None
        if alias is not None:
            facts.append(HelperFact(alias, asserts, callees))
    return facts


def _too_deep(ctx: FileContext, config: CheckConfig) -> FileResult:
    """The result for a file the rules could not walk: one NC001 finding, no facts."""
    result = FileResult(parsed=False)
    if ctx.role.is_test_code and config.severity_of("NC001") != "off":
        result.findings.append(
            Finding(
                rule_id="NC001",
                path=ctx.rel,
                line=1,
                message=f"file is {TOO_DEEP}; netra check cannot tell whether its tests can fail",
                anchor="<module>|too-deep",
            )
        )
    return result


def analyze_source(rel: str, data: bytes, role: FileRole, config: CheckConfig) -> FileResult:
    """Parse one file and run every per-file hook of every active rule on it."""
    ctx = FileContext(rel, data, role, config)
    result = FileResult(parsed=ctx.tree is not None)
    if role.is_imported and not role.is_support:
        return _imported_result(ctx, result)
    try:
        for rule in active_rules(config):
            result.findings.extend(rule.check_file(ctx))
            facts = rule.collect(ctx)
            if facts is not None:
                result.facts[rule.id] = facts
        if ctx.tree is not None:
            result.tests = sum(1 for t in ctx.tests if t.kind == "function")
            if role.is_support:
                result.classes = ctx.class_facts()
                result.helpers = [(f.name, f.asserts, f.callees) for f in _helper_facts(ctx)]
                result.class_imports = ctx.class_imports()
                result.exports = ctx.exports()
                result.test_file = role.is_test_file
                result.imports = ctx.imported_modules()
    except RecursionError:
        # A tree Python could parse but too deep for the rules: report it, keep going.
        result = _too_deep(ctx, config)
    except Exception as exc:
        raise RuntimeError(f"netra check failed on {rel}: {exc!r}") from exc
    if b"netra:" in data:
        result.suppressions = parse_suppressions(ctx.text)
    return result


def _imported_result(ctx: FileContext, result: FileResult) -> FileResult:
    """A module indexed because test code imports it: its classes, and its functions and
    methods by their dotted names only (a production module's `save` is not every `save`
    a test calls on some object). No rule looks at it; a file that does not parse, or is
    too deep, contributes nothing."""
    if ctx.tree is None:
        return result
    try:
        result.classes = ctx.class_facts()
        result.helpers = [(f.name, f.asserts, f.callees) for f in _helper_facts(ctx)]
        result.class_imports = ctx.class_imports()
        result.exports = ctx.exports()
        result.imports = ctx.imported_modules()
    except RecursionError:
        return FileResult(parsed=False, imported=True)
    result.imported = True
    return result


Analysed = tuple[str, int, int, str, FileResult]


def _analyze_file(source: SourceFile, config: CheckConfig) -> Analysed | None:
    try:
        with open(source.path, "rb") as handle:
            data = handle.read()
            stat = os.fstat(handle.fileno())
    except OSError:
        return None  # vanished or unreadable since discovery
    result = analyze_source(source.rel, data, source.role, config)
    return (source.rel, stat.st_mtime_ns, stat.st_size, content_digest(data), result)


def _analyze_chunk(chunk: Sequence[SourceFile], config: CheckConfig) -> list[Analysed]:
    # AST nodes have no reference cycles; the collector would only rescan them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [r for source in chunk if (r := _analyze_file(source, config)) is not None]
    finally:
        if enabled:
            gc.enable()


def _chunks(sources: list[tuple[SourceFile, int]], count: int) -> list[list[SourceFile]]:
    """Deal files, largest first, into `count` chunks of similar total size."""
    ordered = sorted(sources, key=lambda item: -item[1])
    chunks: list[list[SourceFile]] = [[] for _ in range(count)]
    for index, (source, _) in enumerate(ordered):
        cycle, position = divmod(index, count)
        chunks[position if cycle % 2 == 0 else count - 1 - position].append(source)
    return [chunk for chunk in chunks if chunk]


def _analyze_many(
    pending: list[tuple[SourceFile, int]], config: CheckConfig, jobs: int
) -> list[Analysed]:
    total = sum(size for _, size in pending)
    if jobs <= 1 or len(pending) < PARALLEL_MIN_FILES or total < PARALLEL_MIN_BYTES:
        return _analyze_chunk([source for source, _ in pending], config)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if sys.platform == "linux" else None
    context = multiprocessing.get_context(method)
    chunks = _chunks(pending, jobs * 6)
    results: list[Analysed] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for batch in pool.map(_analyze_chunk, chunks, [config] * len(chunks)):
            results.extend(batch)
    return results


def _suppressed(finding: Finding, table: dict[int, frozenset[str]]) -> bool:
    if not table:
        return False
    lines: Iterable[int] = ()
    if finding.line is not None:
        lines = (finding.line,)
    if finding.span_start is not None and finding.span_end is not None:
        lines = (*lines, *range(finding.span_start, finding.span_end + 1))
    for line in lines:
        ids = table.get(line)
        if ids is not None and (not ids or finding.rule_id in ids):
            return True
    return False


def in_scope(path: str, only: Sequence[str] | None) -> bool:
    """Whether a finding's path lies in the reported paths (None: everything)."""
    if only is None:
        return True
    return any(path == p or path.startswith(p.rstrip("/") + "/") or p in ("", ".") for p in only)


class _Reader:
    """Reads files into `results` through the cache: the discovered ones at once, the
    project's own modules the test code imports when the analysis reaches them (see
    `Project.need`); `finish` saves the cache once the run has read all it needs."""

    def __init__(
        self,
        cache: ResultCache,
        results: dict[str, FileResult],
        config: CheckConfig,
        finder: ModuleFinder,
        workers: int,
    ) -> None:
        self.cache = cache
        self.results = results
        self.config = config
        self.finder = finder
        self.workers = workers
        self.analysed = 0
        # Modules with a role of their own that `load` read (support code that only a
        # production module imports): see `run_check`.
        self.own_loaded = 0

    def read(self, sources: list[SourceFile]) -> None:
        self.analysed += _load(sources, self.cache, self.results, self.config, self.workers)

    def load(self, module: str) -> list[str]:
        """The files of `module` newly put in `results` (none: not one of the project's
        modules, or read already)."""
        source = self.finder.source(module)
        if source is None or source.rel in self.results:
            return []
        self.read([source])
        if source.rel not in self.results:
            return []
        if not source.role.is_imported:
            self.own_loaded += 1
        return [source.rel]

    def read_own(self, sources: list[SourceFile]) -> None:
        """Read the modules with a role of their own (test or support code outside the
        paths walked) that the support code among `sources` imports, transitively through
        such modules: their helpers count by their bare names too, which any lookup may
        meet, so they are read before the rules run. Production modules wait for
        `load`."""
        batch = [self.results[s.rel] for s in sources if s.rel in self.results]
        while batch:
            found = {
                source.rel: source
                for result in batch
                for module in result.imports
                if (source := self.finder.source(module)) is not None
                and not source.role.is_imported
                and source.rel not in self.results
            }
            self.read(sorted(found.values()))
            batch = [self.results[rel] for rel in found if rel in self.results]

    def is_module(self, name: str) -> bool:
        return self.finder.find(name) is not None

    def finish(self) -> None:
        self.cache.prune(set(self.results))
        self.cache.save()


def scan(
    root: Path,
    config: CheckConfig,
    *,
    use_cache: bool = True,
    jobs: int | None = None,
    extra_paths: Sequence[str] = (),
    walk: Sequence[str] | None = None,
) -> tuple[Project, _Reader]:
    """Discover and analyse every file (through the cache); returns the project and the
    reader, to `finish` once the rules have run.

    The project's own modules that the scanned test and support code imports (and those
    they import in turn) are read only when the project pass reaches a name defined in
    them (see `Project.need` and `FileRole.is_imported`)."""
    sources, ci_files = discover(root, config, extra_paths, walk=walk)
    cache_dir = (root / config.cache_dir) if use_cache else None
    cache = ResultCache(cache_dir, f"{config.digest()}:{code_version()}")
    cache.load()
    results: dict[str, FileResult] = {}
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    reader = _Reader(cache, results, config, ModuleFinder(root, config, walk=walk), workers)
    reader.read(sources)
    reader.read_own([s for s in sources if s.role.is_support])
    text_files: dict[str, str] = {}
    for rel in ci_files:
        try:
            text_files[rel] = (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return Project(root, config, results, text_files, load=reader), reader


def _load(
    sources: list[SourceFile],
    cache: ResultCache,
    results: dict[str, FileResult],
    config: CheckConfig,
    workers: int,
) -> int:
    """Put each source's result in `results`, from the cache or analysed; returns how
    many were analysed."""
    pending: list[tuple[SourceFile, int]] = []
    for source in sources:
        try:
            stat = os.stat(source.path)
        except OSError:
            continue
        entry = cache.entries.get(source.rel)
        if entry is not None and entry.size == stat.st_size:
            if entry.mtime_ns == stat.st_mtime_ns:
                results[source.rel] = entry.result
                continue
            with open(source.path, "rb") as handle:
                if content_digest(handle.read()) == entry.digest:
                    cache.put(source.rel, entry._replace(mtime_ns=stat.st_mtime_ns))
                    results[source.rel] = entry.result
                    continue
        pending.append((source, stat.st_size))
    for rel, mtime_ns, size, digest, result in _analyze_many(pending, config, workers):
        results[rel] = result
        cache.put(rel, CacheEntry(mtime_ns, size, digest, result))
    return len(pending)


def run_check(
    root: Path,
    config: CheckConfig,
    *,
    only: Sequence[str] | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
    extra_paths: Sequence[str] = (),
    walk: Sequence[str] | None = None,
) -> CheckResult:
    """Run every active rule over the project at `root`.

    The whole project is always analysed, because rules such as assertion
    following and duplicate detection need every file; `only` (relative paths
    of files or folders) limits which findings are reported, and `extra_paths`
    are scanned even when the configured `paths` do not cover them. With `walk` (relative
    paths) only those are walked, with the folders between the root and them (their
    conftests and helpers), instead of the configured paths: a root that is not a project
    (see `command.Scope`).
    """
    started = time.perf_counter()
    project, reader = scan(
        root, config, use_cache=use_cache, jobs=jobs, extra_paths=extra_paths, walk=walk
    )
    rules = active_rules(config)
    while True:
        own_loaded = reader.own_loaded
        raw: list[Finding] = []
        for rule in rules:
            raw.extend(rule.check_project(project))
            for rel, text in project.text_files.items():
                raw.extend(rule.check_text_file(rel, text, project))
        tests = class_tests(project)
        if reader.own_loaded == own_loaded:
            break
        # The pass read support code that only a production module imports: its helpers
        # count by their bare names too, which the tests judged before it was read may
        # have looked up (the findings would depend on the order of the tests). Once more,
        # with it read from the start, as `read_own` reads what the tests import.
        project = Project(root, config, project.results, project.text_files, load=reader)
    reader.finish()
    # After the project pass: a module it read may be one with findings of its own (a
    # support module outside the paths walked).
    for result in project.results.values():
        raw.extend(result.findings)
    text_suppressions = {
        rel: parse_suppressions(text)
        for rel, text in project.text_files.items()
        if "netra:" in text
    }
    findings: list[Finding] = []
    suppressed = 0
    for finding in raw:
        if not in_scope(finding.path, only):
            continue
        owner = project.results.get(finding.path)
        table = owner.suppressions if owner is not None else text_suppressions.get(finding.path, {})
        if _suppressed(finding, table):
            suppressed += 1
            continue
        severity = config.severity_of(finding.rule_id)
        findings.append(
            finding if severity == finding.severity else replace(finding, severity=severity)
        )
    findings.sort(key=lambda f: (f.path, f.line or 0, f.rule_id, f.message))
    metrics: list[Metric] = []
    for rule in rules:
        mine = [f for f in findings if f.rule_id == rule.id]
        metrics.append(
            Metric(
                rule.id, f"{rule.id} {rule.summary}", len(mine), 0, str(len(mine)), "0", not mine
            )
        )
        metrics.extend(rule.metrics(project, mine))
    return CheckResult(
        root=root,
        config=config,
        findings=findings,
        metrics=metrics,
        files=len(project.results),
        analysed=reader.analysed,
        tests=sum(r.tests for r in project.results.values()) + tests,
        suppressed=suppressed,
        seconds=time.perf_counter() - started,
    )
