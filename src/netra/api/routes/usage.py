"""/api/me/usage: the caller's own run analytics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Query

from netra.analytics import MAX_DAYS
from netra.analytics.sink import AnalyticsUnavailable
from netra.api.deps import PlatformDep, UserId
from netra.api.openapi import error_responses
from netra.api.schemas import UsageOut
from netra.errors import AppError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api")


@router.get("/me/usage", responses=error_responses(401, 422, 503))
async def my_usage(
    user_id: UserId,
    platform: PlatformDep,
    days: int = Query(30, ge=1, le=MAX_DAYS, description="days back, today (UTC) included"),
) -> UsageOut:
    """The caller's tokens, runs, failures and cancellations per day and per agent,
    from whichever analytics sink is configured; never another user's."""
    try:
        report = await platform.analytics.usage(days, user_id)
    except AnalyticsUnavailable as exc:  # ClickHouse unreachable: say so, not a 500
        log.warning("usage report failed: %s", exc)
        raise AppError(
            503, "analytics_unavailable", "the analytics store cannot be read; try again later"
        ) from None
    return UsageOut.model_validate(report.as_dict())
