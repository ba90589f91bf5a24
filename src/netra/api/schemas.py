"""Response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(_Out):
    id: str
    email: str
    display_name: str
    created_at: datetime


class ThreadOut(_Out):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    last_seq: int
    # The run in progress in this thread, if any (at most one per thread).
    active_run_id: str | None = None


class MessageOut(_Out):
    id: str
    thread_id: str
    run_id: str | None
    role: str
    text: str
    created_at: datetime
    # An assistant message's text rendered from Markdown to sanitized HTML (netra.web.markdown);
    # None for the person's own messages, which are shown as they were typed.
    html: str | None = None


class RunAccepted(BaseModel):
    run_id: str
    thread_id: str


class UsageTotalsOut(BaseModel):
    runs: int
    failures: int  # runs that ended with agent_error
    cancelled: int
    tokens_in: int
    tokens_out: int


class UsageDayOut(UsageTotalsOut):
    day: str  # YYYY-MM-DD (UTC)


class UsageAgentOut(UsageTotalsOut):
    agent: str


class UsageOut(BaseModel):
    """GET /api/me/usage: the caller's own runs over the last `days` days (UTC), today
    included; only days and agents with runs are listed."""

    days: int
    since: str  # the first day of the window, YYYY-MM-DD
    totals: UsageTotalsOut
    by_day: list[UsageDayOut]
    by_agent: list[UsageAgentOut]
