"""Password hashing with argon2id, off the event loop."""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


class Passwords:
    """Hash and verify passwords. argon2-cffi's defaults are argon2id (RFC 9106 low-memory)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Each hash takes 64 MiB and a core for tens of milliseconds: bound how many run
        # at once so a burst queues instead of exhausting memory. Sign-ups get half the
        # cores and logins their own slots, so a sign-up flood cannot queue logins.
        cores = os.cpu_count() or 2
        self._hash_slots = asyncio.Semaphore(max(1, cores // 2))
        self._verify_slots = asyncio.Semaphore(cores)
        # Verified against when the email is unknown, so both paths cost the same.
        self._dummy_hash = self._hasher.hash("netra-timing-equaliser")

    async def hash(self, password: str) -> str:
        async with self._hash_slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def _verify() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        async with self._verify_slots:
            ok = await asyncio.to_thread(_verify)
        return ok and password_hash is not None
