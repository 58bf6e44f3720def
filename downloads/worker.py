"""The download worker: take download jobs from the bus, fetch the files from the hub, record the outcome, ack.

Work message: :class:`~infra.bus.messages.DownloadWork` on ``work.download`` (queue ``download``). For each: append
``Started``; download the job's planned files into ``<models dir>/<model id>`` in a thread
(``downloads.hub.HubClient.download``: verified, resumable from ``.part`` files); append throttled ``Progressed``
events and publish ``progress`` events on ``tokens.<job id>``; then ``Completed`` (and the model registered in the
catalogue, in the same save), ``Failed`` or ``Cancelled``, a final ``done`` or ``error`` event, and only then ack. A
worker killed mid-download leaves its ``.part`` files: the redelivered job (the same work message again, or
``resume`` from the embedded start-up sweep) takes over and resumes them with Range requests. A cancel
(``control.cancel.<job id>``, or ``CancelRequested`` seen when progress is recorded) stops the download within the
hub client's poll interval and removes its files.

``run_download`` is the one code path, used by this worker and, synchronously, by ``pluggably models pull``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from commands.responses import job_response
from commands.service import Gateway
from domain.catalog import CatalogModel
from domain.downloads import COMPLETED, DownloadJob
from domain.errors import GatewayError, RuntimeFailure, error_body
from downloads.files import delete_removed_model, locate, model_dir, remove_model_files, sweep_removed_models
from downloads.plan import DownloadCancelled, DownloadPlan
from infra.bus.base import Bus, Delivery, Subscription, keep_alive
from infra.bus.messages import (
    CANCEL_SUBJECTS,
    DONE,
    DOWNLOAD_QUEUE,
    DOWNLOAD_SUBJECT,
    ERROR,
    PROGRESS,
    DownloadWork,
    RelayedEvent,
    TokenStream,
    cancelled_id,
    events_subject,
)
from infra.threads import Threads

log = logging.getLogger(__name__)
PROGRESS_MIN_S = 1.0  # a Progressed event at most every second...
PROGRESS_MIN_PCT = 5.0  # ...unless the download moved on by this much
STREAM_BLOCK = 1_000_000  # event ids of attempt n start at (n - 1) * STREAM_BLOCK: ids grow across resumes


class ProgressThrottle:
    def __init__(self) -> None:
        self.at, self.pct = 0.0, -100.0

    def due(self, done: int, total: int) -> bool:
        now, pct = time.monotonic(), (100.0 * done / total if total else 100.0)
        if done >= total or now - self.at >= PROGRESS_MIN_S or pct - self.pct >= PROGRESS_MIN_PCT:
            self.at, self.pct = now, pct
            return True
        return False


def run_download(
    app: Gateway,
    hub: Any,
    job: DownloadJob,
    dest: Path,
    cancel: threading.Event,
    on_progress: Callable[[DownloadJob], None] | None = None,
    halted: Callable[[], bool] = lambda: False,
    on_bytes: Callable[[int, int, str], None] | None = None,
) -> DownloadJob:
    """Download a started job's files and record the outcome (blocking). ``on_progress`` sees each recorded
    (throttled) progress, ``on_bytes`` every report of the hub client (a progress bar). ``halted()`` true means
    the process is stopping: nothing more is recorded and the files stay for the job's redelivery."""
    job_id = str(job.id)
    throttle = ProgressThrottle()

    def progressed(done: int, total: int, current: str) -> None:
        if on_bytes is not None:
            on_bytes(done, total, current)
        if halted() or not throttle.due(done, total):
            return
        try:
            updated = app.record_download_progress(job_id, done, total, current)
        except Exception:  # never fail the download over its progress report
            log.warning("could not record the progress of job %s", job_id, exc_info=True)
            return
        if updated is None or updated.cancel_requested:
            cancel.set()
        elif on_progress is not None:
            with contextlib.suppress(Exception):
                on_progress(updated)

    if job.cancel_requested:
        cancel.set()
    try:
        if cancel.is_set():
            raise DownloadCancelled("the download was cancelled")
        result = hub.download(DownloadPlan.from_dict(job.plan), dest, progressed, cancel)
    except DownloadCancelled:
        remove_model_files(dest)
        return app.download_cancelled(job_id)
    except GatewayError as error:
        if halted():
            raise
        remove_model_files(dest)
        return app.fail_download(job_id, error.code, error.message) or app.get_download(job_id)
    except Exception as error:
        if halted():
            raise
        log.exception("download job %s crashed", job_id)
        remove_model_files(dest)
        return app.fail_download(
            job_id, RuntimeFailure.code, f"The download failed: {type(error).__name__}."
        ) or app.get_download(job_id)
    if halted():
        return job
    runtime, location = locate(job.model["modality"], dest, [f.path for f in result.files])
    files = [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in result.files]
    primary = next((f.sha256 for f in result.files if str(dest / f.path) == location), None)
    done = app.complete_download(
        job_id,
        files=files,
        size_bytes=result.size_bytes,
        sha256=primary,
        path=str(dest),
        runtime=runtime,
        location=location,
    )
    return done or app.get_download(job_id)


def terminal_event(job: DownloadJob) -> tuple[str, dict[str, Any]]:
    """The last stream event of a finished job: ``done`` with the job, or ``error`` with its error body."""
    if job.status == COMPLETED:
        return DONE, job_response(job)
    error = job.error or {"code": "internal_error", "message": "The download ended without an outcome."}
    return ERROR, error_body(
        error["code"],
        error["message"],
        request_id=str(job.id),
        type_="cancelled" if error["code"] == "cancelled" else "server_error",
    )


class DownloadWorker:
    """``hub()`` answers the process's hub client (``downloads.Hub``), or raises when the hub extra is missing."""

    def __init__(self, app: Gateway, bus: Bus, settings: Any, hub: Callable[[], Any], threads: Threads) -> None:
        self.app, self.bus, self.settings, self.hub, self.threads = app, bus, settings, hub, threads
        self.name = f"{socket.gethostname()}:download:{id(self):x}"
        self.cancels: dict[str, threading.Event] = {}
        self._subs: list[Subscription] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    async def start(self, concurrency: int = 2) -> None:
        self._subs.append(await self.bus.subscribe(CANCEL_SUBJECTS, self._on_cancel))
        self._subs.append(await self.bus.subscribe(events_subject(CatalogModel.Removed.__qualname__), self._on_removed))
        self._background(sweep_removed_models, self.app, self.settings)
        self._subs.append(
            await self.bus.consume(DOWNLOAD_SUBJECT, DOWNLOAD_QUEUE, self.handle, concurrency=concurrency)
        )

    async def stop(self) -> None:
        self._stopping = True  # running downloads are left unacked, their .part files kept: they resume
        for sub in self._subs:
            await sub.stop()
        self._subs.clear()

    async def _on_cancel(self, subject: str, data: bytes) -> None:
        cancel = self.cancels.get(cancelled_id(subject))
        if cancel is not None:
            cancel.set()

    async def _on_removed(self, subject: str, data: bytes) -> None:
        self._background(delete_removed_model, self.app, self.settings, RelayedEvent.decode(data).data["model_id"])

    def _background(self, fn: Callable[..., Any], *args: Any) -> None:
        """Deleting gigabytes must not hold up the subscription that delivered the news."""
        task = asyncio.create_task(self.threads.run(fn, *args))
        self._tasks.add(task)
        task.add_done_callback(self._cleaned)

    def _cleaned(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("deleting a removed model's files failed", exc_info=task.exception())

    async def handle(self, delivery: Delivery) -> None:
        work = DownloadWork.decode(delivery.data)
        job_id = work.job_id
        job: DownloadJob | None = await self.threads.run(
            self.app.start_download, job_id, self.name, delivery.message_id, work.resume
        )
        if job is None:  # finished already, or running elsewhere (a sweeper duplicate)
            await delivery.ack()
            return
        loop = asyncio.get_running_loop()
        stream = TokenStream(self.bus, job_id, first=(job.attempt - 1) * STREAM_BLOCK + 1)
        try:
            hub = self.hub()
        except GatewayError as error:  # huggingface_hub is not installed here: retrying will not help
            final = await self.threads.run(self.app.fail_download, job_id, error.code, error.message) or job
            await stream.send(*terminal_event(final))
            await delivery.ack()
            return
        cancel = self.cancels[job_id] = threading.Event()

        def on_progress(updated: DownloadJob) -> None:  # in the download thread: wait, so events stay in order
            asyncio.run_coroutine_threadsafe(stream.send(PROGRESS, job_response(updated)), loop).result(5)

        heartbeat = asyncio.create_task(keep_alive(delivery, max(1.0, self.settings.work_ack_wait_s / 3)))
        try:
            await stream.send(PROGRESS, job_response(job))
            dest = model_dir(self.settings, job.model_id)
            final = await in_daemon_thread(
                lambda: run_download(self.app, hub, job, dest, cancel, on_progress, lambda: self._stopping)
            )
        finally:
            heartbeat.cancel()
            self.cancels.pop(job_id, None)
        if self._stopping:
            return
        await stream.send(*terminal_event(final))
        await delivery.ack()


async def in_daemon_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a daemon thread: a download must not keep a stopping process alive (its ``.part`` files
    stay and the job resumes elsewhere), which a thread pool's non-daemon threads would."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def target() -> None:
        try:
            result = fn()
        except BaseException as error:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, future.set_exception, error)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, future.set_result, result)

    threading.Thread(target=target, name="pluggably-download", daemon=True).start()
    return await future
