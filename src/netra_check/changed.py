"""`--changed`: the files that differ from a git ref (plus untracked files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from netra_check.errors import CheckError


class ChangedFilesError(CheckError):
    """git could not say what changed; the message says why."""


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise ChangedFilesError("--changed needs git, which is not on the PATH") from exc


def _lines(output: str) -> list[str]:
    return [line for line in output.split("\0") if line]


def changed_files(root: Path, ref: str) -> list[str]:
    """Paths relative to `root` (POSIX) changed against `ref`, staged, unstaged or untracked.

    For a ref other than HEAD the comparison is with `git merge-base REF HEAD`, so
    `--base origin/main` lists what this branch changed, not what main moved on to.
    In a repository without commits yet, every file counts as changed.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ChangedFilesError(f"--changed needs a git repository; {root} is not in one")
    toplevel = Path(top.stdout.strip()).resolve()
    target = ref
    if ref != "HEAD":
        # Like a pull request: what this branch changed since it left `ref`, not
        # everything `ref` gained since (`git diff REF...`, plus the working tree).
        merge_base = _git(root, "merge-base", ref, "HEAD")
        if merge_base.returncode != 0:
            raise ChangedFilesError(
                f"git cannot find where HEAD left {ref!r}: "
                f"{merge_base.stderr.strip() or 'no common ancestor'}"
            )
        target = merge_base.stdout.strip()
    diff = _git(root, "diff", "--name-only", "-z", "--relative", target, "--")
    if diff.returncode != 0:
        has_commits = _git(root, "rev-parse", "--verify", "-q", "HEAD").returncode == 0
        if ref == "HEAD" and not has_commits:
            listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
            names = _lines(listed.stdout)
        else:
            raise ChangedFilesError(
                f"git cannot diff against {ref!r}: {diff.stderr.strip() or 'unknown ref'}"
            )
    else:
        untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
        names = _lines(diff.stdout) + _lines(untracked.stdout)
    # `--relative` and ls-files already give paths relative to `root` when run there,
    # but `root` may be a sub-folder of the repository or a symlinked path.
    base = root.resolve()
    result = set()
    for name in names:
        path = (base / name).resolve()
        try:
            result.add(path.relative_to(base).as_posix())
        except ValueError:
            try:
                result.add((toplevel / name).resolve().relative_to(base).as_posix())
            except ValueError:
                continue
    return sorted(result)
