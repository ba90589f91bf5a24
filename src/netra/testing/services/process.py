"""What every service process needs: a free port, an owner, a private dir, a clean end."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from netra.testing.services.errors import ServiceUnavailable

STOP_TIMEOUT = 15.0
OWNER_FILE = "netra-owner"  # marks a service's temp dir with the pid that owns it
SHM_MIN_FREE = 1 << 30  # bytes of shared memory that must be free to put services there
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def service_identity() -> dict[str, Any]:
    """Popen arguments that drop root: PostgreSQL refuses to run as root, so `nobody` runs it."""
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid`, so a reused pid is not taken for its owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def service_root() -> Path:
    """Where service dirs go: shared memory when there is room, else the temp dir.

    Copying a cluster into tmpfs takes a tenth of the time it takes on disk, and
    nothing a test server writes needs to survive the run.
    """
    shm = Path("/dev/shm")
    try:
        if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= SHM_MIN_FREE:
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def make_service_dir(prefix: str) -> Path:
    """A private temp dir for one service, marked with this process as its owner.

    Dirs left by owners that died without cleaning up (SIGKILL) are removed first.
    """
    root = service_root()
    sweep_orphaned_dirs(prefix, root)
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    started = _process_start_time(os.getpid()) or ""
    (directory / OWNER_FILE).write_text(f"{os.getpid()} {started}\n")
    return directory


def sweep_orphaned_dirs(prefix: str, root: Path) -> list[Path]:
    """Remove `root/prefix*` dirs whose owner process no longer exists (Linux only)."""
    if _process_start_time(os.getpid()) is None:
        return []  # no /proc: owners cannot be checked, so nothing is removed
    removed = []
    for directory in root.glob(f"{prefix}*"):
        try:
            pid, _, started = (directory / OWNER_FILE).read_text().strip().partition(" ")
            owner_alive = _owner_alive(int(pid), started)
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if not owner_alive:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    return removed


def _owner_alive(pid: int, started: str) -> bool:
    start_time = _process_start_time(pid)
    if start_time is not None:
        return start_time == started  # a different start time: the pid was reused
    try:  # /proc may hide other users' processes (hidepid): ask the kernel instead
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork, not in the child
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the owner died before the signal was armed
            raise ChildProcessError("the process starting this service has exited")

    return set_parent_death_signal


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    parent_death_signal: signal.Signals,
    identity: dict[str, Any] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a service process in its own session, logging to `log_path`.

    Its own session keeps a terminal's Ctrl-C away from it: the owner stops it in
    order. If the owner is killed outright, the kernel sends `parent_death_signal`
    (Linux; only when spawned from the main thread, since the signal follows the
    spawning thread, not the process).
    """
    on_linux_main_thread = (
        os.uname().sysname == "Linux" and threading.current_thread() is threading.main_thread()
    )
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(parent_death_signal) if on_linux_main_thread else None,
            **(identity or {}),
        )


def stop_process(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    """Send `sig`, wait, and kill if the process does not end in time."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_ready(
    name: str,
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
) -> None:
    """Poll `ready` until it is true; a process that exits or takes too long is an error."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            raise ServiceUnavailable(f"{name} exited during startup:\n{log[-2000:]}")
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"{name} not ready after {timeout} s")
        time.sleep(0.01)
