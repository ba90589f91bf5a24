"""Mutation score of the modules that enforce Netra's contracts (issue 16), with mutmut 3.

Usage (from anywhere; it works in the repository root):

    .venv/bin/python bench/quality/mutation.py                 # every module, one at a time
    .venv/bin/python bench/quality/mutation.py tokens log      # some of them
    .venv/bin/python bench/quality/mutation.py --show engine   # and the diff of each survivor
    .venv/bin/python bench/quality/mutation.py --fresh         # drop cached results first

mutmut's configuration (the files it mutates, the tests it runs) is `[tool.mutmut]` in
pyproject.toml. It copies `src/` and `tests/` into `mutants/` (ignored by git; `--fresh`
removes it), records which tests call each mutated function, and runs only those
tests against that function's mutants, two at a time (the machine has two cores).

A module's score is killed / total, where killed counts mutants that made a test fail
or time out, and total every mutant mutmut made in the module's scope. Each survivor's
explanation, or the test that now kills it, is in bench/quality/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"


@dataclass(frozen=True)
class Module:
    name: str
    path: str  # under src/
    pattern: str  # mutmut's mutant-name glob: the module, or one class of it
    what: str


MODULES = {
    m.name: m
    for m in (
        Module("tokens", "netra/auth/tokens.py", "netra.auth.tokens.x*", "access, refresh tokens"),
        Module(
            "api_tokens",
            "netra/auth/api_tokens.py",
            "netra.auth.api_tokens.x*",
            "API tokens: hash, shape, expiry, scope",
        ),
        Module("events", "netra/realtime/events.py", "netra.realtime.events.x*", "event contract"),
        Module(
            "validator",
            "netra/testing/ws.py",
            "netra.testing.ws.xǁEventValidatorǁ*",
            "EventValidator (WsClient left out: it needs a server)",
        ),
        Module("engine", "netra/agents/engine.py", "netra.agents.engine.x*", "the agent loop"),
        Module("log", "netra/realtime/log.py", "netra.realtime.log.x*", "EventLogWriter"),
    )
}

KILLED = {1, 3, 36, 24, -24, 152, 255}  # a failing test, pytest's internal error, a timeout
SURVIVED = {0}


def run_module(module: Module, max_children: int) -> Path:
    """Run mutmut on one module; its output goes to mutants/<name>.log."""
    MUTANTS.mkdir(exist_ok=True)
    log_path = MUTANTS / f"{module.name}.log"
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)]
    with log_path.open("w") as log:
        done = subprocess.run([*command, module.pattern], cwd=ROOT, stdout=log, stderr=log)
    if done.returncode != 0:
        sys.exit(f"mutmut failed on {module.name} (exit {done.returncode}); see {log_path}")
    return log_path


def results(module: Module) -> dict[str, int | None]:
    """Exit code of each mutant in the module's scope (mutmut's own record)."""
    meta = MUTANTS / "src" / (module.path + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    prefix = module.pattern.rstrip("*")
    return {name: code for name, code in sorted(codes.items()) if name.startswith(prefix)}


def show(name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules",
        nargs="*",
        choices=[[], *MODULES],  # [] is the default; argparse checks it against choices
        metavar="MODULE",
        help=f"one of {', '.join(MODULES)} (default: all, one after another)",
    )
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument("--fresh", action="store_true", help="remove mutants/ before running")
    parser.add_argument("--max-children", type=int, default=2, help="parallel test processes")
    parser.add_argument("--json", type=Path, help="also write the scores to this file")
    args = parser.parse_args()
    if args.fresh and MUTANTS.exists():
        shutil.rmtree(MUTANTS)
    chosen = [MODULES[name] for name in args.modules] or list(MODULES.values())
    scores: dict[str, dict[str, object]] = {}
    print(f"{'module':<12} {'killed':>7} {'total':>6} {'score':>7}  survivors")
    for module in chosen:
        run_module(module, args.max_children)
        codes = results(module)
        killed = sum(1 for code in codes.values() if code in KILLED)
        others = {name: code for name, code in codes.items() if code not in KILLED}
        total = len(codes)
        score = 100.0 * killed / total if total else 0.0
        scores[module.name] = {
            "path": f"src/{module.path}",
            "killed": killed,
            "total": total,
            "score": round(score, 1),
            "not_killed": others,
        }
        names = ", ".join(name.rpartition(".")[2] for name in others) or "-"
        print(f"{module.name:<12} {killed:>7} {total:>6} {score:>6.1f}%  {names}", flush=True)
        if args.show:
            for name, code in others.items():
                print(f"\n# {name} (exit code {code})\n{show(name)}")
    if args.json:
        args.json.write_text(json.dumps(scores, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
