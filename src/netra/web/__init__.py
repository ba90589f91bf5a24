"""The chat page: static files served at `/` and `/static/`, built only on the public API."""

from netra.web.routes import STATIC_DIR, mount

__all__ = ["STATIC_DIR", "mount"]
