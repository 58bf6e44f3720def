"""The ``Generation`` aggregate: one request for text, an image or a mesh, from request to result."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict
from domain.work import RUNNING, WorkItem

QUEUED, COMPLETED, FAILED, CANCELLED = "queued", "completed", "failed", "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})


class Generation(WorkItem, Aggregate):
    """``targets`` lists the models to try in order (fallback), each ``{"model", "runtime", "location"}``."""

    @event("Requested")
    def __init__(self, owner_id: str, key_id: str | None, session_id: str | None, modality: str,
                 targets: list[dict[str, str]], messages: list[dict[str, str]], parameters: dict[str, Any],
                 stream: bool) -> None:
        self.owner_id = owner_id
        self.key_id = key_id
        self.session_id = session_id
        self.modality = modality
        self.targets = targets
        self.messages = messages
        self.parameters = parameters
        self.stream = stream
        self.status = QUEUED
        self.attempt = 0
        self.delivery: str | None = None  # see ``WorkItem.may_start``
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    @property
    def model(self) -> str:
        return self.targets[0]["model"]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def start(self, worker: str, delivery: str | None = None) -> None:
        if self.is_terminal:
            raise Conflict(f"Generation {self.id} is {self.status} already.")
        self._started(worker=worker, attempt=self.attempt + 1, delivery=delivery)

    @event("Started")
    def _started(self, worker: str, attempt: int, delivery: str | None = None) -> None:
        self.status = RUNNING
        self.attempt = attempt
        self.delivery = delivery

    def complete(self, model: str, provider: str, output: dict[str, Any], usage: dict[str, int],
                 finish_reason: str, latency_ms: float, ttft_ms: float | None) -> None:
        if self.is_terminal:
            raise Conflict(f"Generation {self.id} is {self.status} already.")
        self._completed(model=model, provider=provider, owner_id=self.owner_id, key_id=self.key_id,
                        output=output, usage=usage, finish_reason=finish_reason, latency_ms=latency_ms,
                        ttft_ms=ttft_ms)

    @event("Completed")
    def _completed(self, model: str, provider: str, owner_id: str, key_id: str | None, output: dict[str, Any],
                   usage: dict[str, int], finish_reason: str, latency_ms: float, ttft_ms: float | None) -> None:
        self.status = COMPLETED
        self.result = {"model": model, "output": output, "usage": usage, "finish_reason": finish_reason,
                       "latency_ms": latency_ms, "ttft_ms": ttft_ms}

    def fail(self, model: str, provider: str, code: str, message: str, retryable: bool,
             retry_after: float | None = None) -> None:
        if self.is_terminal:
            raise Conflict(f"Generation {self.id} is {self.status} already.")
        self._failed(model=model, provider=provider, owner_id=self.owner_id, key_id=self.key_id, code=code,
                     message=message, retryable=retryable, retry_after=retry_after)

    @event("Failed")
    def _failed(self, model: str, provider: str, owner_id: str, key_id: str | None, code: str, message: str,
                retryable: bool, retry_after: float | None) -> None:
        self.status = FAILED
        self.error = {"code": code, "message": message, "retryable": retryable, "retry_after": retry_after,
                      "model": model}

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        """Cancel unless finished; answers whether anything changed."""
        if self.is_terminal:
            return False
        self._cancelled(reason=reason, owner_id=self.owner_id)
        return True

    @event("Cancelled")
    def _cancelled(self, reason: str, owner_id: str) -> None:
        self.status = CANCELLED
        self.error = {"code": "cancelled", "message": reason, "retryable": False, "retry_after": None}
