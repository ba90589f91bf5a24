"""Per-user quotas on things held at once (WebSocket connections, active runs)."""

from __future__ import annotations


class PerUserQuota:
    """At most `limit` held at once per user. Only users holding something have an
    entry, so its size follows the active users, not everyone who ever came."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def acquire(self, user_id: str) -> bool:
        """Take one for `user_id`; False (and nothing taken) if they hold `limit` already."""
        held = self._held.get(user_id, 0)
        if held >= self.limit:
            return False
        self._held[user_id] = held + 1
        return True

    def release(self, user_id: str) -> None:
        held = self._held.get(user_id, 0) - 1
        if held > 0:
            self._held[user_id] = held
        else:
            self._held.pop(user_id, None)

    def held(self, user_id: str) -> int:
        return self._held.get(user_id, 0)
