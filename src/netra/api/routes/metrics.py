"""GET /metrics: this instance's Prometheus metrics (text format)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from netra.api.deps import PlatformDep
from netra.errors import AppError
from netra.lifecycle import readiness
from netra.observability.metrics import CONTENT_TYPE_LATEST

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, platform: PlatformDep) -> Response:
    """With NETRA_METRICS_TOKEN set, only for `Authorization: Bearer <that token>`."""
    token = platform.settings.metrics_token
    if token is not None:
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            offered.strip().encode(), expected
        ):
            raise AppError(
                401,
                "unauthorized",
                "send Authorization: Bearer <NETRA_METRICS_TOKEN>",
                {"WWW-Authenticate": "Bearer"},
            )
    await readiness(platform)  # readiness per component, as of this scrape
    return Response(platform.obs.metrics.render(), media_type=CONTENT_TYPE_LATEST)
