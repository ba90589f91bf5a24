"""Prometheus metrics of one Netra app, served as text at GET /metrics.

Each app has its own `CollectorRegistry` (never the process-wide default), so
several apps in one process (tests) do not share or clash over counters, and
each instance of a deployment serves its own numbers.

Labels are bounded: agent and tool names come from the registry (a tool the
model made up counts as `unknown`), outcomes, reasons, transports and
components are fixed words. No user, thread or run id is ever a label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["COMPONENT_STATUSES", "CONTENT_TYPE_LATEST", "Metrics"]

#: Seconds: from a few milliseconds (an event) to the default run timeout.
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
#: What /ready reports for a component; the gauge is 1 for the current one, 0 for the rest.
COMPONENT_STATUSES = ("ok", "degraded", "stopping", "error")


class _WithoutCreated(Collector):
    """A registry's metrics less their `*_created` samples (a timestamp per counter and
    histogram series, which would double what a scrape carries and say nothing a
    counter reset does not). prometheus-client can only drop them process-wide."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


#: What the run analytics sink reports: records written, dropped, still buffered.
AnalyticsCounts = Callable[[], tuple[int, int, int]]


class _Analytics(Collector):
    """The analytics sink's own counts, read at each scrape (it keeps them anyway)."""

    def __init__(self) -> None:
        self.read: AnalyticsCounts | None = None

    def collect(self) -> Iterable[Metric]:
        if self.read is None:
            return
        written, dropped, pending = self.read()
        yield CounterMetricFamily(
            "netra_analytics_records_written", "Run records written to analytics", written
        )
        yield CounterMetricFamily(
            "netra_analytics_records_dropped",
            "Run records lost: buffer full, refused by the store, or unwritten at shutdown",
            dropped,
        )
        yield GaugeMetricFamily(
            "netra_analytics_records_pending", "Run records buffered, not yet written", pending
        )


class Metrics:
    """Every metric Netra records, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._exposed = _WithoutCreated(registry)
        self._analytics = _Analytics()
        registry.register(self._analytics)
        self.connections = Gauge(
            "netra_open_connections",
            "Open client connections: WebSockets (ws) and AG-UI event streams (agui)",
            ["transport"],
            registry=registry,
        )
        self.runs_started = Counter(
            "netra_runs_started", "Runs started in this process", ["agent"], registry=registry
        )
        self.runs_ended = Counter(
            "netra_runs_ended",
            "Runs ended in this process, by outcome (completed, failed, cancelled)",
            ["agent", "outcome"],
            registry=registry,
        )
        self.run_duration = Histogram(
            "netra_run_duration_seconds",
            "From a run's start to its terminal event committed",
            ["agent", "outcome"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )
        self.time_to_first_event = Histogram(
            "netra_run_first_event_seconds",
            "From a run's start to the first event the agent produced after agent_started",
            ["agent"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )
        self.events_written = Counter(
            "netra_events_written", "Events committed to the event log", registry=registry
        )
        self.batch_size = Histogram(
            "netra_event_batch_size",
            "Events per event-log transaction",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.write_latency = Histogram(
            "netra_event_write_seconds",
            "Duration of one event-log transaction (a batch), commit included",
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.fanout_lag = Histogram(
            "netra_fanout_lag_seconds",
            "From an event's timestamp (taken in its batch's transaction) to its delivery "
            "to a listener of this process; path: local (in-process) or redis",
            ["path"],
            buckets=_FAST_BUCKETS,
            registry=registry,
        )
        self.model_latency = Histogram(
            "netra_model_request_seconds",
            "One model request (a step of the agent loop), streamed answer included",
            ["agent", "outcome"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "netra_model_tokens",
            "Tokens the model reported, by direction (in: prompt, out: completion)",
            ["agent", "direction"],
            registry=registry,
        )
        self.tool_calls = Counter(
            "netra_tool_calls",
            "Tool calls by tool and outcome (ok, error, cancelled; a front end's: client, pending)",
            ["agent", "tool", "outcome"],
            registry=registry,
        )
        self.throttled = Counter(
            "netra_throttled",
            "Requests, frames and connections refused by a rate or count limit, by reason",
            ["reason"],
            registry=registry,
        )
        self.refused = Counter(
            "netra_refused",
            "Requests, frames and connections refused for their size or behaviour, by reason",
            ["reason"],
            registry=registry,
        )
        self.component = Gauge(
            "netra_component_status",
            "Readiness per component as of the last /ready or /metrics: 1 for its status",
            ["component", "status"],
            registry=registry,
        )

    # One-line helpers for the call sites -----------------------------------------
    def run_started(self, agent: str) -> None:
        """A run was launched in this process."""
        self.runs_started.labels(agent).inc()

    def run_ended(self, agent: str, outcome: str, seconds: float) -> None:
        """A run launched here ended `seconds` after its launch."""
        self.runs_ended.labels(agent, outcome).inc()
        self.run_duration.labels(agent, outcome).observe(seconds)

    def batch_written(self, events: int, seconds: float) -> None:
        """One event-log transaction committed `events` events in `seconds`."""
        self.events_written.inc(events)
        self.batch_size.observe(events)
        self.write_latency.observe(seconds)

    def model_called(
        self, agent: str, seconds: float, outcome: str, tokens_in: int = 0, tokens_out: int = 0
    ) -> None:
        """One model request of the agent loop (ok, error, or cancelled: cut off by a
        cancel or the run's timeout), and the tokens it reported."""
        self.model_latency.labels(agent, outcome).observe(seconds)
        if tokens_in:
            self.tokens.labels(agent, "in").inc(tokens_in)
        if tokens_out:
            self.tokens.labels(agent, "out").inc(tokens_out)

    def tool_called(self, agent: str, tool: str, outcome: str) -> None:
        """A tool call ended: ok, error or cancelled. `tool` must be a registered name."""
        self.tool_calls.labels(agent, tool, outcome).inc()

    def client_tool_called(self, agent: str) -> None:
        """The model called a tool a front end offered: the run ends waiting for its result.
        One label for all of them: their names come from clients, so they are unbounded."""
        self.tool_calls.labels(agent, "client", "pending").inc()

    def refusal(self, status: int, reason: str) -> None:
        """An HTTP refusal: 429 counts as throttled, 413 as refused; others not at all."""
        if status == 429:
            self.throttled.labels(reason).inc()
        elif status == 413:
            self.refused.labels(reason).inc()

    def readiness(self, components: dict[str, str]) -> None:
        """component -> status, as /ready reported them."""
        for name, status in components.items():
            for known in COMPONENT_STATUSES:
                self.component.labels(name, known).set(1 if status == known else 0)

    def read_analytics(self, counts: AnalyticsCounts) -> None:
        """Report the run analytics sink's (written, dropped, pending) at each scrape."""
        self._analytics.read = counts

    def render(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self._exposed)
