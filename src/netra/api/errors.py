"""Every error response has the shape {"error": {"code": str, "message": str}}."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route

from netra.errors import AppError
from netra.observability import logs
from netra.observability.http import FAILED_REQUEST_IDS

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class Refused(HTTPException):
    """An AppError raised while FastAPI reads a body: FastAPI passes HTTPExceptions from
    there through unchanged (anything else would become a 400)."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.status, error.message, error.headers)
        self.error = error


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def count_refusal(app: object, status: int, code: str) -> None:
    """Count a 429 or 413 in the app's metrics (by its error code: a bounded label)."""
    obs = getattr(getattr(app, "state", None), "obs", None)
    if obs is not None:
        obs.metrics.refusal(status, code)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    count_refusal(request.app, exc.status, exc.code)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return await _app_error(request, exc.error)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"] if p != "body") or "body"
        parts.append(f"{where}: {error['msg']}")
    return error_response(422, "invalid_request", "; ".join(parts))


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router()
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves at this path (Starlette's 405 names one route's)."""
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and isinstance(route, Route) and route.methods:
            methods |= route.methods
    return methods


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = ", ".join(sorted(_allowed_methods(request) | {"OPTIONS"}))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        return error_response(405, "method_not_allowed", "method not allowed", {"Allow": allow})
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    count_refusal(request.app, exc.status_code, code)
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette runs this outside every middleware: the request's ids are bound again
    # for this line, and its id goes back in X-Request-ID as on every other response.
    ids: dict[str, str] = request.scope.get(FAILED_REQUEST_IDS, {})
    token = logs.bind(**ids)
    try:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    finally:
        logs.unbind(token)
    headers = {"X-Request-ID": ids["request_id"]} if "request_id" in ids else None
    return error_response(500, "internal_error", "the server failed; see its logs", headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
