"""Readiness (event store, projections and bus reachable; no consumer stuck on an event) and the gauges that
describe the whole deployment.

``/ready`` answers within :data:`READY_BUDGET_S` whatever is down: each check runs in a pool of its own, at most
one of each at a time (a check that hangs on a dead database is shared by the next calls, not repeated), and a
check that has not answered within the budget counts as down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from infra import metrics
from infra.bus.base import Bus
from infra.bus.messages import DOWNLOAD_QUEUE, DOWNLOAD_SUBJECT, queue_name, work_subject
from infra.parking import FAILING, PARKED, Parking
from infra.threads import Threads
from projections.base import Projector
from runtimes.registry import RuntimeRegistry

READY_BUDGET_S = 0.4


class Health:
    """``recorder`` is the event store's (an eventsourcing application's)."""

    def __init__(
        self,
        recorder: Any,
        projector: Projector,
        bus: Bus,
        registry: RuntimeRegistry,
        threads: Threads,
        parking: Parking,
    ) -> None:
        self.recorder, self.projector, self.bus, self.registry, self.threads = (
            recorder,
            projector,
            bus,
            registry,
            threads,
        )
        self.parking = parking
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")
        self._inflight: dict[str, Future[Any]] = {}

    async def _check(self, name: str, check: Callable[[], Any], deadline: float) -> Any:
        future = self._inflight.get(name)
        if future is None or future.done():
            future = self._inflight[name] = self._pool.submit(check)
        return await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), max(0.0, deadline - time.monotonic())
        )

    async def report(self) -> dict[str, Any]:
        """``{"down": [...], "parked": {consumer: n}}``: the parts that do not answer (``event_store``,
        ``projections``, ``bus``) or are stuck on an event (``projection:<name>``, ``relay``, ``meter``), and the
        events consumers parked and went past."""
        deadline = time.monotonic() + READY_BUDGET_S
        checks = {
            "event_store": self.recorder.max_notification_id,
            "projections": self.projector.positions,
            "faults": self.parking.summary,
        }
        results = await asyncio.gather(
            *(self._check(name, check, deadline) for name, check in checks.items()), return_exceptions=True
        )
        answers = dict(zip(checks, results, strict=True))
        down = [name for name in ("event_store", "projections") if isinstance(answers[name], BaseException)]
        if not await self.bus.healthy():
            down.append("bus")
        parked: dict[str, int] = {}
        faults = answers["faults"]
        if not isinstance(faults, BaseException):
            for consumer, counts in sorted(faults.items()):
                if counts.get(FAILING):
                    down.append(consumer)
                if counts.get(PARKED):
                    parked[consumer] = counts[PARKED]
        return {"down": down, "parked": parked}

    async def down(self) -> list[str]:
        """The parts that do not answer or are stuck (see ``report``)."""
        return list((await self.report())["down"])

    async def observe(self) -> None:
        """Set the gauges of queue depths, projection lag and consumer faults (at scrape time)."""
        metrics.PROJECTION_LAG.set(await self.threads.run(self.projector.lag))
        queues = [(work_subject(name), queue_name(name)) for name in self.registry.names()]
        for subject, queue in [*queues, (DOWNLOAD_SUBJECT, DOWNLOAD_QUEUE)]:
            metrics.QUEUE_DEPTH.labels(queue).set(await self.bus.pending(subject, queue))
        faults = await self.threads.run(self.parking.summary)
        consumers = ["relay", "meter", *(Projector.consumer(name) for name in self.projector.projections)]
        for consumer in consumers:
            counts = faults.get(consumer, {})
            metrics.PARKED_EVENTS.labels(consumer).set(counts.get(PARKED, 0))
            metrics.CONSUMER_FAILING.labels(consumer).set(1 if counts.get(FAILING) else 0)
