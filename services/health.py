"""Readiness (event store, projections and bus reachable) and the gauges that describe the whole deployment."""

from __future__ import annotations

import asyncio
from typing import Any

from infra import metrics
from infra.bus.base import Bus
from infra.bus.messages import DOWNLOAD_QUEUE, DOWNLOAD_SUBJECT, queue_name, work_subject
from infra.threads import Threads
from projections.base import Projector
from runtimes.registry import RuntimeRegistry

CHECK_TIMEOUT_S = 3.0


class Health:
    """``recorder`` is the event store's (an eventsourcing application's)."""

    def __init__(
        self, recorder: Any, projector: Projector, bus: Bus, registry: RuntimeRegistry, threads: Threads
    ) -> None:
        self.recorder, self.projector, self.bus, self.registry, self.threads = (
            recorder,
            projector,
            bus,
            registry,
            threads,
        )

    async def down(self) -> list[str]:
        """The parts that do not answer: ``event_store``, ``projections``, ``bus``."""
        down = []
        checks = {"event_store": self.recorder.max_notification_id, "projections": self.projector.positions}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(self.threads.run(check), CHECK_TIMEOUT_S)
            except Exception:
                down.append(name)
        if not await self.bus.healthy():
            down.append("bus")
        return down

    async def observe(self) -> None:
        """Set the gauges of queue depths and projection lag (at scrape time)."""
        metrics.PROJECTION_LAG.set(await self.threads.run(self.projector.lag))
        queues = [(work_subject(name), queue_name(name)) for name in self.registry.names()]
        for subject, queue in [*queues, (DOWNLOAD_SUBJECT, DOWNLOAD_QUEUE)]:
            metrics.QUEUE_DEPTH.labels(queue).set(await self.bus.pending(subject, queue))
