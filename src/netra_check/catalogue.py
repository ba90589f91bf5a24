"""The rule catalogue of docs/check.md, generated from the rules' own docstrings.

`python -m netra_check.catalogue` prints it; a unit test keeps the
copy in docs/check.md identical, so the docs and `--explain` never disagree.
"""

from __future__ import annotations

import textwrap

from netra_check.rules import REGISTRY, rule_doc

HEADINGS = ("What it does:", "Why is this bad?", "Example:", "Use instead:")


def catalogue_markdown() -> str:
    """The rule table followed by one section per rule."""
    rows = [
        "| id | name | finds |",
        "|---|---|---|",
        *(f"| [{r.id}](#{r.id.lower()}-{r.name}) | `{r.name}` | {r.summary} |" for r in REGISTRY),
    ]
    sections = []
    for rule in REGISTRY:
        title, _, body = rule_doc(rule).partition("\n")
        lines = [f"### {rule.id} {rule.name}", "", f"_{title.split(':', 1)[1].strip()}_", ""]
        for line in textwrap.dedent(body.strip("\n")).splitlines():
            stripped = line.rstrip()
            if stripped in HEADINGS:
                lines.append(f"**{stripped}**")
            else:
                lines.append(line.removeprefix("    "))
        lines += ["", f"Fix: {rule.hint}."]
        sections.append("\n".join(lines))
    return "\n".join(rows) + "\n\n" + "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
