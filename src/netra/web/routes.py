"""Serve the chat page at `/` and its assets under `/static/`.

The page is plain files (HTML, one stylesheet, a few ES modules): no build step.
Every response carries a strict Content-Security-Policy, so even a bug in the
page cannot run a script that did not come from these files.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# No inline script or style, no plugins, no framing; the page talks only to its own
# origin (REST and the WebSocket: Chromium, Firefox and Safari let 'self' cover ws:/wss:).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# File names carry no content hash, so browsers keep a copy but ask before using it
# (ETag / Last-Modified make that a cheap 304).
CACHE_CONTROL = "no-cache"


class PageAssets(StaticFiles):
    """StaticFiles with the page's security and cache headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response


async def index(request: Request) -> Response:
    """The chat page itself."""
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE_CONTROL}
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


def mount(app: FastAPI) -> None:
    """Serve the chat page at `/` and its files under `/static/` on `app`."""
    app.add_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/static", PageAssets(directory=STATIC_DIR), name="static")
