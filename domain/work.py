"""The work lifecycle shared by the aggregates that workers run from bus messages (``Generation``, ``DownloadJob``).

Status: ``queued`` → ``running`` → ``completed`` | ``failed`` | ``cancelled`` (the last three are terminal; a
terminal item records nothing more). ``Started``, ``Failed`` and ``Cancelled`` are declared once here; eventsourcing
gives each aggregate its own subclass of them (``Generation.Started``, ``DownloadJob.Failed``...), so every stored
event keeps its topic and existing data loads unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from domain.errors import Conflict

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "queued", "running", "completed", "failed", "cancelled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, RUNNING})


class WorkItem(Aggregate):
    """Base of the aggregates a worker runs. Subclasses call ``_queue()`` in their ``__init__``."""

    #: How messages name this kind of item ("Generation", "Download job").
    kind: ClassVar[str] = "Work item"

    class Started(Aggregate.Event):
        """A worker took the item, from the work message ``delivery``; ``attempt`` counts the starts."""

        worker: str
        attempt: int
        delivery: str | None = None

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.attempt, aggregate.delivery = RUNNING, self.attempt, self.delivery

    class Failed(Aggregate.Event):
        """The item failed for good; ``code`` is an error code of ``domain/errors.py``."""

        code: str
        message: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.error = FAILED, self.error()

        def error(self) -> dict[str, Any]:
            return {"code": self.code, "message": self.message}

    class Cancelled(Aggregate.Event):
        """The item was cancelled (a user's cancel, or the worker once it stopped it)."""

        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status, aggregate.error = CANCELLED, self.error()

        def error(self) -> dict[str, Any]:
            return {"code": "cancelled", "message": self.reason}

    def _queue(self) -> None:
        self.status: str = QUEUED
        self.attempt: int = 0
        self.delivery: str | None = None  # the work message the last ``Started`` ran from (see ``may_start``)
        self.error: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def check_open(self) -> None:
        if self.is_terminal:
            raise Conflict(f"{self.kind} {self.id} is {self.status} already.")

    def may_start(self, delivery: str | None, resume: bool = False) -> bool:
        """Whether the work message ``delivery`` may start this item. Not when it finished already, nor while it
        runs from another message (a sweeper's copy). The message it runs from coming back means its holder
        stopped keeping it alive (died): that one takes over. Decided by the message's identity, not the bus's
        delivery count, which NATS restarts at 1 after a delivery it counts as failed. ``resume``: the embedded
        start-up takes over what its previous process was running (the work died with its in-process bus)."""
        if self.is_terminal:
            return False
        return self.status != RUNNING or resume or (delivery is not None and delivery == self.delivery)

    def start(self, worker: str, delivery: str | None = None) -> None:
        self.check_open()
        self.trigger_event(self.Started, worker=worker, attempt=self.attempt + 1, delivery=delivery)

    def cancel(self, reason: str) -> bool:
        """Cancel unless finished; answers whether anything changed."""
        if self.is_terminal:
            return False
        self.trigger_event(self.Cancelled, reason=reason, **self._cancel_fields())
        return True

    def _cancel_fields(self) -> dict[str, Any]:
        """What a subclass's ``Cancelled`` records beside the reason."""
        return {}
