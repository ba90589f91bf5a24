"""Errors a client can act on: an HTTP status, a stable code and a plain message."""

from __future__ import annotations


class AppError(Exception):
    """Rendered as `{"error": {"code": ..., "message": ...}}` with `status`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(what: str) -> AppError:
    return AppError(404, "not_found", f"{what} not found")
