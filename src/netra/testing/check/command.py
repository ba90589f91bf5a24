"""`netra check [PATHS...]`: the CLI command. Wired into `netra.cli` as `app.command("check")`.

Importing this module is cheap (typer and the standard library only); the
engine, the rules and the reporters are imported when the command runs.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from netra.testing.check.baseline import BaselineComparison
    from netra.testing.check.config import CheckConfig
    from netra.testing.check.engine import CheckResult


class OutputFormat(enum.StrEnum):
    """The report formats `--format` accepts."""

    text = "text"
    json = "json"
    sarif = "sarif"
    markdown = "markdown"
    github = "github"


class UsageError(Exception):
    """The command line cannot be carried out as given."""


EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def explain(rule_id: str) -> str:
    """The documentation `--explain ID` prints (`all` lists every rule)."""
    from netra.testing.check.rules import REGISTRY, RULES_BY_ID, rule_doc

    if rule_id.lower() == "all":
        return "\n".join(f"{r.id}  {r.name:<28} {r.summary}" for r in REGISTRY) + "\n"
    rule = RULES_BY_ID.get(rule_id.upper())
    if rule is None:
        known = ", ".join(RULES_BY_ID)
        raise UsageError(f"unknown rule id {rule_id!r}; known rules: {known} (or 'all')")
    return rule_doc(rule) + "\n"


def _project_root(paths: list[Path]) -> tuple[Path, list[str] | None]:
    """The project root shared by `paths`, and the paths relative to it (None = everything)."""
    from netra.testing.check.config import find_project_root

    if not paths:
        return find_project_root(Path.cwd()), None
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"path does not exist: {', '.join(missing)}")
    roots = {find_project_root(p) for p in paths}
    if len(roots) > 1:
        listed = ", ".join(sorted(str(r) for r in roots))
        raise UsageError(f"paths belong to different projects ({listed}); check them one by one")
    root = roots.pop()
    rels = [p.resolve().relative_to(root).as_posix() for p in paths]
    return root, None if "." in rels else rels


def _baseline(
    result: CheckResult, baseline: Path | None, update: bool, only: list[str] | None = None
) -> tuple[BaselineComparison | None, str | None]:
    """Compare with, write or refresh the baseline; returns the comparison and a note.

    A scoped run (`PATHS` or `--changed`, so `only` is not None) compares only the
    baseline entries inside its scope, and rewrites only those: entries for paths
    it did not check are neither counted as fixed nor dropped.
    """
    from collections import Counter

    from netra.testing.check.baseline import (
        compare,
        fingerprints,
        load_entries,
        split_scope,
        write_baseline,
    )
    from netra.testing.check.engine import in_scope

    if baseline is None:
        if update:
            raise UsageError("--update-baseline needs --baseline FILE")
        return None, None
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
) -> tuple[int, str, str | None]:
    """Run a check and render it: (exit code, report, note for stderr). Raises on bad input."""
    from netra.testing.check.changed import changed_files
    from netra.testing.check.config import load_config
    from netra.testing.check.engine import run_check
    from netra.testing.check.reporters import render, shown_findings
    from netra.testing.check.rules import RULES_BY_ID

    root, only = _project_root(paths)
    scan_paths = list(only or ())
    config: CheckConfig = load_config(root, config_file, known_rules=frozenset(RULES_BY_ID))
    if changed or base is not None:
        names = changed_files(root, base or "HEAD")
        if only is not None:
            names = [n for n in names if any(n == p or n.startswith(p + "/") for p in only)]
        only = names
    result = run_check(
        root, config, only=only, use_cache=use_cache, jobs=jobs, extra_paths=scan_paths
    )
    comparison, note = _baseline(result, baseline, update_baseline, only)
    report = render(output_format, result, comparison)
    failing = [f for f in shown_findings(result, comparison) if f.severity == "error"]
    code = EXIT_FINDINGS if failing else EXIT_CLEAN
    return code, report, note


def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Files or folders to report on (default: the whole project). The project "
            "root is the nearest folder with a pyproject.toml.",
            show_default=False,
        ),
    ] = None,
    explain_id: Annotated[
        str | None,
        typer.Option("--explain", metavar="ID", help="Explain a rule (e.g. NC003), or 'all'."),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Report format.")
    ] = OutputFormat.text,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            metavar="FILE",
            help="Ratchet: write FILE if missing, else fail only on findings not in it.",
        ),
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option(
            "--update-baseline", help="Rewrite the --baseline FILE with today's findings."
        ),
    ] = False,
    changed: Annotated[
        bool,
        typer.Option("--changed", help="Report only files changed against git (see --base)."),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(
            "--base", metavar="REF", help="Git ref for --changed (default HEAD); implies --changed."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Read the tool.netra.check table from FILE (a pyproject.toml).",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Analyse every file, ignoring the result cache.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Worker processes (default: CPU count)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the report to FILE."),
    ] = None,
) -> None:
    """Find tests that cannot fail. Exit 0 clean, 1 findings, 2 usage or configuration error."""
    from netra.testing.check.baseline import BaselineError
    from netra.testing.check.changed import ChangedFilesError
    from netra.testing.check.config import ConfigError

    try:
        if explain_id is not None:
            typer.echo(explain(explain_id), nl=False)
            raise typer.Exit(EXIT_CLEAN)
        code, report, note = run(
            paths or [],
            output_format=output_format.value,
            baseline=baseline,
            update_baseline=update_baseline,
            changed=changed,
            base=base,
            config_file=config,
            use_cache=not no_cache,
            jobs=jobs,
        )
    except (UsageError, ConfigError, BaselineError, ChangedFilesError) as exc:
        typer.echo(f"netra check: error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report, encoding="utf-8")
        typer.echo(f"netra check: report written to {output}", err=True)
    else:
        sys.stdout.write(report)
    if note:
        typer.echo(note, err=True)
    raise typer.Exit(code)
