"""Run leases: which instance executes each run, and taking over from one that is gone.

A run is leased to the instance that stores it, for `ttl` seconds, and that
instance renews the lease of every run it executes every `ttl / 3`. Every event
write is fenced by the lease (`netra.db.repositories.append_events`), so once
another instance has claimed a run, its old owner can write nothing for it.
Expiry compares the instances' own clocks, which must agree to well within `ttl`.

An instance that is the only one serving its database (it holds the database
lock) may claim any run it does not execute; otherwise only runs whose lease
expired, which is how a survivor ends the runs of an instance that died.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from netra.db.engine import Database
from netra.db.repositories import (
    ClaimedRun,
    Lease,
    claim_runs,
    release_leases,
    renew_leases,
    request_cancel,
)
from netra.db.types import utcnow


class RunLeases:
    """This instance's leases on the runs it executes."""

    def __init__(
        self, db: Database, instance_id: str, ttl: float, *, single_instance: bool
    ) -> None:
        self._db = db
        self.instance_id = instance_id
        self.ttl = ttl
        self.single_instance = single_instance

    @property
    def interval(self) -> float:
        """How often leases are renewed and expired ones swept."""
        return self.ttl / 3

    def lease(self) -> Lease:
        """A fresh lease for a run this instance is about to execute."""
        return Lease(self.instance_id, utcnow() + timedelta(seconds=self.ttl))

    async def renew(self, run_ids: Sequence[str]) -> dict[str, str | None]:
        """Renew the leases of runs executing here; returns those still held, each with
        the cancel asked for it (None if none was)."""
        lease = self.lease()
        return await self._db.run_transaction(lambda c: renew_leases(c, lease, run_ids))

    async def claim_expired(self, executing: Sequence[str]) -> list[ClaimedRun]:
        """Take over every run whose lease nobody renewed in time, except the runs
        `executing` here (their renewal is only late)."""
        lease, now = self.lease(), utcnow()
        return await self._db.run_transaction(
            lambda c: claim_runs(c, lease, expired_before=now, skip=executing)
        )

    async def claim_all(self) -> list[ClaimedRun]:
        """Take over every active run: only for the only instance, before it serves."""
        if not self.single_instance:
            raise RuntimeError("other instances may be executing runs")
        lease = self.lease()
        return await self._db.run_transaction(lambda c: claim_runs(c, lease, expired_before=None))

    async def claim(self, run_id: str) -> ClaimedRun | None:
        """Take over one run that is not executing here, if no live instance executes
        it either."""
        lease = self.lease()
        cutoff = None if self.single_instance else utcnow()
        claimed = await self._db.run_transaction(
            lambda c: claim_runs(c, lease, expired_before=cutoff, run_id=run_id)
        )
        return claimed[0] if claimed else None

    async def request_cancel(self, run_id: str, reason: str) -> None:
        """Record a cancel for whichever instance executes the run (it acts on it at
        its next renewal, or at once when told through the fan-out)."""
        await self._db.run_transaction(lambda c: request_cancel(c, run_id, reason))

    async def release(self) -> int:
        """Stopping: let other instances claim what is still leased here at once."""
        return await self._db.run_transaction(lambda c: release_leases(c, self.instance_id))
