"""Response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(_Out):
    id: str
    email: str
    display_name: str
    created_at: datetime


class ThreadOut(_Out):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    last_seq: int


class MessageOut(_Out):
    id: str
    thread_id: str
    run_id: str | None
    role: str
    text: str
    created_at: datetime


class RunAccepted(BaseModel):
    run_id: str
    thread_id: str
