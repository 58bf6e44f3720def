"""The sweeper: re-publishes work for generations and download jobs ``Requested`` but never ``Started``.

It closes the crash window between the commit of ``Requested`` and the publish of its work message (and
covers work lost by the bus). Workers ignore work for generations and jobs that have started or finished already.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from infra.bus.base import Bus
from infra.bus.messages import DOWNLOAD_SUBJECT, DownloadWork, GenerateWork, swept_message_id, work_subject
from infra.sqldb import SqlDatabase
from projections.generations import running, unstarted
from projections.jobs import active_jobs, unstarted_jobs

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, db: SqlDatabase, bus: Bus, grace_s: float) -> None:
        self.db, self.bus, self.grace_s = db, bus, grace_s

    async def _generations(self, rows: list[dict], reason: str) -> None:
        resume = reason == "resume"
        for row in rows:
            await self.bus.publish(
                work_subject(row["runtime"]),
                GenerateWork(row["id"], resume).encode(),
                msg_id=swept_message_id(row["id"], reason, time.time()),
            )

    async def _downloads(self, job_ids: list[str], reason: str) -> None:
        resume = reason == "resume"
        for job_id in job_ids:
            await self.bus.publish(
                DOWNLOAD_SUBJECT,
                DownloadWork(job_id, resume).encode(),
                msg_id=swept_message_id(job_id, reason, time.time()),
            )

    async def run_once(self) -> int:
        loop = asyncio.get_running_loop()
        cutoff = (datetime.now(UTC) - timedelta(seconds=self.grace_s)).isoformat()
        rows = await loop.run_in_executor(None, unstarted, self.db, cutoff)
        await self._generations(rows, "sweep")
        if rows:
            log.warning("sweeper re-published work for %d unstarted generation(s)", len(rows))
        jobs = await loop.run_in_executor(None, unstarted_jobs, self.db, cutoff)
        await self._downloads([row["id"] for row in jobs], "sweep")
        if jobs:
            log.warning("sweeper re-published %d unstarted download job(s)", len(jobs))
        return len(rows) + len(jobs)

    async def resume_generations(self) -> int:
        """At the start of an embedded gateway: publish again, marked ``resume``, the work of the generations the
        last process was running when it stopped (its in-process bus, and the work on it, died with it)."""
        rows = await asyncio.get_running_loop().run_in_executor(None, running, self.db)
        await self._generations(rows, "resume")
        if rows:
            log.warning("resuming %d unfinished generation(s)", len(rows))
        return len(rows)

    async def resume_downloads(self) -> int:
        """At the start of an embedded gateway: the in-process bus died with the last process, and with it the
        work of every unfinished download. Publish it again, marked ``resume`` so a worker takes over a job
        recorded as running (its ``.part`` files resume). Only where no other process can hold those jobs."""
        jobs = await asyncio.get_running_loop().run_in_executor(None, active_jobs, self.db)
        await self._downloads([job["job_id"] for job in jobs], "resume")
        if jobs:
            log.warning("resuming %d unfinished download job(s)", len(jobs))
        return len(jobs)

    async def run_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.run_once()
            except Exception:
                log.exception("sweeper failed")
