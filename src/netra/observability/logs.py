"""Log records with the ids of the request or run being handled, as text or JSON lines.

`bind(request_id=..., user_id=..., thread_id=..., run_id=...)` stores ids in a
context variable: everything logged afterwards in the same task (and in tasks it
creates, which copy the context) carries them. Requests bind in the HTTP
middleware and the WebSocket endpoint; a run binds when it starts in its task.

`NETRA_LOG_FORMAT=json` writes one JSON object per line with `time`, `level`,
`logger`, `message`, the bound ids and `exception` when there is one. Both
formats replace the configured secrets with `[redacted]` wherever they would
appear in a line.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable, Mapping
from contextvars import Context, ContextVar, Token
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

#: The ids a log line can carry, in this order.
BOUND_KEYS = ("request_id", "user_id", "thread_id", "run_id")
REDACTED = "[redacted]"
TEXT_FORMAT = "%(levelname)-9s %(name)s: %(message)s"
#: An X-Request-ID taken from a client: short, printable, no spaces or quotes.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
_EMPTY: Mapping[str, str] = {}

_context: ContextVar[Mapping[str, str]] = ContextVar("netra_log_context", default=_EMPTY)


def bind(**ids: str | None) -> Token[Mapping[str, str]]:
    """Add ids (those not None) to what the current context's log lines carry."""
    merged = dict(_context.get())
    merged.update({key: value for key, value in ids.items() if value is not None})
    return _context.set(merged)


def unbind(token: Token[Mapping[str, str]]) -> None:
    _context.reset(token)


def bound() -> Mapping[str, str]:
    """The ids bound in the current context."""
    return _context.get()


def detached() -> Context:
    """A context with no ids bound (and no current span), for a task that serves every
    request and run but is started lazily by whichever comes first: created with
    `asyncio.create_task(..., context=detached())`, its lines name no one's ids."""
    return Context()


def request_id(offered: str | None) -> str:
    """The client's X-Request-ID if it is sane, else a new one."""
    if offered is not None and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def _iso_millis(created: float) -> str:
    """`2026-11-21T10:00:00.123Z`, like the events' timestamps."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._secrets: list[str] = []
        self.add_secrets(secrets)

    def forms(self, secret: str) -> list[str]:
        """How a secret can appear in a line of this format."""
        return [secret]

    def add_secrets(self, secrets: Iterable[str]) -> None:
        found = {form for s in secrets if len(s) >= 4 for form in self.forms(s)}
        # Longest first: a secret that contains another is replaced whole.
        self._secrets = sorted(found | set(self._secrets), key=len, reverse=True)

    def redact(self, line: str) -> str:
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, REDACTED)
        return line


class TextFormatter(_Redacting):
    """The classic `LEVEL name: message` line, plus the bound ids at its end."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets, TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _context.get()
        if ids:
            line += " [" + " ".join(f"{k}={ids[k]}" for k in BOUND_KEYS if k in ids) + "]"
        return self.redact(line)


class JsonFormatter(_Redacting):
    """One JSON object per record, on one line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets)

    def forms(self, secret: str) -> list[str]:
        # A secret with a quote, a backslash or a control character is escaped in the
        # line: its escaped form is what must be found there.
        return [secret, orjson.dumps(secret).decode()[1:-1]]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_millis(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = orjson.dumps(entry, default=str).decode()
        return self.redact(line)


def redact_also(*secrets: str) -> None:
    """Add secrets known only once the process runs (the signing key generated in the
    data dir) to what the handlers `configure()` installed redact."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, _Redacting):
            handler.formatter.add_secrets(secrets)


def configure(
    level: str, log_format: Literal["text", "json"], secrets: Iterable[str] = ()
) -> logging.Handler:
    """Send every log record (uvicorn's too) to stderr in `log_format`; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    secrets = list(secrets)
    handler.setFormatter(JsonFormatter(secrets) if log_format == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Warnings are log records too, so stderr holds nothing but log lines.
    logging.captureWarnings(True)
    return handler
