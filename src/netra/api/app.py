"""create_app(settings): builds the ASGI app; nothing happens at import time."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from netra import __version__
from netra.agents.registry import AgentRegistry
from netra.api import errors
from netra.api.limits import RequestGuard
from netra.api.routes import agui, health, metrics, threads, usage
from netra.auth import routes as auth_routes
from netra.config import Settings
from netra.lifecycle import StartupError, start, stop
from netra.observability import Observability
from netra.observability.http import RequestContext
from netra.realtime.endpoint import websocket_endpoint
from netra.web import routes as web

log = logging.getLogger("netra")


class NetraApp(FastAPI):
    """FastAPI, with `/ws` handed straight to its endpoint.

    The WebSocket has no use for the HTTP middleware, routing and dependency layers,
    and each of those would hold a frame for as long as the socket is open (about
    9 KiB per idle connection, measured with `bench/load.py idle`).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            scope["app"] = self
            await websocket_endpoint(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, registry: AgentRegistry | None = None) -> FastAPI:
    """The Netra app for `settings`; startup phases run in the lifespan."""
    # This app's own metrics registry and tracer (several apps in one process stay apart).
    obs = Observability.create(
        settings.otel_endpoint,
        f"{socket.gethostname()}:{os.getpid()}",
        sample_ratio=settings.otel_sample_ratio,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            app.state.platform = await start(settings, registry, obs)
        except StartupError as exc:
            log.error("netra cannot start: %s", exc)
            await asyncio.to_thread(obs.tracing.shutdown)
            raise
        try:
            yield
        finally:
            await stop(app.state.platform)

    # No Swagger UI or ReDoc (both load scripts from a CDN); the schema only on request.
    openapi_url = "/openapi.json" if settings.api_docs else None
    app = NetraApp(
        title="Netra",
        version=__version__,
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url=None,
        redoc_url=None,
    )
    app.state.obs = obs
    errors.install(app)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext, tracing=obs.tracing)  # outermost: ids for everything
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(auth_routes.router)
    app.include_router(threads.router)
    app.include_router(usage.router)
    app.include_router(agui.router)
    web.mount(app)  # the chat page at / (static files, strict CSP)
    return app
