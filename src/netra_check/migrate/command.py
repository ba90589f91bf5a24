"""`netra migrate PATH...` (and `python -m netra_check.migrate`): the command line.

Exit codes: 0 nothing left to do (with `--write`: everything written, nothing
left alone); 1 something is left: a diff to apply (without `--write`) or code
left alone that needs a person; 2 usage error (a path that does not exist,
a broken configuration).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from netra_check.errors import CheckError

EXIT_DONE = 0
EXIT_LEFT = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netra migrate",
        description="Move a pytest or unittest suite onto Netra's conventions: unittest.TestCase "
        "onto SSotBaseTestCase, os.environ onto the isolated environment, relative imports onto "
        "absolute ones, __main__ runner blocks removed. Prints a unified diff; --write applies "
        "it. Exit 0 nothing left to do, 1 a diff to apply or code left alone, 2 usage error.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="Test files or folders to migrate."
    )
    parser.add_argument("--write", action="store_true", help="Write the changes to the files.")
    return parser


def diff(shown: str, before: str, after: str) -> str:
    """A unified diff of one file, as `git apply` and `patch -p1` take it."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{shown}",
            tofile=f"b/{shown}",
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        from netra_check.migrate.engine import migrate_file, select_files
    except ModuleNotFoundError as exc:  # the netra-check distribution alone has no libcst
        print(f"netra migrate: error: {exc.name} is missing: pip install libcst", file=sys.stderr)
        return EXIT_USAGE

    changed = refused = files = 0
    try:
        selected = list(select_files(args.paths))
    except CheckError as exc:
        print(f"netra migrate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path, shown, test_module, python_classes in selected:
        files += 1
        result = migrate_file(path, shown, test_module=test_module, python_classes=python_classes)
        for refusal in result.refusals:
            refused += 1
            print(
                f"{shown}:{refusal.line}: [{refusal.codemod}] left alone: {refusal.reason}",
                file=sys.stderr,
            )
        if not result.changed:
            continue
        changed += 1
        if args.write:
            with path.open("w", encoding=result.encoding, newline="") as handle:
                handle.write(result.after)
        else:
            sys.stdout.write(diff(shown, result.before, result.after))
    verb = "changed" if args.write else "to change"
    print(
        f"netra migrate: {files} file(s) read, {changed} {verb}, {refused} place(s) left alone",
        file=sys.stderr,
    )
    pending = changed and not args.write
    return EXIT_LEFT if pending or refused else EXIT_DONE
