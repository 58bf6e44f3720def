"""The ``Generation`` aggregate: one request for text, an image or a mesh, from request to result."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate, event

from domain.work import ACTIVE, CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, TERMINAL, WorkItem

__all__ = ["ACTIVE", "CANCELLED", "COMPLETED", "FAILED", "QUEUED", "RUNNING", "TERMINAL", "Generation"]


class Generation(WorkItem):
    """``targets`` lists the models to try in order (fallback), each ``{"model", "runtime", "location"}``."""

    kind = "Generation"

    class Requested(Aggregate.Created):
        owner_id: str
        key_id: str | None
        session_id: str | None
        modality: str
        targets: list[dict[str, str]]
        messages: list[dict[str, str]]
        parameters: dict[str, Any]
        stream: bool

    class Completed(Aggregate.Event):
        """``owner_id`` and ``key_id`` are repeated so the usage meter counts it without loading the aggregate."""

        model: str
        provider: str
        owner_id: str
        key_id: str | None
        output: dict[str, Any]
        usage: dict[str, int]
        finish_reason: str
        latency_ms: float
        ttft_ms: float | None

    class Failed(WorkItem.Failed):
        model: str
        provider: str
        owner_id: str
        key_id: str | None
        retryable: bool
        retry_after: float | None

        def error(self) -> dict[str, Any]:
            return {
                "code": self.code,
                "message": self.message,
                "retryable": self.retryable,
                "retry_after": self.retry_after,
                "model": self.model,
            }

    class Cancelled(WorkItem.Cancelled):
        owner_id: str

        def error(self) -> dict[str, Any]:
            return {**super().error(), "retryable": False, "retry_after": None}

    @event(Requested)
    def __init__(
        self,
        owner_id: str,
        key_id: str | None,
        session_id: str | None,
        modality: str,
        targets: list[dict[str, str]],
        messages: list[dict[str, str]],
        parameters: dict[str, Any],
        stream: bool,
    ) -> None:
        self.owner_id = owner_id
        self.key_id = key_id
        self.session_id = session_id
        self.modality = modality
        self.targets = targets
        self.messages = messages
        self.parameters = parameters
        self.stream = stream
        self.result: dict[str, Any] | None = None
        self._queue()

    @property
    def model(self) -> str:
        return self.targets[0]["model"]

    def complete(
        self,
        model: str,
        provider: str,
        output: dict[str, Any],
        usage: dict[str, int],
        finish_reason: str,
        latency_ms: float,
        ttft_ms: float | None,
    ) -> None:
        self.check_open()
        self._completed(
            model=model,
            provider=provider,
            owner_id=self.owner_id,
            key_id=self.key_id,
            output=output,
            usage=usage,
            finish_reason=finish_reason,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
        )

    @event(Completed)
    def _completed(
        self,
        model: str,
        provider: str,
        owner_id: str,
        key_id: str | None,
        output: dict[str, Any],
        usage: dict[str, int],
        finish_reason: str,
        latency_ms: float,
        ttft_ms: float | None,
    ) -> None:
        self.status = COMPLETED
        self.result = {
            "model": model,
            "output": output,
            "usage": usage,
            "finish_reason": finish_reason,
            "latency_ms": latency_ms,
            "ttft_ms": ttft_ms,
        }

    def fail(
        self, model: str, provider: str, code: str, message: str, retryable: bool, retry_after: float | None = None
    ) -> None:
        self.check_open()
        self.trigger_event(
            self.Failed,
            model=model,
            provider=provider,
            owner_id=self.owner_id,
            key_id=self.key_id,
            code=code,
            message=message,
            retryable=retryable,
            retry_after=retry_after,
        )

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        return super().cancel(reason)

    def _cancel_fields(self) -> dict[str, Any]:
        return {"owner_id": self.owner_id}
