"""Owner-scoped data access. Every query on owned data filters by the owner.

Repositories take an `AsyncSession` and never commit; the caller's
`Database.session()` block is the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from netra.db.models import ACTIVE_RUN_STATUSES, Event, Message, RefreshToken, Run, Thread, User
from netra.db.types import utcnow
from netra.ids import new_id


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, email: str, display_name: str, password_hash: str) -> User:
        user = User(
            id=new_id("usr"), email=email, display_name=display_name, password_hash=password_hash
        )
        self.session.add(user)
        await self.session.flush()
        return user

    async def by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def by_id(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, user_id: str, family_id: str, token_hash: str, expires_at: datetime
    ) -> RefreshToken:
        token = RefreshToken(
            id=new_id("rtk"),
            user_id=user_id,
            family_id=family_id,
            token_hash=token_hash,
            expires_at=expires_at,
        )
        self.session.add(token)
        await self.session.flush()
        return token

    async def by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )

    async def lock_family(self, family_id: str) -> None:
        """Serialise refreshes and revocations of one login (PostgreSQL row locks;
        SQLite transactions are serialised already)."""
        # One row stands for the family: its first token (ids sort by creation time).
        await self.session.execute(
            select(RefreshToken.id)
            .where(RefreshToken.family_id == family_id)
            .order_by(RefreshToken.id)
            .limit(1)
            .with_for_update()
        )

    async def spend(self, token_id: str) -> bool:
        """Mark a token spent; False if it was already spent (a concurrent refresh won)."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.spent_at.is_(None))
            .values(spent_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_family(self, family_id: str) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


class ThreadRepository:
    """Threads of one owner. Another owner's thread behaves as if it did not exist."""

    def __init__(self, session: AsyncSession, owner_id: str) -> None:
        self.session = session
        self.owner_id = owner_id

    async def add(
        self, title: str, *, thread_id: str | None = None, external_id: str | None = None
    ) -> Thread:
        """A new thread; `thread_id` for an id the client minted, `external_id` for its own."""
        thread = Thread(
            id=thread_id or new_id("thr"),
            owner_id=self.owner_id,
            title=title,
            last_seq=0,
            external_id=external_id,
        )
        self.session.add(thread)
        await self.session.flush()
        return thread

    async def get(self, thread_id: str) -> Thread | None:
        return await self.session.scalar(
            select(Thread).where(Thread.id == thread_id, Thread.owner_id == self.owner_id)
        )

    async def by_external_id(self, external_id: str) -> Thread | None:
        """The owner's thread that a client knows by its own id."""
        return await self.session.scalar(
            select(Thread).where(
                Thread.external_id == external_id, Thread.owner_id == self.owner_id
            )
        )

    async def list(self, limit: int = 100) -> Sequence[Thread]:
        rows = await self.session.scalars(
            select(Thread)
            .where(Thread.owner_id == self.owner_id)
            .order_by(Thread.updated_at.desc(), Thread.id.desc())
            .limit(limit)
        )
        return rows.all()

    async def messages(self, thread_id: str) -> Sequence[Message]:
        rows = await self.session.scalars(
            select(Message)
            .join(Thread, Thread.id == Message.thread_id)
            .where(Message.thread_id == thread_id, Thread.owner_id == self.owner_id)
            .order_by(Message.created_at, Message.id)
        )
        return rows.all()

    async def add_message(
        self,
        thread_id: str,
        role: str,
        text: str,
        run_id: str | None,
        message_id: str | None = None,
    ) -> Message:
        owned = await self.session.scalar(
            update(Thread)
            .where(Thread.id == thread_id, Thread.owner_id == self.owner_id)
            .values(updated_at=utcnow())
            .returning(Thread.id)
        )
        if owned is None:
            raise LookupError(f"thread {thread_id} does not exist")
        message = Message(
            id=message_id or new_id("msg"), thread_id=thread_id, role=role, text=text, run_id=run_id
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def events(
        self, thread_id: str, after_seq: int = 0, limit: int = 1000
    ) -> Sequence[Event]:
        rows = await self.session.scalars(
            select(Event)
            .join(Thread, Thread.id == Event.thread_id)
            .where(
                Event.thread_id == thread_id,
                Thread.owner_id == self.owner_id,
                Event.seq > after_seq,
            )
            .order_by(Event.seq)
            .limit(limit)
        )
        return rows.all()


class RunRepository:
    """Runs of one owner."""

    def __init__(self, session: AsyncSession, owner_id: str) -> None:
        self.session = session
        self.owner_id = owner_id

    async def add(self, thread_id: str, agent: str, input_text: str) -> Run:
        owned = await self.session.scalar(
            select(Thread.id).where(Thread.id == thread_id, Thread.owner_id == self.owner_id)
        )
        if owned is None:
            raise LookupError(f"thread {thread_id} does not exist")
        run = Run(
            id=new_id("run"),
            thread_id=thread_id,
            owner_id=self.owner_id,
            agent=agent,
            input_text=input_text,
            status="queued",
        )
        self.session.add(run)
        await self.session.flush()
        return run

    async def get(self, run_id: str) -> Run | None:
        return await self.session.scalar(
            select(Run).where(Run.id == run_id, Run.owner_id == self.owner_id)
        )

    async def active_in_thread(self, thread_id: str) -> Run | None:
        return await self.session.scalar(
            select(Run).where(
                Run.thread_id == thread_id,
                Run.owner_id == self.owner_id,
                Run.status.in_(ACTIVE_RUN_STATUSES),
            )
        )


_NEXT_SEQ = (
    update(Thread)
    .where(Thread.id == bindparam("thread_id"))
    .values(last_seq=Thread.last_seq + 1)
    .returning(Thread.last_seq)
)
_INSERT_EVENT = insert(Event)


class EventLog:
    """Appends events with per-thread seq numbers. Used by the run's own emitter only."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, thread_id: str, run_id: str, type_: str, data: dict[str, Any]) -> Event:
        # The UPDATE takes the thread's row lock (PostgreSQL) or the write lock (SQLite),
        # so concurrent writers get consecutive numbers and history has no gaps.
        # Both statements are Core statements on the tables, executed on the session's
        # connection: events are the hottest write path, and the ORM adds nothing here.
        connection = await self.session.connection()
        seq = await connection.scalar(_NEXT_SEQ, {"thread_id": thread_id})
        if seq is None:
            raise LookupError(f"thread {thread_id} does not exist")
        values = {
            "id": new_id("evt"),
            "thread_id": thread_id,
            "run_id": run_id,
            "seq": seq,
            "type": type_,
            "data": data,
            "ts": utcnow(),
        }
        await connection.execute(_INSERT_EVENT, values)
        return Event(**values)

    async def run_events(self, run_id: str) -> Sequence[Event]:
        """Every event of one run, in order (for recovery; not owner-scoped)."""
        rows = await self.session.scalars(
            select(Event).where(Event.run_id == run_id).order_by(Event.seq)
        )
        return rows.all()


async def set_run_status(
    session: AsyncSession,
    run_id: str,
    status: str,
    *,
    error_code: str | None = None,
    usage: dict[str, Any] | None = None,
) -> bool:
    """Move an active run to `status`; terminal statuses also set finished_at.

    Returns False, changing nothing, if the run had already ended.
    """
    values: dict[str, Any] = {"status": status}
    if status not in ACTIVE_RUN_STATUSES:
        values["finished_at"] = utcnow()
        values["error_code"] = error_code
        values["usage"] = usage
    result = await session.execute(
        update(Run).where(Run.id == run_id, Run.status.in_(ACTIVE_RUN_STATUSES)).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def orphaned_runs(session: AsyncSession) -> Sequence[Run]:
    """Runs still marked active: after a crash of the only instance, nobody will finish them."""
    rows = await session.scalars(select(Run).where(Run.status.in_(ACTIVE_RUN_STATUSES)))
    return rows.all()
