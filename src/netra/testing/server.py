"""A real `netra serve` process on a free port, for e2e tests and benchmarks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from netra.env import IsolatedEnvironment
from netra.testing.fake_openai import FakeOpenAI
from netra.testing.services import free_port

STARTUP_TIMEOUT = 30.0


class ServerFailed(RuntimeError):
    """The server process did not come up; the message carries its output."""


class NetraServer:
    """Runs `python -m netra serve` with a private data dir and the given settings."""

    def __init__(
        self,
        env: IsolatedEnvironment,
        data_dir: Path,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        child_env = {k: v for k, v in env.as_dict().items() if not k.startswith("NETRA_")}
        child_env.update({"NETRA_ENV": "test", "NETRA_DATA_DIR": str(data_dir)})
        # Every test signs its users up from 127.0.0.1; tests of the limit set their own.
        child_env["NETRA_REGISTRATIONS_PER_HOUR"] = "1000000"
        child_env.update(settings or {})
        self._env = child_env
        self._log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NetraServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netra",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self._wait_until_healthy()
        except BaseException:  # also Ctrl-C: never leave a half-started server behind
            self.stop()
            raise
        return self

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"netra serve exited with {self.process.returncode}:\n{self.log()}"
                )
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"netra serve not healthy after {STARTUP_TIMEOUT} s:\n{self.log()}"
                )
            time.sleep(0.05)

    def stop(self) -> int | None:
        """Graceful stop (SIGTERM), then kill if needed; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def __enter__(self) -> NetraServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RemoteServer:
    """An already running deployment (e.g. staging), reached by URL; never started or stopped."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        scheme, sep, rest = self.base_url.partition("://")
        if not sep or scheme not in ("http", "https"):
            raise ValueError(f"base URL must start with http:// or https://, got {base_url!r}")
        self.ws_url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"


@dataclass
class ModelServer:
    """`netra serve` whose model is a local OpenAI-compatible fake that a test scripts."""

    fake: FakeOpenAI
    server: NetraServer

    @property
    def base_url(self) -> str:
        return self.server.base_url


@asynccontextmanager
async def serve_on_fake_model(
    env: IsolatedEnvironment, directory: Path, settings: Mapping[str, str] | None = None
) -> AsyncIterator[ModelServer]:
    """A `netra serve` (embedded default unless `settings` say otherwise) whose default
    agent's model is a fresh FakeOpenAI."""
    async with FakeOpenAI() as fake:
        model = {
            "NETRA_MODEL_PROVIDER": "openai",
            "NETRA_MODEL_BASE_URL": fake.base_url,
            "NETRA_MODEL_NAME": "fake-gpt",
        }
        with NetraServer(env, directory, {**model, **(settings or {})}) as server:
            yield ModelServer(fake, server)
