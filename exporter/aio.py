"""Small asyncio helpers for the hot path (every check of every run goes through them)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def all_of(awaitables: list[Awaitable[T]]) -> list[T]:
    """asyncio.gather, without its tasks when there is only one (most names have one address)."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    return list(await asyncio.gather(*awaitables))


def loop_factory(name: str = "asyncio") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run on: uvloop when asked for and installed, else the standard one (None)."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def tune_gc() -> None:
    """For a long-running daemon holding many results: what exists at start (modules, config) is frozen
    out of the collector's sight, and young collections run less often. With CPython's defaults the
    collector re-walks every kept result again and again, so CPU per target grew with the fleet."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)
