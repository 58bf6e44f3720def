"""The message bus: NATS JetStream in production, an in-process twin in the embedded default."""

from infra.bus.base import Bus, Delivery, Subscription
from infra.settings import Settings


def open_bus(settings: Settings) -> Bus:
    if settings.nats_url:
        from infra.bus.nats import NatsBus

        return NatsBus(
            settings.nats_url,
            settings.nats_prefix,
            ack_wait_s=settings.work_ack_wait_s,
            max_payload=settings.bus_max_payload_bytes,
        )
    from infra.bus.memory import MemoryBus

    return MemoryBus(
        settings.nats_prefix, ack_wait_s=settings.work_ack_wait_s, max_payload=settings.bus_max_payload_bytes
    )


__all__ = ["Bus", "Delivery", "Subscription", "open_bus"]
