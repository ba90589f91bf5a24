"""NC006 runner-bypass: code or CI that runs pytest directly instead of the canonical runner.

What it does:
    In test code and in scripts (`script_paths`, default `scripts`, `bin`,
    `tools`), reports `pytest.main(...)`, `unittest.main(...)` (typically in an
    `if __name__ == "__main__":` block) and subprocess calls that start pytest
    (`subprocess.run([sys.executable, "-m", "pytest", ...])`, `os.system("pytest")`).
    In CI files (`ci_files`, default `.github/workflows/*.yml` and `*.yaml`,
    `.ci/*`, `.gitlab-ci.yml`, `.circleci/*.yml`, `azure-pipelines.yml`,
    `Jenkinsfile`, `Makefile`, `tox.ini`), reports lines that run `pytest` or
    `python -m pytest` instead of `canonical_runner` (default `netra test`).

Why is this bad?
    The canonical runner starts the real services once, gives each worker an
    isolated database, runs the categories in order and writes the results CI
    reads. Running pytest directly skips all of that: tests pass or fail for
    reasons that have nothing to do with the code, and results go missing.

Example:
    ```yaml
    # .github/workflows/ci.yml
    - run: python -m pytest tests/integration -x
    ```

Use instead:
    ```yaml
    - run: netra test integration
    ```
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from netra_check.astutil import callee_name, dotted_name
from netra_check.context import FileContext
from netra_check.model import Finding, Rule
from netra_check.project import Project

_DIRECT_CALLS = frozenset({"pytest.main", "unittest.main", "pytest.console_main"})
_PROCESS_MODULES = frozenset({"subprocess", "os", "asyncio", "sh"})
_PROCESS_FUNCTIONS = frozenset(
    {
        "run",
        "call",
        "check_call",
        "check_output",
        "Popen",
        "getoutput",
        "getstatusoutput",
        "system",
        "popen",
        "execv",
        "execvp",
        "execl",
        "execlp",
        "spawnv",
        "spawnvp",
        "create_subprocess_exec",
        "create_subprocess_shell",
    }
)
_CALLEE_NAMES = _PROCESS_FUNCTIONS | {"main", "console_main"}
_TEXT_HINTS = ("main(", "subprocess", "system(", "popen(", "exec", "spawn")
_PYTHON_OPTIONS_WITH_VALUE = frozenset({"-X", "-W", "--check-hash-based-pycs"})
_WRAPPERS = frozenset({"sudo", "exec", "env", "time", "nice", "xvfb-run"})
_RUN_WRAPPERS = frozenset({"uv", "poetry", "pipenv", "hatch", "pdm", "rye", "coverage"})
_SEPARATORS = re.compile(r"&&|\|\||[;|&`]|\$\(")
_YAML_PREFIX = re.compile(
    r"^\s*(?:-\s+)?(?:(?:run|script|command|commands|cmd)\s*[:=]\s*)?[|>]?\s*"
)


def _is_python(word: str) -> bool:
    base = word.rsplit("/", 1)[-1].strip("\"'{}$")
    return base.startswith("python") or base.lower() in {"sys.executable", "py", "pythonexe"}


def command_runs_pytest(words: list[str]) -> bool:
    """Whether a command line (already split into words) starts pytest."""
    i = 0
    while i < len(words):
        word = words[i]
        base = word.rsplit("/", 1)[-1]
        if ("=" in word and not word.startswith("-")) or base in _WRAPPERS:
            i += 1
            continue
        if base in _RUN_WRAPPERS:
            i += 1
            while i < len(words) and words[i] in {"run", "-m", "exec", "--"}:
                i += 1
            continue
        if _is_python(word):
            i += 1
            while i < len(words) and words[i].startswith("-") and words[i] != "-m":
                i += 2 if words[i] in _PYTHON_OPTIONS_WITH_VALUE else 1
            if i + 1 < len(words) and words[i] == "-m":
                return words[i + 1] in {"pytest", "py.test"}
            return False
        return base in {"pytest", "py.test"}
    return False


def line_runs_pytest(line: str) -> bool:
    """Whether a shell or YAML line runs pytest directly."""
    code = line.split(" #", 1)[0]
    if code.lstrip().startswith("#") or ("pytest" not in code and "py.test" not in code):
        return False
    code = _YAML_PREFIX.sub("", code, count=1)
    for segment in _SEPARATORS.split(code):
        words = segment.replace("'", " ").replace('"', " ").split()
        if words and command_runs_pytest(words):
            return True
    return False


def _call_words(call: ast.Call) -> list[str] | None:
    """The words of a subprocess command, with non-literal parts shown as placeholders."""
    if not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return None if not line_runs_pytest(first.value) else ["pytest"]
    elts = first.elts if isinstance(first, ast.List | ast.Tuple) else call.args
    words = []
    for elt in elts:
        if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
            words.append(elt.value)
        else:
            words.append(dotted_name(elt) or "?")
    return words


class RunnerBypass(Rule):
    """See the module docstring."""

    id = "NC006"
    name = "runner-bypass"
    summary = "pytest.main, unittest.main, subprocess pytest, CI calling pytest"
    hint = "run tests through the canonical runner (`netra test`)"

    def _imported_from(self, ctx: FileContext) -> dict[str, str]:
        names: dict[str, str] = {}
        for _, node in ctx.owned_statements(ast.ImportFrom):
            assert isinstance(node, ast.ImportFrom)
            if node.module in {"pytest", "unittest", "subprocess", "os"}:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return names

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """Direct runner calls and subprocesses that start pytest."""
        if not (ctx.role.is_test_code or ctx.role.is_script) or ctx.tree is None:
            return
        text = ctx.text
        if not any(hint in text for hint in _TEXT_HINTS):
            return
        imported = self._imported_from(ctx)
        interesting = _CALLEE_NAMES | imported.keys()
        runner = ctx.config.canonical_runner
        for owner, node in ctx.owned(ast.Call):
            assert isinstance(node, ast.Call)
            if callee_name(node) not in interesting:
                continue
            name = dotted_name(node.func)
            if name is None:
                continue
            name = imported.get(name, name)
            if name in _DIRECT_CALLS:
                yield ctx.finding(self, node.lineno, f"{name}() bypasses `{runner}`", owner=owner)
                continue
            module, _, function = name.rpartition(".")
            if function in _PROCESS_FUNCTIONS and module.split(".", 1)[0] in _PROCESS_MODULES:
                words = _call_words(node)
                if words and command_runs_pytest(words):
                    yield ctx.finding(
                        self,
                        node.lineno,
                        f"{name}() starts pytest in a subprocess, bypassing `{runner}`",
                        owner=owner,
                    )

    def check_text_file(self, path: str, text: str, project: Project) -> Iterator[Finding]:
        """CI lines that run pytest directly."""
        runner = project.config.canonical_runner
        for number, line in enumerate(text.splitlines(), start=1):
            if line_runs_pytest(line):
                yield Finding(
                    rule_id=self.id,
                    path=path,
                    line=number,
                    message=f"CI runs pytest directly instead of `{runner}`",
                    anchor=f"ci|{line.strip()}",
                )
