"""What a migration produces: the new text of a file and what was left alone."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Refusal:
    """Code a codemod left alone, with the reason a person should read."""

    codemod: str
    line: int
    reason: str


@dataclass
class FileMigration:
    """One file: its text before and after, and the refusals on it."""

    path: str
    before: str
    after: str
    refusals: list[Refusal] = field(default_factory=list)
    encoding: str = "utf-8"  # the file's, as Python reads it (PEP 263); written back in it

    @property
    def changed(self) -> bool:
        return self.before != self.after
