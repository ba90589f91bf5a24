"""GET /health (liveness) and GET /ready (readiness per component)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from netra import __version__
from netra.api.deps import PlatformDep
from netra.lifecycle import readiness

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/ready")
async def ready(platform: PlatformDep) -> JSONResponse:
    report = await readiness(platform)
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)
