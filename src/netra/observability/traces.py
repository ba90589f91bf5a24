"""OpenTelemetry spans, exported over OTLP/HTTP when NETRA_OTEL_ENDPOINT is set.

Without an endpoint, `Tracing` is a no-op: `span()` hands back one shared
object whose methods do nothing; no OpenTelemetry SDK module is imported and no
provider, processor or thread is created. With one, each app has its own
`TracerProvider` (never the global one) with a batch processor that exports to
`<endpoint>/v1/traces` in the background.

Parents follow the running code: OpenTelemetry keeps the current span in a
context variable, and a task copies the context of the code that created it,
so a run's span is the child of the request (HTTP or WebSocket message) that
started it, and its model and tool calls are children of the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

Attributes = Mapping[str, str | int | float | bool]
#: Milliseconds between two exports of the spans that ended meanwhile.
EXPORT_DELAY_MS = 1000


class Span(Protocol):
    """What call sites may do with a span (an OpenTelemetry span, or the no-op one)."""

    def set_attribute(self, key: str, value: Any) -> None: ...
    def update_name(self, name: str) -> None: ...
    def set_status(self, status: Any, description: str | None = None) -> None: ...


class _NoSpan:
    __slots__ = ()

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def update_name(self, name: str) -> None:
        pass

    def set_status(self, status: Any, description: str | None = None) -> None:
        pass

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


NO_SPAN = _NoSpan()


def mark_error(span: Span, description: str) -> None:
    """Give a (real) span the ERROR status."""
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL (or the full URL as given)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


class Tracing:
    """Starts spans for one app; `enabled` only with an endpoint."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        service_instance: str = "",
        timeout: float = 5.0,
        sample_ratio: float = 1.0,
    ) -> None:
        self.enabled = endpoint is not None
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        if endpoint is not None:
            self._provider, self._tracer = _sdk_tracer(
                traces_url(endpoint), service_instance, timeout, sample_ratio
            )

    def span(
        self, name: str, attributes: Attributes | None = None
    ) -> contextlib.AbstractContextManager[Span]:
        """A context manager around a child of the current span (it becomes the current one)."""
        if self._tracer is None:
            return NO_SPAN
        return self._tracer.start_as_current_span(name, attributes=attributes)

    def shutdown(self) -> None:
        """Export what is left and stop (blocking: call it off the event loop)."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = self._tracer = None


def _sdk_tracer(
    url: str, service_instance: str, timeout: float, sample_ratio: float
) -> tuple[TracerProvider, Tracer]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from netra import __version__

    resource = Resource.create(
        {
            "service.name": "netra",
            "service.version": __version__,
            "service.instance.id": service_instance,
        }
    )
    # Given, not left to the SDK, which would read OTEL_TRACES_SAMPLER from the environment.
    # A trace not sampled still has its (non-recording) spans: parents stay right.
    sampler = ParentBased(TraceIdRatioBased(sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)
    exporter = OTLPSpanExporter(endpoint=url, timeout=timeout)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))
    return provider, provider.get_tracer("netra", __version__)
