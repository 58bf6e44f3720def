"""The loop shared by the log followers (projector, relay): run a step until caught up, then sleep until woken."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def follow(
    step: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    *,
    batch_size: int,
    poll_s: float = 0.2,
    settle_s: float = 0.003,
) -> None:
    """``step()`` answers how many items it handled; a full batch means there is more.

    Writers in this process set ``wake``; other processes' writes are seen by polling every ``poll_s``. After a
    wake the follower lets ``settle_s`` pass, so the request that wrote finishes first and the writes of that
    moment are handled as one batch.
    """
    while True:
        try:
            while await step() == batch_size:
                pass
        except Exception:
            log.exception("follower %s failed; retrying", getattr(step, "__qualname__", step))
            await asyncio.sleep(1.0)
        try:
            await asyncio.wait_for(wake.wait(), poll_s)
            await asyncio.sleep(settle_s)
        except TimeoutError:
            pass
        wake.clear()
