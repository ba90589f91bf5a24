"""GET /health (liveness) and GET /ready (readiness per component)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from netra import __version__
from netra.api.deps import PlatformDep, authenticate
from netra.api.openapi import error_responses
from netra.lifecycle import readiness

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", responses=error_responses(401, 503))
async def ready(request: Request, platform: PlatformDep) -> JSONResponse:
    """Per-component status; with a valid access token also backends, timings and agents."""
    details = "authorization" in request.headers
    if details:
        authenticate(request.headers, platform.tokens)  # a bad token is a 401, not less detail
    report = await readiness(platform, details)
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)
