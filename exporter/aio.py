"""Small asyncio helpers for the hot path (every check of every run goes through them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def all_of(awaitables: list[Awaitable[T]]) -> list[T]:
    """asyncio.gather, without its tasks when there is only one (most names have one address)."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    return list(await asyncio.gather(*awaitables))
