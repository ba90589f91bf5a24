"""Rules every way in shares (REST bodies, WebSocket frames, AG-UI input)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

NUL_MESSAGE = "text must not contain the NUL character (\\u0000)"


def contains_nul(value: object) -> bool:
    """True if any string in `value`, nested lists and dicts included, holds a NUL.

    Iterative: JSON may nest deeper than Python's recursion limit.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


class NulFree(BaseModel):
    """Base of input models. PostgreSQL can neither store nor compare text holding a NUL,
    so it is refused on the way in (a 422, or `invalid_frame`) on every database."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if contains_nul(data):
            raise ValueError(NUL_MESSAGE)
        return data
