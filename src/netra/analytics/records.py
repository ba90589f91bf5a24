"""What one finished run leaves behind, and the usage report built from such records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

Outcome = Literal["completed", "failed", "cancelled"]
#: The widest window a usage report covers, in days.
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One finished run. `error_code` is agent_error's code for a failed run and
    agent_cancelled's reason for a cancelled one (`server_shutdown`, ...)."""

    run_id: str
    user_id: str
    thread_id: str
    agent: str
    model: str
    outcome: Outcome
    error_code: str | None
    tokens_in: int
    tokens_out: int
    tool_calls: int
    first_event_ms: float | None  # from the run's start to its first event after agent_started
    duration_ms: float  # from the run's start to its terminal event
    finished_at: datetime  # UTC

    @property
    def day(self) -> date:
        return self.finished_at.astimezone(UTC).date()

    def as_row(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day}


def window_start(days: int, today: date | None = None) -> date:
    """The first day of a report on the last `days` days, today (UTC) included."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days - 1)


@dataclass
class UsageTotals:
    """Runs, failures, cancellations and tokens of a group of records."""

    runs: int = 0
    failures: int = 0
    cancelled: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, other: UsageTotals) -> None:
        self.runs += other.runs
        self.failures += other.failures
        self.cancelled += other.cancelled
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One (day, agent, user) group as a sink aggregates it; `user_id` is None when
    the sink was asked for one user's records only."""

    day: date
    agent: str
    user_id: str | None
    totals: UsageTotals


@dataclass
class UsageReport:
    """Usage over `days` days from `since`: totals, per day, per agent, and (for an
    operator's report across users) per user."""

    days: int
    since: date
    totals: UsageTotals = field(default_factory=UsageTotals)
    by_day: dict[date, UsageTotals] = field(default_factory=dict)
    by_agent: dict[str, UsageTotals] = field(default_factory=dict)
    by_user: dict[str, UsageTotals] | None = None

    @classmethod
    def from_rows(
        cls, days: int, since: date, rows: Iterable[UsageRow], *, per_user: bool = False
    ) -> UsageReport:
        report = cls(days, since, by_user={} if per_user else None)
        for row in rows:
            report.totals.add(row.totals)
            report.by_day.setdefault(row.day, UsageTotals()).add(row.totals)
            report.by_agent.setdefault(row.agent, UsageTotals()).add(row.totals)
            if report.by_user is not None and row.user_id is not None:
                report.by_user.setdefault(row.user_id, UsageTotals()).add(row.totals)
        return report

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of GET /api/me/usage and `netra analytics --format json`:
        days in order, agents and users by tokens (most first)."""

        def by_tokens(groups: dict[str, UsageTotals], key: str) -> list[dict[str, Any]]:
            ordered = sorted(groups.items(), key=lambda kv: (-_tokens(kv[1]), kv[0]))
            return [{key: name, **asdict(totals)} for name, totals in ordered]

        shaped: dict[str, Any] = {
            "days": self.days,
            "since": self.since.isoformat(),
            "totals": asdict(self.totals),
            "by_day": [
                {"day": day.isoformat(), **asdict(totals)}
                for day, totals in sorted(self.by_day.items())
            ],
            "by_agent": by_tokens(self.by_agent, "agent"),
        }
        if self.by_user is not None:
            shaped["by_user"] = by_tokens(self.by_user, "user_id")
        return shaped


def _tokens(totals: UsageTotals) -> int:
    return totals.tokens_in + totals.tokens_out
