"""Model downloads as jobs: search the hub, request a download (or join the one already running), follow a job's
progress, cancel it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from commands.responses import job_response
from commands.service import Gateway
from domain.downloads import ACTIVE, RUNNING, DownloadJob
from domain.errors import NotFound, PermissionDenied
from downloads.worker import terminal_event
from infra.bus.base import Bus
from infra.bus.messages import DOWNLOAD_SUBJECT, PROGRESS, DownloadWork, StreamEvent, cancel_subject, token_subject
from infra.sqldb import SqlDatabase
from infra.threads import Threads
from projections.jobs import get_job, list_jobs
from services.auth import Principal
from services.freshness import Freshness

CANCEL_WAIT_S = 5.0
QUIET_S = 15.0  # a job stream with no news this long sends the job's stored state
TERMINAL_QUIET_S = 1.0


@dataclass(frozen=True)
class Download:
    """A request for a model from the hub: ``model`` ``{"id", "name", "version", "modality"}``, ``source``
    ``{"type", "id"}``, ``revision`` and ``allow_patterns`` as ``snapshot_download`` takes them."""

    model: dict[str, Any]
    source: dict[str, Any]
    revision: str = "main"
    allow_patterns: list[str] | None = None


class Downloads:
    """``hub()`` answers the process's hub client (``downloads.Hub``)."""

    def __init__(
        self,
        app: Gateway,
        bus: Bus,
        db: SqlDatabase,
        hub: Callable[[], Any],
        threads: Threads,
        freshness: Freshness,
        allow_user_downloads: bool,
    ) -> None:
        self.app, self.bus, self.db, self.hub = app, bus, db, hub
        self.threads, self.freshness, self.allow_user_downloads = threads, freshness, allow_user_downloads

    async def search(
        self, query: str, modality: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        return await self.threads.run(self.hub().search, query, modality, cursor, limit)

    async def request(self, who: Principal, wanted: Download) -> tuple[DownloadJob, bool]:
        """The job that downloads the model, and whether it is still to finish (a new job, or the one already
        running for that model), rather than the completed one."""
        if not (who.is_admin or self.allow_user_downloads):
            raise PermissionDenied(
                "Downloading models needs an admin's API key (the operator can open downloads to "
                "every user with LLM_API_ALLOW_USER_DOWNLOADS=true)."
            )
        model_id = f"local:{wanted.model['id']}"
        joined = await self.threads.run(self.app.join_download, model_id, wanted.source["id"], who.user_id)
        if joined is not None:
            return joined, joined.status in ACTIVE
        # The plan pins the revision to a commit and lists the files: an unknown repository or revision, or
        # no file matching allow_patterns, is answered here, before anything is recorded or written.
        plan = await self.threads.run(self.hub().plan, wanted.source["id"], wanted.revision, wanted.allow_patterns)
        job, created = await self.threads.run(
            self.app.request_download,
            owner_id=who.user_id,
            model_id=model_id,
            model=wanted.model,
            source=wanted.source,
            options={"revision": wanted.revision, "allow_patterns": wanted.allow_patterns},
            plan=plan.to_dict(),
        )
        if created:
            await self.bus.publish(DOWNLOAD_SUBJECT, DownloadWork(str(job.id)).encode(), msg_id=str(job.id))
        return job, job.status in ACTIVE

    async def listing(self, who: Principal) -> list[dict[str, Any]]:
        await self.freshness.wait()
        return await self.threads.run(list_jobs, self.db, who.user_id)

    async def get(self, who: Principal, job_id: str) -> dict[str, Any]:
        """Admins see every job; others the ones they requested or joined (asking for a model already
        downloading)."""
        await self.freshness.wait()
        row = await self.threads.run(get_job, self.db, job_id, who.viewer)
        if row is None:
            raise NotFound(f"No job {job_id}.")
        return row

    async def cancel(self, who: Principal, job_id: str) -> DownloadJob:
        """Cancel: a queued job at once; a running one is stopped by its worker, which removes the partial files.
        Waits (bounded) for the worker to confirm."""
        finished = asyncio.Event()

        async def on_event(subject: str, data: bytes) -> None:
            if StreamEvent.decode(data).terminal:
                finished.set()

        sub = await self.bus.subscribe(token_subject(job_id), on_event)
        try:
            job = await self.threads.run(self.app.cancel_download, job_id, who.viewer)
            if job.status == RUNNING:
                await self.bus.publish_signal(cancel_subject(job_id))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(finished.wait(), CANCEL_WAIT_S)
                job = await self.threads.run(self.app.get_download, job_id)
            elif job.attempt == 0:  # cancelled before any worker took it: tell the job's watchers
                await self.bus.publish(token_subject(job_id), StreamEvent(1, *terminal_event(job)).encode())
        finally:
            await sub.stop()
        return job

    async def follow(self, who: Principal, job_id: str) -> AsyncIterator[StreamEvent]:
        """``progress`` events, then ``done`` (the completed job) or ``error``: the job's stored stream events,
        then live ones; its recorded state when the stream is quiet (a finished job whose stream expired, a job
        waiting for a worker). Checks the caller may see it before anything is streamed."""
        job = await self.threads.run(self.app.get_download, job_id, who.viewer)
        return self._follow(job_id, job.is_terminal)

    async def _follow(self, job_id: str, terminal: bool) -> AsyncIterator[StreamEvent]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        async def pump() -> None:
            async for raw in self.bus.replay(token_subject(job_id)):
                queue.put_nowait(raw)

        task = asyncio.create_task(pump())
        try:
            while True:
                try:
                    event = StreamEvent.decode(
                        await asyncio.wait_for(queue.get(), TERMINAL_QUIET_S if terminal else QUIET_S)
                    )
                except TimeoutError:
                    job = await self.threads.run(self.app.get_download, job_id)
                    if job.is_terminal:
                        yield StreamEvent(0, *terminal_event(job))
                        return
                    yield StreamEvent(0, PROGRESS, job_response(job))
                    continue
                yield event
                if event.terminal:
                    return
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
