"""ASGI middleware: a request id, log context and a span for every HTTP request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netra.observability import logs
from netra.observability.traces import Tracing, mark_error

REQUEST_ID_HEADER = b"x-request-id"
#: Scope key: the log ids of a request that raised. Starlette answers it with a 500 (and
#: logs it) outside every middleware, after this one has unbound them.
FAILED_REQUEST_IDS = "netra.failed_request_ids"


class RequestContext:
    """Takes the client's `X-Request-ID` if sane (else makes one), echoes it in the
    response, binds it for the request's log lines, and wraps the request in a span
    named after its route (`GET /api/threads/{thread_id}`) when tracing is on."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                offered = value.decode("latin-1")
                break
        rid = logs.request_id(offered)
        header = (REQUEST_ID_HEADER, rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                status[0] = message["status"]
            await send(message)

        status = [0]
        token = logs.bind(request_id=rid)
        try:
            if not self.tracing.enabled:
                await self.app(scope, receive, send_with_id)
                return
            method = scope["method"]
            with self.tracing.span(
                method, {"http.request.method": method, "netra.request_id": rid}
            ) as span:
                try:
                    await self.app(scope, receive, send_with_id)
                except Exception:
                    status[0] = status[0] or 500  # answered by Starlette, outside this middleware
                    raise
                finally:
                    route = scope.get("route")
                    template = getattr(route, "path_format", None) or getattr(route, "path", None)
                    if template:
                        span.update_name(f"{method} {template}")
                        span.set_attribute("http.route", template)
                    span.set_attribute("http.response.status_code", status[0])
                    if status[0] >= 500:  # a server error, handled or not (a 4xx is the client's)
                        mark_error(span, f"HTTP {status[0]}")
        except Exception:
            scope[FAILED_REQUEST_IDS] = dict(logs.bound())  # user_id too, if bound
            raise
        finally:
            logs.unbind(token)
