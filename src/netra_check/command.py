"""`netra-check [PATHS...]` (and `netra check`): the command line.

It uses argparse, not typer, so that `netra-check` needs nothing beyond the
standard library and starts quickly; `netra check` passes its arguments here.
The engine, the rules and the reporters are imported when the command runs.
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from netra_check.errors import CheckError

if TYPE_CHECKING:
    from netra_check.baseline import BaselineComparison
    from netra_check.config import CheckConfig
    from netra_check.engine import CheckResult


class OutputFormat(enum.StrEnum):
    """The report formats `--format` accepts."""

    text = "text"
    json = "json"
    sarif = "sarif"
    markdown = "markdown"
    github = "github"
    html = "html"


class UsageError(CheckError):
    """The command line cannot be carried out as given."""


EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def explain(rule_id: str) -> str:
    """The documentation `--explain ID` prints (`all` lists every rule)."""
    from netra_check.rules import REGISTRY, RULES_BY_ID, rule_doc

    if rule_id.lower() == "all":
        return "\n".join(f"{r.id}  {r.name:<28} {r.summary}" for r in REGISTRY) + "\n"
    rule = RULES_BY_ID.get(rule_id.upper())
    if rule is None:
        known = ", ".join(RULES_BY_ID)
        raise UsageError(f"unknown rule id {rule_id!r}; known rules: {known} (or 'all')")
    return rule_doc(rule) + "\n"


class Scope(NamedTuple):
    """Where a run looks: the project root, the paths reported on, the paths walked."""

    root: Path
    only: list[str] | None  # relative paths reported on; None: everything
    # Relative paths to walk instead of the whole project (None: the whole project): the
    # given paths, when no project marks the root (see `pytest_config.locate`).
    walk: list[str] | None


def _project_root(paths: list[Path]) -> Scope:
    """The project root for `paths`, and the paths relative to it (None = everything).

    The root is pytest's rootdir for the same arguments (see `pytest_config.locate`),
    so category folders and collection settings apply whatever path is given. When no
    configuration file, pyproject.toml or setup.py marks a project, that rootdir is just
    the common folder of the current folder and the paths (`cd /tmp && netra check
    /tmp/proj/tests` gives /tmp): pytest then collects only the paths, so only they are
    walked (with the conftests and helpers in the folders between the root and them),
    never the rootdir's other folders.
    """
    from netra_check.pytest_config import locate

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"path does not exist: {', '.join(missing)}")
    found = locate(paths, Path.cwd())
    root = found.rootdir
    if not paths:
        return Scope(root, None, None)
    outside = [str(p) for p in paths if not p.resolve().is_relative_to(root)]
    if outside:
        raise UsageError(f"paths lie outside the project at {root}: {', '.join(outside)}")
    rels = [p.resolve().relative_to(root).as_posix() for p in paths]
    only = None if "." in rels else rels
    return Scope(root, only, None if found.marked or only is None else only)


def _baseline(
    result: CheckResult, baseline: Path | None, update: bool, only: list[str] | None = None
) -> tuple[BaselineComparison | None, str | None]:
    """Compare with, write or refresh the baseline; returns the comparison and a note.

    A scoped run (`PATHS` or `--changed`, so `only` is not None) compares only the
    baseline entries inside its scope, and rewrites only those: entries for paths
    it did not check are neither counted as fixed nor dropped.
    """
    if baseline is None:
        if update:
            raise UsageError("--update-baseline needs --baseline FILE")
        return None, None
    from collections import Counter

    from netra_check.baseline import (
        compare,
        fingerprints,
        load_entries,
        split_scope,
        write_baseline,
    )
    from netra_check.engine import in_scope

    exists = baseline.exists()
    entries = load_entries(baseline) if exists and (only is not None or not update) else []
    inside, outside = (
        (entries, []) if only is None else split_scope(entries, lambda p: in_scope(p, only))
    )
    if update or not exists:
        write_baseline(baseline, result.findings, keep=outside)
        known = compare(baseline, result.findings, Counter(fingerprints(result.findings)))
        verb = "updated" if update else "wrote"
        kept = f" (kept {len(outside)} outside the checked paths)" if outside else ""
        return known, (
            f"netra check: {verb} baseline {baseline} with {len(result.findings)} finding(s)"
            f"{kept}; later runs fail only on new findings"
        )
    return compare(baseline, result.findings, Counter(e["fingerprint"] for e in inside)), None


def check_paths(
    paths: list[Path], *, config_file: Path | None = None, use_cache: bool = True, jobs: int = 1
) -> CheckResult:
    """Check the project holding `paths`, reporting on `paths` only: the plain run that
    other tools (the `netra test` dashboard) embed. Raises CheckError on bad input."""
    from netra_check.config import load_config
    from netra_check.engine import run_check
    from netra_check.rules import RULES_BY_ID

    root, only, walk = _project_root(paths)
    config = load_config(root, config_file, known_rules=frozenset(RULES_BY_ID))
    return run_check(
        root,
        config,
        only=only,
        use_cache=use_cache,
        jobs=jobs,
        extra_paths=list(only or ()),
        walk=walk,
    )


def run(
    paths: list[Path],
    *,
    output_format: str = "text",
    baseline: Path | None = None,
    update_baseline: bool = False,
    changed: bool = False,
    base: str | None = None,
    config_file: Path | None = None,
    use_cache: bool = True,
    jobs: int | None = None,
    collect_with_pytest: bool = False,
) -> tuple[int, str, str | None]:
    """Run a check and render it: (exit code, report, note for stderr). Raises on bad input."""
    from netra_check.config import load_config
    from netra_check.engine import run_check
    from netra_check.reporters import render, shown_findings
    from netra_check.rules import RULES_BY_ID

    root, only, walk = _project_root(paths)
    scan_paths = list(only or ())
    config: CheckConfig = load_config(root, config_file, known_rules=frozenset(RULES_BY_ID))
    pytest_tests: int | None = None
    if collect_with_pytest:
        from dataclasses import replace

        from netra_check.pytest_collect import collect

        files, pytest_tests = collect(root)
        config = replace(config, collected=tuple(sorted(files)))
    if changed or base is not None:
        from netra_check.changed import changed_files

        names = changed_files(root, base or "HEAD")
        if only is not None:
            names = [n for n in names if any(n == p or n.startswith(p + "/") for p in only)]
        only = names
    result = run_check(
        root,
        config,
        only=only,
        use_cache=use_cache,
        jobs=jobs,
        extra_paths=scan_paths,
        walk=walk,
    )
    result.base = Path.cwd()
    if pytest_tests is not None:
        result.tests = pytest_tests
    comparison, note = _baseline(result, baseline, update_baseline, only)
    report = render(output_format, result, comparison)
    failing = [f for f in shown_findings(result, comparison) if f.severity == "error"]
    code = EXIT_FINDINGS if failing else EXIT_CLEAN
    return code, report, note


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized with `os.get_terminal_size` instead of `shutil`'s: the
    parser builds a formatter for every `add_argument`, and importing `shutil` (with its
    compression modules) costs more than the whole warm run's argument parsing."""

    def __init__(self, prog: str) -> None:
        import os

        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 80
        super().__init__(prog, width=max(columns, 40) - 2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=_HelpFormatter,
        prog="netra-check",
        description="Find tests that cannot fail. "
        "Exit 0 clean, 1 findings, 2 usage or configuration error.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="Files or folders to report on (default: the whole project). The project root is "
        "the nearest folder with a pyproject.toml or a pytest configuration file.",
    )
    parser.add_argument("--explain", metavar="ID", help="Explain a rule (e.g. NC003), or 'all'.")
    parser.add_argument(
        "--format",
        "-f",
        choices=[f.value for f in OutputFormat],
        default="text",
        help="Report format (default: text).",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        type=Path,
        help="Ratchet: write FILE if missing, else fail only on findings not in it.",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="Rewrite the --baseline FILE with today's findings.",
    )
    parser.add_argument(
        "--changed",
        action="store_true",
        help="Report only files changed against git (see --base).",
    )
    parser.add_argument(
        "--base", metavar="REF", help="Git ref for --changed (default HEAD); implies --changed."
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="Read the tool.netra.check table from FILE (a pyproject.toml).",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="Analyse every file, ignoring the result cache."
    )
    parser.add_argument(
        "--collect-with-pytest",
        action="store_true",
        help="Ask pytest which tests it collects (runs `pytest --collect-only` in the project's "
        "environment: .venv/bin/python if there is one), for collection a plugin adds.",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        metavar="N",
        help="Worker processes (default: CPU count).",
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE", type=Path, help="Write the report to FILE."
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a bad command line, 0 on --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.explain is not None:
            sys.stdout.write(explain(args.explain))
            return EXIT_CLEAN
        code, report, note = run(
            args.paths,
            output_format=args.format,
            baseline=args.baseline,
            update_baseline=args.update_baseline,
            changed=args.changed,
            base=args.base,
            config_file=args.config,
            use_cache=not args.no_cache,
            jobs=args.jobs,
            collect_with_pytest=args.collect_with_pytest,
        )
    except CheckError as exc:  # UsageError, ConfigError, BaselineError, ...
        print(f"netra check: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report, encoding="utf-8")
        print(f"netra check: report written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(report)
    if note:
        print(note, file=sys.stderr)
    return code


def run_once(argv: Sequence[str] | None = None) -> int:
    """`main` for a process that exits once it returns (`netra-check`, `netra check`).

    The cyclic collector is off for the run: it would only rescan the analysis's many
    small objects each time the run allocates. What the run leaves is frozen before the
    process exits, because the interpreter's last collection, which runs even with the
    collector off, would walk all of it: on SQLAlchemy's tests, cold, 3.3 to 3.9 s of CPU
    with the freeze against 4.3 to 4.5 s without."""
    import gc

    gc.disable()
    code = main(argv)
    gc.freeze()
    return code


def console() -> None:
    """The `netra-check` console script (and `python -m netra_check`)."""
    sys.exit(run_once())
