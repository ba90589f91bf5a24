"""Metrics, structured logs and traces: what an operator sees of a running Netra.

A leaf package: it imports nothing of Netra but `netra.__version__`, so every
layer (api, realtime, runs, agents, auth) may call into it. An app builds one
`Observability` (its own metrics registry and tracer) and hands it down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netra.observability.metrics import Metrics
from netra.observability.traces import Tracing

__all__ = ["Metrics", "Observability", "Tracing"]


@dataclass(frozen=True)
class Observability:
    """One app's metrics and tracing (tracing is a no-op unless an endpoint is given)."""

    metrics: Metrics = field(default_factory=Metrics)
    tracing: Tracing = field(default_factory=Tracing)

    @classmethod
    def create(
        cls,
        otel_endpoint: str | None = None,
        service_instance: str = "",
        *,
        sample_ratio: float = 1.0,
    ) -> Observability:
        tracing = Tracing(
            otel_endpoint, service_instance=service_instance, sample_ratio=sample_ratio
        )
        return cls(Metrics(), tracing)
