"""py-spy attached to a running server, for `bench/load.py --profile PATH`.

Samples the server's threads during the measured window and writes a text
summary: samples by thread, self time by package and by function, inclusive
time by function. py-spy is in the dev extra, installed from the lock
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

RATE = 100  # samples per second
TICKS = os.sysconf("SC_CLK_TCK")


class Profiler:
    """`py-spy record` on `pid` from construction until `write()`; a context manager."""

    def __init__(self, pid: int) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise SystemExit("--profile needs py-spy: python3 scripts/dev.py setup")
        self._dir = tempfile.TemporaryDirectory(prefix="netra-profile-")
        self._raw = Path(self._dir.name) / "stacks.txt"
        self._pid = pid
        # Collapsed stacks per function (no line numbers), one root frame per thread.
        # --nonblocking: sampling does not pause the server, so it perturbs the window less.
        command = [spy, "record", "--pid", str(pid), "--format", "raw", "--nolineno", "--threads"]
        command += ["--nonblocking", "--rate", str(RATE), "--output", str(self._raw)]
        self._process = subprocess.Popen(
            command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.5)  # attaching takes a moment: the window must not start before it samples
        self._cpu = thread_cpu(pid)

    def write(self, path: Path, title: str) -> None:
        """Stop sampling and write the summary to `path`."""
        self._stop()
        if not self._raw.exists():
            raise RuntimeError(f"py-spy wrote no profile (exit {self._process.returncode})")
        path.parent.mkdir(parents=True, exist_ok=True)
        used = thread_cpu(self._pid)
        measured = {tid: used[tid] - self._cpu.get(tid, 0.0) for tid in used}
        path.write_text(summary(self._raw.read_text(), title, measured))

    def _stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> Profiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
        self._dir.cleanup()


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each live thread of `pid`, by thread id, from /proc."""
    used = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            used[task.name] = (int(fields[11]) + int(fields[12])) / TICKS
    return used


def summary(collapsed: str, title: str, measured: dict[str, float]) -> str:
    """Tables of py-spy's collapsed stacks ("thread;frame;frame count" per line)."""
    threads: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = stack.split(";"), int(count)
        total += samples
        threads[frames[0]] += samples
        own[frames[-1]] += samples
        # "func (package/module.py)" -> "package"; a stack with no Python frame -> the thread.
        packages[re.sub(r".*\(([^/)]+).*", r"\1", frames[-1]) if len(frames) > 1 else "-"] += (
            samples
        )
        for name in set(frames[1:]):
            inclusive[name] += samples
    lines = [
        f"# {title}",
        f"# {total} samples at {RATE} Hz of the threads py-spy judged running (--nonblocking).",
        "# A Python frame's self time includes the C code it calls: epoll_wait under",
        "# EpollSelector.select, sqlite3 under aiosqlite's _connection_worker_thread (which also",
        "# waits for work there: py-spy may count a thread blocked in C as running). Check the",
        "# samples against the CPU time the kernel counted for each thread (x 100 = samples):",
        *(f"#   thread {tid}: {seconds:.2f} s" for tid, seconds in measured.items() if seconds),
    ]
    for heading, counts, top in (
        ("samples by thread", threads, 10),
        ("self time by package (first part of the leaf frame's file)", packages, 25),
        ("self time by function", own, 40),
        ("inclusive time by function (once per stack)", inclusive, 60),
    ):
        lines += ["", f"## {heading}", "    %  samples  frame"]
        for name, samples in counts.most_common(top):
            lines.append(f"{100 * samples / max(1, total):5.1f} {samples:8d}  {name}")
    return "\n".join(lines) + "\n"
