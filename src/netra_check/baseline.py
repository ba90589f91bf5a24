"""Baselines: accept today's findings so that CI fails only on new ones (a ratchet).

Findings are matched by fingerprint, not by line: the fingerprint is built from
the rule, the file and the finding's anchor (the enclosing test's qualified
name and the offending source text), plus an occurrence number for identical
anchors. Moving code up or down a file keeps every fingerprint; editing the
offending line or renaming the test makes it a new finding.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netra_check.errors import CheckError
from netra_check.model import Finding

BASELINE_VERSION = 1


class BaselineError(CheckError):
    """The baseline file cannot be read; the message says why."""


@dataclass
class BaselineComparison:
    """Current findings split into new and already-known, plus how many were fixed."""

    path: Path
    new: list[Finding]
    known: list[Finding]
    fixed: int

    def new_ids(self) -> set[int]:
        """Identities (`id()`) of the new findings, for reporters that mark them."""
        return {id(f) for f in self.new}


def fingerprints(findings: Iterable[Finding]) -> list[str]:
    """One fingerprint per finding, numbering repeats of the same anchor in line order."""
    seen: Counter[tuple[str, str, str]] = Counter()
    result = []
    for finding in findings:
        key = (finding.rule_id, finding.path, finding.anchor)
        result.append(finding.fingerprint(seen[key]))
        seen[key] += 1
    return result


def write_baseline(
    path: Path, findings: list[Finding], keep: Iterable[dict[str, Any]] = ()
) -> None:
    """Write the findings as the new baseline, atomically.

    `keep` are entries of the old baseline to carry over unchanged: those outside
    the paths a scoped run checked, which it cannot know to be fixed.
    """
    entries = [
        {
            "fingerprint": fingerprint,
            "rule": finding.rule_id,
            "path": finding.path,
            "line": finding.line,
            "message": finding.message,
        }
        for finding, fingerprint in zip(findings, fingerprints(findings), strict=True)
    ]
    entries.extend(keep)
    entries.sort(key=lambda e: (str(e.get("path")), e.get("line") or 0, str(e.get("rule"))))
    import tempfile

    document = {"version": BASELINE_VERSION, "tool": "netra check", "findings": entries}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".baseline-", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def load_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a baseline file (each has at least a `fingerprint` string)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"{path} is not a netra check baseline (version {BASELINE_VERSION}); "
            "delete it and run again with --baseline to write a fresh one"
        )
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: 'findings' must be a list")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise BaselineError(f"{path}: every finding needs a 'fingerprint' string")
    return entries


def load_baseline(path: Path) -> Counter[str]:
    """The fingerprints (with multiplicity) stored in a baseline file."""
    return Counter(entry["fingerprint"] for entry in load_entries(path))


def split_scope(
    entries: list[dict[str, Any]], in_scope: Callable[[str], bool]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(entries whose path a scoped run checked, the others); entries without a path are kept."""
    inside: list[dict[str, Any]] = []
    outside: list[dict[str, Any]] = []
    for entry in entries:
        where = entry.get("path")
        (inside if isinstance(where, str) and in_scope(where) else outside).append(entry)
    return inside, outside


def compare(path: Path, findings: list[Finding], baseline: Counter[str]) -> BaselineComparison:
    """Split findings into those the baseline accepts and new ones."""
    remaining = Counter(baseline)
    new: list[Finding] = []
    known: list[Finding] = []
    for finding, fingerprint in zip(findings, fingerprints(findings), strict=True):
        if remaining[fingerprint] > 0:
            remaining[fingerprint] -= 1
            known.append(finding)
        else:
            new.append(finding)
    return BaselineComparison(path, new, known, fixed=sum(remaining.values()))
