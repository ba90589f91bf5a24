"""netra.observability: per-app metrics, log lines with bound ids and no secret, no-op tracing."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from netra.api import errors
from netra.config import ConfigError, Settings
from netra.errors import AppError
from netra.observability import Metrics, logs
from netra.observability.http import RequestContext
from netra.observability.traces import NO_SPAN, Tracing, traces_url
from netra.testing.otlp import OtlpReceiver

if TYPE_CHECKING:
    from conftest import MakeEnv

SECRET = "sk-unit-0123456789abcdefMUSTNOTLEAK"


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("netra.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_two_apps_metrics_are_apart() -> None:
    first, second = Metrics(), Metrics()
    first.run_started("assistant")
    first.tool_called("assistant", "calculator", "ok")
    assert b'netra_runs_started_total{agent="assistant"} 1.0' in first.render()
    assert b"netra_runs_started_total{" not in second.render()
    assert b"_created" not in first.render()


def test_analytics_counts_are_read_at_each_scrape() -> None:
    metrics = Metrics()
    assert b"netra_analytics" not in metrics.render()  # no sink yet
    counts = [3, 1, 2]
    metrics.read_analytics(lambda: (counts[0], counts[1], counts[2]))
    counts[0] = 4
    text = metrics.render().decode()
    assert "netra_analytics_records_written_total 4.0" in text
    assert "netra_analytics_records_dropped_total 1.0" in text
    assert "netra_analytics_records_pending 2.0" in text


def test_refusals_are_counted_by_kind() -> None:
    metrics = Metrics()
    metrics.refusal(429, "too_many_runs")
    metrics.refusal(413, "payload_too_large")
    metrics.refusal(404, "not_found")  # neither throttled nor refused
    text = metrics.render().decode()
    assert 'netra_throttled_total{reason="too_many_runs"} 1.0' in text
    assert 'netra_refused_total{reason="payload_too_large"} 1.0' in text
    assert "not_found" not in text


def test_readiness_sets_one_status_per_component() -> None:
    metrics = Metrics()
    metrics.readiness({"database": "ok", "events": "degraded"})
    text = metrics.render().decode()
    assert 'netra_component_status{component="database",status="ok"} 1.0' in text
    assert 'netra_component_status{component="database",status="error"} 0.0' in text
    assert 'netra_component_status{component="events",status="degraded"} 1.0' in text


def test_json_line_carries_bound_ids_and_the_exception() -> None:
    formatter = logs.JsonFormatter([SECRET])

    async def in_a_task() -> str:
        logs.bind(request_id="req-1", user_id="usr_1")
        logs.bind(run_id="run_1", thread_id=None)
        try:
            raise ValueError("bad\nthing")
        except ValueError as exc:
            return formatter.format(_record("failed %s", "here", exc=exc))

    line = asyncio.run(in_a_task())
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed here"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "netra.test"
    assert entry["time"].endswith("Z")
    assert (entry["request_id"], entry["user_id"], entry["run_id"]) == ("req-1", "usr_1", "run_1")
    assert "thread_id" not in entry
    assert "ValueError: bad" in entry["exception"]
    assert logs.bound() == {}  # the task had a context of its own


def test_secrets_never_appear_in_either_format() -> None:
    record = _record("calling with key %s and Bearer %s", SECRET, SECRET)
    for formatter in (logs.JsonFormatter([SECRET]), logs.TextFormatter([SECRET])):
        line = formatter.format(record)
        assert SECRET not in line
        assert logs.REDACTED in line
    entry = json.loads(logs.JsonFormatter([SECRET]).format(record))
    assert entry["message"].count(logs.REDACTED) == 2


def test_a_secret_that_json_escapes_is_redacted_in_json_lines() -> None:
    # A password with a quote, a backslash or a control character is written escaped
    # in a JSON line; the escaped form must be redacted too.
    secret = 'db-pa"ss\\word\t1'
    record = _record("connecting with %s", secret, exc=ValueError(f"bad password {secret}"))
    line = logs.JsonFormatter([secret]).format(record)
    entry = json.loads(line)
    assert secret not in entry["message"]
    assert secret not in entry["exception"]
    assert entry["message"] == f"connecting with {logs.REDACTED}"


async def test_a_request_that_fails_is_logged_and_answered_with_its_ids() -> None:
    # Starlette logs and answers a 500 outside every middleware, after RequestContext
    # has unbound the request's ids: they must still reach that line and the response.
    app = FastAPI()
    errors.install(app)
    app.add_middleware(RequestContext, tracing=Tracing())

    @app.get("/boom")
    async def boom() -> None:
        logs.bind(user_id="usr_failing")  # as the authentication dependency does
        raise RuntimeError("boom")

    lines: list[tuple[str, dict[str, str]]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.getMessage(), dict(logs.bound())))

    handler = Keep()
    logging.getLogger("netra.api.errors").addHandler(handler)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://netra") as http:
            response = await http.get("/boom", headers={"X-Request-ID": "req-500"})
    finally:
        logging.getLogger("netra.api.errors").removeHandler(handler)

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"] == "req-500"
    assert lines == [("GET /boom failed", {"request_id": "req-500", "user_id": "usr_failing"})]
    assert logs.bound() == {}  # nothing stays bound where the request ran


async def test_http_spans_of_server_errors_have_the_error_status_and_others_do_not() -> None:
    with OtlpReceiver() as receiver:
        tracing = Tracing(receiver.endpoint)
        app = FastAPI()
        errors.install(app)
        app.add_middleware(RequestContext, tracing=tracing)

        @app.get("/fine")
        async def fine() -> dict[str, str]:
            return {"ok": "yes"}

        @app.get("/missing")
        async def missing() -> None:
            raise AppError(404, "not_found", "nothing here")

        @app.get("/unavailable")
        async def unavailable() -> None:
            raise AppError(503, "analytics_unavailable", "try again later")

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("boom")

        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://netra") as http:
            for path in ("/fine", "/missing", "/unavailable", "/boom"):
                await http.get(path)
        await asyncio.to_thread(tracing.shutdown)  # exports what is left
        spans = receiver.wait_for(lambda spans: len(spans) >= 4, timeout=10)

    seen = {s.name: (s.attributes["http.response.status_code"], s.status) for s in spans}
    assert seen == {
        "GET /fine": (200, "unset"),
        "GET /missing": (404, "unset"),
        "GET /unavailable": (503, "error"),
        "GET /boom": (500, "error"),
    }


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_secret_known_only_once_running_is_redacted_from_then_on(log_format: str) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = logs.configure("info", log_format, ["configured-secret"])  # type: ignore[arg-type]
    try:
        generated = 'generated"key\\0123'
        logs.redact_also(generated)
        line = handler.format(_record("key %s and %s", generated, "configured-secret"))
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "generated" not in line
    assert "configured-secret" not in line
    assert line.count(logs.REDACTED) == 2


def test_text_format_appends_the_bound_ids() -> None:
    token = logs.bind(request_id="req-9", run_id="run_9")
    try:
        line = logs.TextFormatter().format(_record("hello"))
    finally:
        logs.unbind(token)
    assert line.startswith("WARNING   netra.test: hello")
    assert line.endswith("[request_id=req-9 run_id=run_9]")


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("abc-1", True),
        ("4bf92f3577b34da6a3ce929d0e0e4736", True),
        ("a b", False),
        ('quote"d', False),
        ("", False),
        ("x" * 129, False),
        (None, False),
    ],
)
def test_request_id_is_taken_only_if_sane(offered: str | None, kept: bool) -> None:
    chosen = logs.request_id(offered)
    assert (chosen == offered) is kept
    assert 1 <= len(chosen) <= 128


def test_disabled_tracing_hands_back_the_shared_no_op_span() -> None:
    tracing = Tracing()
    assert not tracing.enabled
    with tracing.span("run", {"netra.agent": "assistant"}) as span:
        span.set_attribute("netra.outcome", "ok")
    assert span is NO_SPAN
    tracing.shutdown()


def test_without_an_endpoint_no_tracing_sdk_is_imported(tmp_path: Path) -> None:
    """A whole app built and a span opened, in a fresh interpreter: neither the tracing
    SDK nor the exporter was imported. (redis-py imports opentelemetry.sdk.metrics
    by itself when the SDK is installed; that is not ours.)"""
    code = """
import json, sys
from netra.api.app import create_app
from netra.config import Settings
app = create_app(Settings())
with app.state.obs.tracing.span("run") as span:
    span.set_attribute("netra.outcome", "ok")
heavy = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.proto")
print(json.dumps({
    "enabled": app.state.obs.tracing.enabled,
    "loaded": sorted(m for m in sys.modules if m.startswith(heavy)),
}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    assert report == {"enabled": False, "loaded": []}


@pytest.mark.parametrize(("ratio", "recorded"), [(0.0, 0), (1.0, 5)])
def test_the_sample_ratio_decides_which_traces_are_recorded_and_children_follow(
    ratio: float, recorded: int
) -> None:
    # Nothing listens there: nothing is exported before shutdown, whose export fails quietly.
    tracing = Tracing("http://127.0.0.1:9", sample_ratio=ratio, timeout=0.1)
    try:
        seen = []
        for _ in range(5):
            with tracing.span("run") as run, tracing.span("model_call") as call:
                seen.append((run.is_recording(), call.is_recording()))  # type: ignore[attr-defined]
        assert [r for r, c in seen if r and c] == [True] * recorded
        assert all(r == c for r, c in seen)  # a child never differs from its parent
    finally:
        tracing.shutdown()


def test_traces_url_appends_the_signal_path_once() -> None:
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_observability_settings(make_env: MakeEnv) -> None:
    settings = Settings.from_env(
        make_env(
            {
                "NETRA_LOG_FORMAT": "json",
                "NETRA_METRICS_TOKEN": "metrics-token-1",
                "NETRA_OTEL_ENDPOINT": "http://127.0.0.1:4318",
                "NETRA_DATABASE_URL": "postgresql://netra:db-password-1@db/netra",
            }
        )
    )
    assert settings.log_format == "json"
    assert settings.otel_endpoint == "http://127.0.0.1:4318"
    assert {"metrics-token-1", "db-password-1"} <= set(settings.secrets())
    assert "metrics-token-1" not in repr(settings)
    clickhouse = Settings.from_env(
        make_env({"NETRA_CLICKHOUSE_URL": "http://netra:ch%2Fpassword-1@ch:8123/netra"})
    )
    assert {"ch%2Fpassword-1", "ch/password-1"} <= set(clickhouse.secrets())
    with pytest.raises(ConfigError, match="NETRA_OTEL_ENDPOINT"):
        Settings.from_env(make_env({"NETRA_OTEL_ENDPOINT": "collector:4318"}))
    with pytest.raises(ConfigError, match="NETRA_LOG_FORMAT"):
        Settings.from_env(make_env({"NETRA_LOG_FORMAT": "xml"}))
