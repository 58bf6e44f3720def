"""The ``DownloadJob`` aggregate: one pull of a model from a hub into the models directory, from request to result.

The id derives from the model id and a generation number (``create_id``): the n-th download of ``local:<id>``
always has the same id, so two requests racing for the same model write to the same aggregate and the event
store's version check lets only one of them create it (see ``Gateway.request_download``).
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.work import ACTIVE, CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, TERMINAL, WorkItem

__all__ = ["ACTIVE", "CANCELLED", "COMPLETED", "FAILED", "QUEUED", "RUNNING", "TERMINAL", "DownloadJob"]


class DownloadJob(WorkItem):
    """``model`` is ``{"id", "name", "version", "modality"}`` (the catalogue id is ``local:<id>``), ``source``
    ``{"type": "huggingface", "id": <repo>}``, ``options`` ``{"revision", "allow_patterns"}`` and ``plan`` the
    files pinned to one commit when the job was requested (``downloads.plan.DownloadPlan.to_dict()``)."""

    kind = "Download job"

    class Requested(Aggregate.Created):
        model_id: str
        generation: int
        owner_id: str
        model: dict[str, Any]
        source: dict[str, Any]
        options: dict[str, Any]
        plan: dict[str, Any]

    class Joined(Aggregate.Event):
        user_id: str

    class Progressed(Aggregate.Event):
        bytes_done: int
        bytes_total: int
        current_file: str

    class Completed(Aggregate.Event):
        files: list[dict[str, Any]]
        size_bytes: int
        sha256: str | None
        path: str

    class CancelRequested(Aggregate.Event):
        pass

    @staticmethod
    def create_id(model_id: str, generation: int, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"pluggably:download:{model_id.lower()}:{generation}")

    @event(Requested)
    def __init__(
        self,
        model_id: str,
        generation: int,
        owner_id: str,
        model: dict[str, Any],
        source: dict[str, Any],
        options: dict[str, Any],
        plan: dict[str, Any],
    ) -> None:
        self.model_id = model_id
        self.generation = generation
        self.owner_id = owner_id
        self.model = model
        self.source = source
        self.options = options
        self.plan = plan
        self.cancel_requested = False
        self.bytes_done = 0
        self.bytes_total = sum(int(f["size"]) for f in plan.get("files", []))
        self.current_file: str | None = None
        self.result: dict[str, Any] | None = None
        self.watchers: list[str] = []  # other users who asked for the same model while this job answered them
        self._queue()

    @property
    def progress_pct(self) -> float:
        if self.status == COMPLETED:
            return 100.0
        return round(100.0 * self.bytes_done / self.bytes_total, 1) if self.bytes_total else 0.0

    def visible_to(self, user_id: str) -> bool:
        return user_id == self.owner_id or user_id in self.watchers

    def join(self, user_id: str) -> bool:
        """Another user asked for this model and was answered with this job: from now on they may follow it
        (though only its owner or an admin may cancel it). Answers whether anything changed."""
        if self.visible_to(user_id):
            return False
        self._joined(user_id=user_id)
        return True

    @event(Joined)
    def _joined(self, user_id: str) -> None:
        self.watchers = [*self.watchers, user_id]

    def progress(self, bytes_done: int, bytes_total: int, current_file: str) -> None:
        self.check_open()
        self._progressed(bytes_done=bytes_done, bytes_total=bytes_total, current_file=current_file)

    @event(Progressed)
    def _progressed(self, bytes_done: int, bytes_total: int, current_file: str) -> None:
        self.bytes_done, self.bytes_total, self.current_file = bytes_done, bytes_total, current_file

    def complete(self, files: list[dict[str, Any]], size_bytes: int, sha256: str | None, path: str) -> None:
        self.check_open()
        self._completed(files=files, size_bytes=size_bytes, sha256=sha256, path=path)

    @event(Completed)
    def _completed(self, files: list[dict[str, Any]], size_bytes: int, sha256: str | None, path: str) -> None:
        self.status = COMPLETED
        self.bytes_done = self.bytes_total = size_bytes
        self.current_file = None
        self.result = {"files": files, "size_bytes": size_bytes, "sha256": sha256, "path": path}

    def fail(self, code: str, message: str) -> None:
        self.check_open()
        self.trigger_event(self.Failed, code=code, message=message)

    def request_cancel(self) -> bool:
        """A queued job is cancelled at once; a running one is asked to stop (its worker removes the partial
        files, then records ``Cancelled``). Answers whether anything changed."""
        if self.is_terminal or self.cancel_requested:
            return False
        if self.status == QUEUED:
            self.cancel("cancelled before it started")
        else:
            self._cancel_requested()
        return True

    @event(CancelRequested)
    def _cancel_requested(self) -> None:
        self.cancel_requested = True
