"""Read-your-writes: a read of a projection waits (bounded) until the projections reached the event store's head."""

from __future__ import annotations

from infra.threads import Threads
from projections.base import Projector


class Freshness:
    def __init__(self, projector: Projector, threads: Threads, timeout_s: float) -> None:
        self.projector, self.threads, self.timeout_s = projector, threads, timeout_s

    def wait_sync(self) -> bool:
        """Whether the projections caught up within the timeout (blocking: run it in a thread)."""
        return self.projector.wait_for(self.projector.head(), self.timeout_s)

    async def wait(self) -> bool:
        return await self.threads.run(self.wait_sync)
