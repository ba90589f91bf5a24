"""Pick the files, run the codemods on each in order, and collect changes and refusals."""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterator
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile

from netra_check.migrate.codemods.base import MigrationCodemod
from netra_check.migrate.codemods.environ import EnvironToIsolated
from netra_check.migrate.codemods.main_block import RemoveMainBlock
from netra_check.migrate.codemods.relative_imports import RelativeToAbsoluteImports
from netra_check.migrate.codemods.unittest_bases import UnittestToSSot
from netra_check.migrate.model import FileMigration, Refusal


def package_of(path: Path) -> tuple[str, ...]:
    """The package a module is in, from the `__init__.py` files above it (() for none).

    As pytest names it (`resolve_package_path`): a folder whose name is no identifier
    (`my-tests`) ends the package, even with an `__init__.py`.
    """
    parts: list[str] = []
    directory = path.resolve().parent
    while (directory / "__init__.py").is_file() and directory.name.isidentifier():
        parts.insert(0, directory.name)
        directory = directory.parent
    return tuple(parts)


def migrate_source(
    source: str,
    *,
    package: tuple[str, ...] = (),
    test_module: bool = True,
    python_classes: tuple[str, ...] = ("Test",),
) -> tuple[str, list[Refusal]]:
    """The migrated text of one module and what was left alone in it.

    `test_module` is False for support code (a base class in `tests/helpers.py`):
    its bases and environment uses are migrated, its imports and `__main__`
    block are left as they are. `python_classes` is pytest's option of that name:
    the class names it collects without a `__test__` flag.
    """
    refusals: list[Refusal] = []
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return source, [Refusal("parse", exc.raw_line, f"does not parse: {exc.message}")]
    steps: list[MigrationCodemod] = []
    if test_module:
        steps.append(RelativeToAbsoluteImports(CodemodContext(), refusals, package))
    steps += [
        UnittestToSSot(CodemodContext(), refusals, python_classes),
        EnvironToIsolated(CodemodContext(), refusals),
    ]
    if test_module:
        steps.append(RemoveMainBlock(CodemodContext(), refusals))
    for step in steps:
        try:
            tree = step.transform_module(tree)
        except SkipFile:  # pragma: no cover - none of the codemods skips a file
            continue
    refusals.sort(key=lambda r: r.line)
    return _without_new_leading_blank_lines(tree, source).code, refusals


def _without_new_leading_blank_lines(tree: cst.Module, source: str) -> cst.Module:
    """Removing a file's first import leaves the blank lines that followed it at the top."""
    if not tree.body or tree.header or source[:1] in ("\n", "\r"):
        return tree
    first = tree.body[0]
    lines = list(first.leading_lines)
    while lines and lines[0].comment is None:
        lines.pop(0)
    return tree.with_changes(body=[first.with_changes(leading_lines=lines), *tree.body[1:]])


def select_files(paths: list[Path]) -> Iterator[tuple[Path, str, bool, tuple[str, ...]]]:
    """(path, path shown, is a test module, pytest's python_classes) for the test code
    under `paths`.

    Test code is what `netra check` calls test code, from the project's pytest
    configuration: test modules, conftests and modules in test folders.
    """
    from netra_check.command import _project_root
    from netra_check.config import load_config
    from netra_check.discovery import discover
    from netra_check.engine import in_scope
    from netra_check.rules import RULES_BY_ID

    root, only, walk = _project_root(paths)
    config = load_config(root, known_rules=frozenset(RULES_BY_ID))
    files, _ = discover(root, config, extra_paths=only or (), walk=walk)
    for file in files:
        if only is not None and not in_scope(file.rel, only):
            continue
        if not file.role.is_support:
            continue
        is_conftest = file.rel.rpartition("/")[2] == "conftest.py"
        is_test = file.role.is_test_file or is_conftest
        yield Path(file.path), file.rel, is_test, config.python_classes


def migrate_file(
    path: Path, shown: str, *, test_module: bool, python_classes: tuple[str, ...] = ("Test",)
) -> FileMigration:
    """Migrate one file in memory (newlines and encoding kept as they are)."""
    data = path.read_bytes()
    try:
        # The encoding Python reads the file in: a coding cookie or a byte order mark
        # (utf-8-sig), else UTF-8.
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        before = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        text = data.decode("utf-8", errors="replace")
        return FileMigration(shown, text, text, [Refusal("parse", 1, f"cannot be read: {exc}")])
    after, refusals = migrate_source(
        before, package=package_of(path), test_module=test_module, python_classes=python_classes
    )
    return FileMigration(shown, before, after, refusals, encoding=encoding)
