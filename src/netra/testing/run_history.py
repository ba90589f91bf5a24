"""The per-run history behind the dashboard's trend: one small record per `netra test` run.

Kept in `test-results/runs.json`, newest last, at most RUNS_KEPT runs. The file
is a cache of past summaries, never a source of truth: a missing, corrupt or
older-format file is read as an empty history (or loses only the bad records),
and it is replaced atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netra.testing.results import write_atomically

RUNS_FILE = "runs.json"
RUNS_KEPT = 50  # runs kept for the trend; older ones are dropped
VERSION = 1
COUNT_KEYS = ("tests", "passed", "failed", "errors", "skipped")


def run_record(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the trend keeps of one run's summary.json: when, how long, and per category
    its status, counts and duration (plus the coverage totals when they were measured)."""
    categories: dict[str, Any] = {}
    totals = dict.fromkeys(COUNT_KEYS, 0)
    for category in summary.get("categories", []):
        counts = {key: int(category.get("counts", {}).get(key, 0)) for key in COUNT_KEYS}
        categories[str(category.get("name"))] = {
            "status": str(category.get("status", "not_run")),
            "duration_s": float(category.get("duration_s", 0.0)),
            "counts": counts,
        }
        for key in COUNT_KEYS:
            totals[key] += counts[key]
    record: dict[str, Any] = {
        "started_at": str(summary.get("started_at", "")),
        "exit_code": int(summary.get("exit_code", 0)),
        "duration_s": float(summary.get("duration_s", 0.0)),
        "categories": categories,
        "totals": totals,
    }
    coverage = summary.get("coverage")
    if isinstance(coverage, Mapping) and isinstance(coverage.get("total"), Mapping):
        total = coverage["total"]
        record["coverage"] = {
            "lines_pct": total.get("lines_pct"),
            "branches_pct": total.get("branches_pct"),
        }
    return record


def _valid(record: object) -> bool:
    """Whether `record` has every field the dashboard reads, of the type it reads it as."""
    if not isinstance(record, dict):
        return False
    totals = record.get("totals")
    categories = record.get("categories")
    exit_code = record.get("exit_code", 0)
    return (
        isinstance(record.get("started_at"), str)
        and _number(record.get("duration_s"))
        and isinstance(exit_code, int)
        and not isinstance(exit_code, bool)
        and isinstance(categories, dict)
        and all(
            isinstance(category, dict) and isinstance(category.get("status", ""), str)
            for category in categories.values()
        )
        and isinstance(totals, dict)
        and all(_number(totals.get(key)) for key in COUNT_KEYS)
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_runs(path: Path) -> list[dict[str, Any]]:
    """The recorded runs, oldest first; a record that is not well-formed is skipped."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list):
        return []
    return [record for record in runs if _valid(record)][-RUNS_KEPT:]


def save_runs(path: Path, runs: list[dict[str, Any]]) -> None:
    """Write the newest RUNS_KEPT runs, atomically."""
    write_atomically(path, json.dumps({"version": VERSION, "runs": runs[-RUNS_KEPT:]}, indent=1))


def record_run(path: Path, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Append this run to the history at `path`; returns the history, this run last."""
    runs = [*load_runs(path), run_record(summary)][-RUNS_KEPT:]
    save_runs(path, runs)
    return runs
