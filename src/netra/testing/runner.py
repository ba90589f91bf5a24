"""The unified test runner behind `netra test`: categories in order, fail-fast."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CATEGORIES = ("mission_critical", "unit", "integration", "e2e")


def run_categories(
    categories: Sequence[str] | None = None,
    *,
    keep_going: bool = False,
    pytest_args: Sequence[str] = (),
    tests_dir: Path = Path("tests"),
) -> int:
    """Run each category's folder with pytest; returns pytest's exit code (first failure)."""
    selected = list(categories or CATEGORIES)
    unknown = [c for c in selected if c not in CATEGORIES]
    if unknown:
        print(f"unknown test category {unknown}; choose from {', '.join(CATEGORIES)}")
        return 4
    worst = 0
    for category in selected:
        folder = tests_dir / category
        print(f"\n=== netra test: {category} ===", flush=True)
        code = subprocess.call([sys.executable, "-m", "pytest", str(folder), *pytest_args])
        if code and not worst:
            worst = code
            if not keep_going:
                break
    return worst
