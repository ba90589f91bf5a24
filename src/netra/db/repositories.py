"""Owner-scoped data access. Every query on owned data filters by the owner.

Repositories take an `AsyncSession` and never commit; the caller's
`Database.session()` block is the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from netra.db.engine import EncodedJSON
from netra.db.models import (
    ACTIVE_RUN_STATUSES,
    ApiToken,
    Event,
    Message,
    RefreshToken,
    Run,
    Thread,
    User,
)
from netra.db.types import UTCDateTime, utcnow
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


class ApiTokenRepository:
    """API tokens of one owner; `by_hash` alone looks across owners (to authenticate)."""

    def __init__(self, session: AsyncSession, owner_id: str) -> None:
        self.session = session
        self.owner_id = owner_id

    async def add(self, name: str, scope: str, token_hash: str, expires_at: datetime) -> ApiToken:
        token = ApiToken(
            id=new_id("atk"),
            user_id=self.owner_id,
            name=name,
            scope=scope,
            token_hash=token_hash,
            expires_at=expires_at,
        )
        self.session.add(token)
        await self.session.flush()
        return token

    async def usable(self, now: datetime) -> Sequence[ApiToken]:
        """The owner's tokens that are neither revoked nor expired, newest first."""
        rows = await self.session.scalars(
            select(ApiToken)
            .where(
                ApiToken.user_id == self.owner_id,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
            )
            .order_by(ApiToken.id.desc())
        )
        return rows.all()

    async def lock_owner(self) -> None:
        """Serialise token creation per owner, so two requests cannot both pass the count
        (PostgreSQL row lock on the user; SQLite transactions are serialised already)."""
        await self.session.execute(
            select(User.id).where(User.id == self.owner_id).with_for_update()
        )

    async def revoke(self, token_id: str, now: datetime) -> bool:
        """Revoke one of the owner's tokens; False when the owner has no such token."""
        result = await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.user_id == self.owner_id)
            # The bind is typed: a literal in coalesce() would be a plain DateTime, which
            # takes a naive time and, on SQLite, stores an offset time's wall clock.
            .values(
                revoked_at=func.coalesce(ApiToken.revoked_at, bindparam("now", now, UTCDateTime))
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    async def by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
        return await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    @staticmethod
    async def touch(session: AsyncSession, token_id: str, now: datetime, every: float) -> None:
        """Record a use, at most once per `every` seconds (a write per request would not pay)."""
        await session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token_id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at < now - timedelta(seconds=every),
                ),
            )
            .values(last_used_at=now)
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

    async def active_runs(self, thread_ids: Sequence[str]) -> dict[str, str]:
        """thread id -> id of its run in progress, for those of `thread_ids` that have one."""
        rows = await self.session.execute(
            select(Run.thread_id, Run.id).where(
                Run.owner_id == self.owner_id,
                Run.thread_id.in_(thread_ids),
                Run.status.in_(ACTIVE_RUN_STATUSES),
            )
        )
        return {thread_id: run_id for thread_id, run_id in rows.tuples()}

    async def rename(self, thread_id: str, title: str) -> Thread | None:
        """Give the thread a new title; None if the owner has no such thread."""
        thread = await self.get(thread_id)
        if thread is not None:
            thread.title = title
            await self.session.flush()
        return thread

    async def delete(self, thread_id: str) -> bool:
        """Delete the thread; the schema's ON DELETE CASCADE takes its events, messages
        and runs with it. False if the owner has no such thread."""
        deleted = await self.session.scalar(
            delete(Thread)
            .where(Thread.id == thread_id, Thread.owner_id == self.owner_id)
            .returning(Thread.id)
        )
        return deleted is not None

    async def message(self, thread_id: str, message_id: str) -> Message | None:
        return await self.session.scalar(
            select(Message)
            .join(Thread, Thread.id == Message.thread_id)
            .where(
                Message.id == message_id,
                Message.thread_id == thread_id,
                Thread.owner_id == self.owner_id,
            )
        )

    async def messages(self, thread_id: str) -> Sequence[Message]:
        rows = await self.session.scalars(
            select(Message)
            .join(Thread, Thread.id == Message.thread_id)
            .where(Message.thread_id == thread_id, Thread.owner_id == self.owner_id)
            .order_by(Message.created_at, Message.id)
        )
        return rows.all()

    async def add_messages(self, thread_id: str, messages: Sequence[tuple[str, str]]) -> None:
        """Add earlier messages (role, text) to a thread, oldest first, dated just
        before now so that they come before anything the thread says next."""
        now = utcnow()
        for index, (role, text) in enumerate(messages):
            self.session.add(
                Message(
                    id=new_id("msg"),
                    thread_id=thread_id,
                    role=role,
                    text=text,
                    created_at=now - timedelta(microseconds=len(messages) - index),
                )
            )
        await self.session.flush()

    async def last_run_end(self, thread_id: str) -> Row[Any] | None:
        """The terminal event of the thread's latest ended run, if any."""
        row = await self.session.execute(
            _SELECT_EVENTS.join(Thread, Thread.id == Event.thread_id)
            .where(
                Event.thread_id == thread_id,
                Thread.owner_id == self.owner_id,
                Event.type.in_(("agent_completed", "agent_error", "agent_cancelled")),
            )
            .order_by(Event.seq.desc())
            .limit(1)
        )
        return row.first()

    async def events(
        self, thread_id: str, after_seq: int = 0, limit: int = 1000
    ) -> Sequence[Row[Any]]:
        """Stored events with seq > after_seq, in order, as rows (no ORM objects)."""
        rows = await self.session.execute(
            _SELECT_EVENTS.join(Thread, Thread.id == Event.thread_id)
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


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What is written together with a run's terminal event, in its transaction."""

    status: str  # completed | failed | cancelled
    error_code: str | None = None
    usage: dict[str, Any] | None = None
    message_id: str | None = None  # the assistant's answer, stored as a message
    message_text: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append; `data_json` is `data` encoded, written and sent as it is."""

    type: str
    data: dict[str, Any]
    data_json: EncodedJSON


@dataclass(frozen=True, slots=True)
class RunEvents:
    """One run's events within a batch, in order; `end` is set when the last is terminal."""

    run_id: str
    thread_id: str
    events: Sequence[NewEvent]
    end: RunEnd | None = None
    starts: bool = False  # holds agent_started: the run is now running


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    seq: int
    ts: datetime


#: Why a run's events were not appended (the rest of the batch still was).
RUN_ENDED = "run_ended"  # the run has ended, or another instance holds its lease
THREAD_GONE = "thread_gone"  # the thread was deleted

_ACTIVE = Run.status.in_(ACTIVE_RUN_STATUSES)
# The fence: only the instance holding a run's lease writes for it.
_LEASED = Run.lease_owner == bindparam("b_lease_owner")
_START_RUN = (
    update(Run)
    .where(Run.id == bindparam("run_id"), Run.status == "queued", _LEASED)
    .values(status="running")
)
_END_RUN = (
    update(Run)
    .where(Run.id == bindparam("run_id"), _ACTIVE, _LEASED)
    .values(
        status=bindparam("b_status"),
        error_code=bindparam("b_error_code"),
        usage=bindparam("b_usage", type_=Run.__table__.c.usage.type),
        finished_at=bindparam("b_now", type_=Run.__table__.c.finished_at.type),
    )
)
_SELECT_EVENTS = select(
    Event.id, Event.thread_id, Event.run_id, Event.seq, Event.type, Event.data, Event.ts
)
# The UPDATE takes the thread's row lock (PostgreSQL) or happens under the one writer
# (SQLite), so seq numbers are consecutive, and a rollback leaves no hole. A run's
# events are fenced by its status and lease in the same statement: none follows its
# end, and an instance that lost the lease writes nothing.
_ADVANCE_SEQ = (
    update(Thread)
    .where(Thread.id == bindparam("thread_id"))
    .values(last_seq=Thread.last_seq + bindparam("n", type_=Integer))
    .returning(Thread.last_seq)
)
_ADVANCE_SEQ_FENCED = _ADVANCE_SEQ.where(
    select(Run.id).where(Run.id == bindparam("run_id"), _ACTIVE, _LEASED).exists()
)
# The terminal event's statement: its run was just ended (and locked) by _END_RUN.
_ADVANCE_SEQ_AND_TOUCH = _ADVANCE_SEQ.values(
    updated_at=bindparam("b_now", type_=Thread.__table__.c.updated_at.type)
)
_THREAD_EXISTS = select(Thread.id).where(Thread.id == bindparam("thread_id"))
# Row locks on threads, taken in id order (FOR NO KEY UPDATE: what updating last_seq
# takes). Rendered without the lock on SQLite, whose writers never run side by side.
_LOCK_THREADS = (
    select(Thread.id)
    .where(Thread.id.in_(bindparam("thread_ids", expanding=True)))
    .order_by(Thread.id)
    .with_for_update(key_share=True)
)
_INSERT_EVENTS = insert(Event)
_INSERT_MESSAGE = insert(Message)


def append_events(
    connection: Connection, batch: Sequence[RunEvents], lease_owner: str
) -> list[list[StoredEvent] | str]:
    """Append every run's events of a batch in the caller's transaction, for the
    instance `lease_owner`.

    Returns, per run, its stored events or why it was refused (RUN_ENDED,
    THREAD_GONE): a refused run writes nothing and does not fail the others. A run
    that has ended, or whose lease another instance holds, can write nothing more;
    its terminal event also ends it (status, usage, and the answer as an assistant
    message).
    Synchronous Core, run through `Database.run_transaction`; the events are
    inserted in one executemany. Threads are locked in id order, so two writers
    (instances, later) cannot deadlock on them; and before the runs a batch starts
    or ends, as `store_run` locks a thread before inserting its run. (Locking a run
    first deadlocked on PostgreSQL with a run being stored on its thread: that
    insert waits for the run's row, which the active-run index covers.)
    """
    results: list[list[StoredEvent] | str] = [RUN_ENDED] * len(batch)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    changing = sorted({run.thread_id for run in batch if run.end is not None or run.starts})
    if changing and connection.dialect.name != "sqlite":
        connection.execute(_LOCK_THREADS, {"thread_ids": changing})
    for index in sorted(range(len(batch)), key=lambda i: batch[i].thread_id):
        run = batch[index]
        end = run.end
        if end is not None:
            ended = connection.execute(
                _END_RUN,
                {
                    "run_id": run.run_id,
                    "b_status": end.status,
                    "b_error_code": end.error_code,
                    "b_usage": end.usage,
                    "b_now": now,
                    "b_lease_owner": lease_owner,
                },
            )
            if not ended.rowcount:
                continue  # RUN_ENDED
        elif run.starts:
            connection.execute(_START_RUN, {"run_id": run.run_id, "b_lease_owner": lease_owner})
        n = len(run.events)
        if end is not None:
            last = connection.scalar(
                _ADVANCE_SEQ_AND_TOUCH, {"thread_id": run.thread_id, "n": n, "b_now": now}
            )
        else:
            last = connection.scalar(
                _ADVANCE_SEQ_FENCED,
                {
                    "thread_id": run.thread_id,
                    "n": n,
                    "run_id": run.run_id,
                    "b_lease_owner": lease_owner,
                },
            )
        if last is None:
            gone = connection.scalar(_THREAD_EXISTS, {"thread_id": run.thread_id}) is None
            results[index] = THREAD_GONE if gone else RUN_ENDED
            continue
        stored = []
        for seq, new in enumerate(run.events, start=last - n + 1):
            event_id = new_id("evt")
            stored.append(StoredEvent(event_id, seq, now))
            rows.append(
                {
                    "id": event_id,
                    "thread_id": run.thread_id,
                    "run_id": run.run_id,
                    "seq": seq,
                    "type": new.type,
                    "data": new.data_json,
                    "ts": now,
                }
            )
        results[index] = stored
        if end is not None and end.message_id is not None:
            connection.execute(
                _INSERT_MESSAGE,
                {
                    "id": end.message_id,
                    "thread_id": run.thread_id,
                    "role": "assistant",
                    "text": end.message_text or "",
                    "run_id": run.run_id,
                    "created_at": now,
                },
            )
    if rows:
        connection.execute(_INSERT_EVENTS, rows)
    return results


@dataclass(frozen=True, slots=True)
class Lease:
    """The claim of one instance on the runs it executes, until `expires_at`."""

    owner: str  # the instance's id
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run just stored, with what it needs to execute."""

    run_id: str
    thread_id: str
    start_seq: int  # the thread's last seq before the run: its events come after
    history: list[tuple[str, str]]  # (role, text) of recent messages, oldest first, its own last


_TOUCH_THREAD = (
    update(Thread)
    .where(Thread.id == bindparam("b_thread_id"), Thread.owner_id == bindparam("b_owner_id"))
    .values(updated_at=bindparam("b_now", type_=Thread.__table__.c.updated_at.type))
    .returning(Thread.last_seq)
)
_RECENT_MESSAGES = (
    select(Message.role, Message.text)
    .where(Message.thread_id == bindparam("thread_id"))
    .order_by(Message.created_at.desc(), Message.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_INSERT_THREAD = insert(Thread)
_INSERT_RUN = insert(Run)


async def last_seqs(session: AsyncSession, thread_ids: Sequence[str]) -> dict[str, int]:
    """The seq of each existing thread's last event, by thread id (not owner-scoped)."""
    ends: dict[str, int] = {}
    for start in range(0, len(thread_ids), _IDS_PER_QUERY):
        chunk = list(thread_ids[start : start + _IDS_PER_QUERY])
        rows = await session.execute(select(Thread.id, Thread.last_seq).where(Thread.id.in_(chunk)))
        ends.update({thread_id: seq for thread_id, seq in rows})
    return ends


_IDS_PER_QUERY = 500  # well within every driver's limit on bound parameters


class ThreadMovedOn(Exception):
    """The thread has had events since the one a new run meant to continue from."""


def store_run(
    connection: Connection,
    owner_id: str,
    text: str,
    thread_id: str | None,
    agent: str,
    *,
    title: str,
    history_limit: int,
    lease: Lease,
    run_id: str | None = None,
    user_message: bool = True,
    continues_seq: int | None = None,
) -> StoredRun | None:
    """Store a queued run and its user message, on a new thread if `thread_id` is None.

    None if `thread_id` is not one of the owner's threads. A thread that already
    has an active run raises IntegrityError (the unique index on active runs).
    Synchronous Core, run through `Database.run_transaction`: one hop on SQLite.
    Without `user_message` the text is the run's input only (a run that continues
    from the results of a client's tools): no message is stored for it. With
    `continues_seq` (the seq of the event it continues from), a thread that has had
    events since raises ThreadMovedOn: another request continued it first.
    """
    now = utcnow()
    history: list[tuple[str, str]] = []
    start_seq: int | None = 0
    if thread_id is None:
        thread_id = new_id("thr")
        connection.execute(
            _INSERT_THREAD,
            {
                "id": thread_id,
                "owner_id": owner_id,
                "title": title,
                "last_seq": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
    else:
        start_seq = connection.scalar(
            _TOUCH_THREAD, {"b_thread_id": thread_id, "b_owner_id": owner_id, "b_now": now}
        )
        if start_seq is None:
            return None
        if continues_seq is not None and start_seq != continues_seq:
            raise ThreadMovedOn(thread_id)
        recent = connection.execute(
            _RECENT_MESSAGES, {"thread_id": thread_id, "limit": history_limit - 1}
        )
        history = [(role, message) for role, message in recent][::-1]
    run_id = run_id or new_id("run")
    connection.execute(
        _INSERT_RUN,
        {
            "id": run_id,
            "thread_id": thread_id,
            "owner_id": owner_id,
            "agent": agent,
            "input_text": text,
            "status": "queued",
            "created_at": now,
            "lease_owner": lease.owner,
            "lease_expires_at": lease.expires_at,
        },
    )
    if user_message:
        connection.execute(
            _INSERT_MESSAGE,
            {
                "id": new_id("msg"),
                "thread_id": thread_id,
                "role": "user",
                "text": text,
                "run_id": run_id,
                "created_at": now,
            },
        )
        history.append(("user", text))
    return StoredRun(run_id, thread_id, start_seq or 0, history)


async def run_events(session: AsyncSession, run_id: str) -> Sequence[Row[Any]]:
    """Every stored event of one run, in order (to end it from its history; not
    owner-scoped)."""
    rows = await session.execute(_SELECT_EVENTS.where(Event.run_id == run_id).order_by(Event.seq))
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


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run whose lease this instance just took over from an instance that is gone."""

    id: str
    thread_id: str
    agent: str
    input_text: str
    cancel_reason: str | None


_CLAIMABLE = or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < bindparam("cutoff"))
_LEASE_EXPIRY = bindparam("expires_at", type_=Run.__table__.c.lease_expires_at.type)
_CHOSEN = Run.id.in_(bindparam("chosen", expanding=True))


def _lock_in_thread_order(connection: Connection, query: Select[Any], **values: Any) -> list[str]:
    """Lock the runs `query` selects, in thread order: the order the event log writer
    locks them in, so that renewing or claiming never deadlocks with a batch of events
    (PostgreSQL; SQLite has one writer). Locked rows are then updated by a statement of
    their own, which sees them as they are now."""
    return list(connection.scalars(query.order_by(Run.thread_id), values))


def claim_runs(
    connection: Connection,
    lease: Lease,
    *,
    expired_before: datetime | None,
    run_id: str | None = None,
    skip: Sequence[str] = (),
) -> list[ClaimedRun]:
    """Take over active runs whose lease expired before `expired_before` (any lease
    when None: the caller knows no other instance is alive), or just `run_id`, but
    none of `skip` (the runs the caller executes).

    Of two instances sweeping at once, each run goes to one; a run whose row another
    transaction holds is left for the next sweep.
    """
    conditions: list[ColumnElement[bool]] = [_ACTIVE]
    values: dict[str, Any] = {}
    if expired_before is not None:
        conditions.append(_CLAIMABLE)
        values["cutoff"] = expired_before
    if run_id is not None:
        conditions.append(Run.id == bindparam("run_id"))
        values["run_id"] = run_id
    if skip:
        conditions.append(Run.id.not_in(bindparam("skip", expanding=True)))
        values["skip"] = list(skip)
    claimable = select(Run.id).where(*conditions)
    chosen = _lock_in_thread_order(
        connection, claimable.with_for_update(skip_locked=True), **values
    )
    if not chosen:
        return []
    rows = connection.execute(
        update(Run)
        .where(_CHOSEN, *conditions)
        .values(lease_owner=bindparam("owner"), lease_expires_at=_LEASE_EXPIRY)
        .returning(Run.id, Run.thread_id, Run.agent, Run.input_text, Run.cancel_reason),
        {**values, "chosen": chosen, "owner": lease.owner, "expires_at": lease.expires_at},
    )
    return [ClaimedRun(*row) for row in rows]


_OWN = (Run.lease_owner == bindparam("owner"), _ACTIVE)
_RENEW_LEASES = (
    update(Run)
    .where(_CHOSEN, *_OWN)
    .values(lease_expires_at=_LEASE_EXPIRY)
    .returning(Run.id, Run.cancel_reason)
)


def renew_leases(
    connection: Connection, lease: Lease, run_ids: Sequence[str]
) -> dict[str, str | None]:
    """Extend this instance's lease on `run_ids`; returns the runs it still holds, each
    with the cancel asked for it on some instance (or None)."""
    if not run_ids:
        return {}
    mine = select(Run.id).where(Run.id.in_(bindparam("run_ids", expanding=True)), *_OWN)
    chosen = _lock_in_thread_order(
        connection, mine.with_for_update(), run_ids=list(run_ids), owner=lease.owner
    )
    if not chosen:
        return {}
    rows = connection.execute(
        _RENEW_LEASES, {"chosen": chosen, "owner": lease.owner, "expires_at": lease.expires_at}
    )
    return {run_id: reason for run_id, reason in rows}


def release_leases(connection: Connection, owner: str) -> int:
    """Let any instance claim this instance's active runs at once (it is stopping)."""
    result = connection.execute(
        update(Run).where(Run.lease_owner == owner, _ACTIVE).values(lease_expires_at=None)
    )
    return int(result.rowcount)


_REQUEST_CANCEL = (
    update(Run)
    .where(Run.id == bindparam("run_id"), _ACTIVE, Run.cancel_reason.is_(None))
    .values(cancel_reason=bindparam("reason"))
)


def request_cancel(connection: Connection, run_id: str, reason: str) -> None:
    """Record that the run is to be cancelled (the first reason asked for stays)."""
    connection.execute(_REQUEST_CANCEL, {"run_id": run_id, "reason": reason})
