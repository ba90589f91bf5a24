"""The error responses each route documents in the OpenAPI schema (they are all JSON errors)."""

from __future__ import annotations

from typing import Any

# Every error is `{"error": {"code": ..., "message": ...}}`, always JSON, also from a route
# that streams (a `model=` would be documented under that route's own media type).
_ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
    }
}

_WHEN = {
    400: "the body could not be parsed",
    401: "missing, invalid or expired access token (or bad credentials)",
    404: "no such resource among the caller's own",
    409: "conflicts with the current state (see `code`)",
    413: "the request body is over NETRA_MAX_BODY_BYTES",
    422: "invalid input (see `message`), including a NUL character anywhere",
    429: "a limit was hit; `Retry-After` says when to try again",
    503: "not ready, or shutting down",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
}

#: What any route with a JSON body can answer besides its own errors.
BODY = (400, 413, 422)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers these error statuses."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        spec: dict[str, Any] = {"description": _WHEN[status], "content": _ERROR}
        if status == 429:
            spec["headers"] = _RETRY_AFTER
        responses[status] = spec
    return responses
