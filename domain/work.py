"""What workers run from work messages on the bus: ``Generation`` and ``DownloadJob`` share the rule of who runs."""

from __future__ import annotations

RUNNING = "running"


class WorkItem:
    """Mixed into the aggregates workers run: they keep ``status``, ``is_terminal`` and ``delivery``, the work
    message their last ``Started`` ran from."""

    status: str
    is_terminal: bool
    delivery: str | None

    def may_start(self, delivery: str | None, resume: bool = False) -> bool:
        """Whether the work message ``delivery`` may start this item. Not when it finished already, nor while it
        runs from another message (a sweeper's copy). The message it runs from coming back means its holder
        stopped keeping it alive (died): that one takes over. Decided by the message's identity, not the bus's
        delivery count, which NATS restarts at 1 after a delivery it counts as failed. ``resume``: the embedded
        start-up takes over what its previous process was running (the work died with its in-process bus)."""
        if self.is_terminal:
            return False
        return self.status != RUNNING or resume or (delivery is not None and delivery == self.delivery)
