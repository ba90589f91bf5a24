"""NETRA_CLICKHOUSE_URL, parsed and checked (imported by the settings: no client here)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ClickHouseURL:
    """NETRA_CLICKHOUSE_URL: http(s)://[user[:password]@]host[:port][/database]."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected a URL such as http://user:password@host:8123/database")
        database = parts.path.strip("/") or "default"
        if not _IDENTIFIER.fullmatch(database):
            raise ValueError(f"the database name {database!r} must be letters, digits and _")
        self.database = database
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
        self.endpoint = f"{parts.scheme}://{parts.hostname}:{port}/"
        self.user = unquote(parts.username) if parts.username else "default"
        self.password = unquote(parts.password) if parts.password else ""
