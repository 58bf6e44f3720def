"""The usage meter: a durable bus consumer of ``events.Generation.*``, idempotent by event id.

Counts requests, errors, tokens, images and meshes per user, key, provider, model and day, with a cost
from the runtime's prices hook. Each event id is recorded in the same transaction as the counts it added.

An event relayed by reference (fields left out: ``RelayedEvent.omitted``) is read whole from the event store. One it
cannot count is parked after a few tries (``infra.parking``) and acked, so the meter moves on; parked events are
counted when a later try succeeds. An outage is waited out (the message comes back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from domain.generations import Generation
from infra import metrics
from infra.bus.base import Bus, Delivery, Subscription
from infra.bus.messages import RelayedEvent, events_subject
from infra.failures import ITEM, describe, kind_of
from infra.parking import PARK_AFTER, Parking
from infra.sqldb import SqlDatabase

log = logging.getLogger(__name__)

#: ``cost(provider, model, usage)`` in USD: the runtime's prices hook (``Runtime.cost``); 0 for what it cannot price.
Cost = Callable[[str, str, dict[str, Any]], float]
COMPLETED, FAILED = Generation.Completed.__qualname__, Generation.Failed.__qualname__

TABLES = (
    "CREATE TABLE IF NOT EXISTS usage_daily (owner_id TEXT NOT NULL, key_id TEXT NOT NULL, provider TEXT NOT NULL, "
    "model TEXT NOT NULL, day TEXT NOT NULL, requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, "
    "input_tokens BIGINT NOT NULL DEFAULT 0, output_tokens BIGINT NOT NULL DEFAULT 0, "
    "images INTEGER NOT NULL DEFAULT 0, meshes INTEGER NOT NULL DEFAULT 0, cost_usd DOUBLE PRECISION NOT NULL "
    "DEFAULT 0, PRIMARY KEY (owner_id, key_id, provider, model, day))",
    "CREATE TABLE IF NOT EXISTS usage_seen (event_id TEXT PRIMARY KEY)",
)

QUEUE = "usage_meter"
CONSUMER = "meter"
#: ``load(event id)``: the stored event of that id, whole, as relayed (``None`` when there is none).
Load = Callable[[str], RelayedEvent | None]


def create_tables(db: SqlDatabase) -> None:
    with db.transaction() as cur:
        for ddl in TABLES:
            cur.execute(ddl)


class UsageMeter:
    def __init__(self, db: SqlDatabase, bus: Bus, cost: Cost, load: Load, parking: Parking | None = None) -> None:
        self.db, self.bus, self.cost, self.load = db, bus, cost, load
        self.parking = parking or Parking(db)

    async def start(self) -> Subscription:
        return await self.bus.consume(
            events_subject(f"{Generation.__qualname__}.>"), QUEUE, self._on_delivery, concurrency=1
        )

    async def _on_delivery(self, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        event_id = delivery.message_id
        try:
            event = RelayedEvent.decode(delivery.data)
            event_id = event.id
            if event.type in (COMPLETED, FAILED):
                await loop.run_in_executor(None, self.count, event)
        except Exception as error:
            if kind_of(error) != ITEM or not await loop.run_in_executor(None, self._park, event_id, error):
                await delivery.nak(1.0)  # an outage, or tried too few times: it comes back
                return
        await delivery.ack()

    def count(self, event: RelayedEvent) -> bool:
        """Count one relayed event (read whole from the event store when it came by reference)."""
        if event.omitted:
            whole = self.load(event.id)
            if whole is None:
                raise LookupError(f"event {event.id} is not in the event store")
            event = whole
        return self.record(event)

    def _park(self, event_id: str, error: BaseException) -> bool:
        """Record a failed try; park the event once it failed ``PARK_AFTER`` times. Answers whether it is parked."""
        reason = describe(error)
        metrics.CONSUMER_FAILURES.labels(CONSUMER).inc()
        aggregate = event_id.rsplit(":", 1)[0]
        if self.parking.failed(CONSUMER, event_id, 0, aggregate, reason) < PARK_AFTER:
            log.warning("usage meter failed on %s: %s", event_id, reason)
            return False
        with self.db.transaction() as cur:
            self.parking.park(cur, CONSUMER, event_id, 0, aggregate, reason)
        log.error("usage meter parked %s: %s", event_id, reason)
        return True

    def retry_parked(self) -> int:
        """Count the parked events again (from the event store); answers how many were counted."""
        counted = 0
        for row in self.parking.parked(CONSUMER):
            try:
                event = self.load(row["event_id"])
                if event is not None:
                    self.record(event)
            except Exception:
                continue
            with self.db.transaction() as cur:
                self.parking.clear(cur, CONSUMER, [row["event_id"]])
            counted += 1
        return counted

    def record(self, event: RelayedEvent) -> bool:
        """Count one event; answers False when it was counted already."""
        data = event.data
        usage = data.get("usage") or {}
        failed = event.type == FAILED
        model = data["model"]
        input_tokens, output_tokens = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        cost = self.cost(data["provider"], model, usage)
        row = (
            data["owner_id"],
            data.get("key_id") or "",
            data["provider"],
            model,
            event.timestamp[:10],
            int(failed),
            input_tokens,
            output_tokens,
            int(usage.get("images", 0)),
            int(usage.get("meshes", 0)),
            cost,
        )
        with self.db.transaction() as cur:
            cur.execute("INSERT INTO usage_seen (event_id) VALUES (%s) ON CONFLICT (event_id) DO NOTHING", (event.id,))
            if cur.rowcount == 0:
                return False
            cur.execute(
                "INSERT INTO usage_daily (owner_id, key_id, provider, model, day, requests, errors, input_tokens, "
                "output_tokens, images, meshes, cost_usd) VALUES (%s, %s, %s, %s, %s, 1, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (owner_id, key_id, provider, model, day) DO UPDATE SET "
                "requests = usage_daily.requests + 1, errors = usage_daily.errors + excluded.errors, "
                "input_tokens = usage_daily.input_tokens + excluded.input_tokens, "
                "output_tokens = usage_daily.output_tokens + excluded.output_tokens, "
                "images = usage_daily.images + excluded.images, meshes = usage_daily.meshes + excluded.meshes, "
                "cost_usd = usage_daily.cost_usd + excluded.cost_usd",
                row,
            )
        return True


def usage_for(db: SqlDatabase, owner_id: str, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """The owner's usage per day, provider and model; ``start`` and ``end`` (``YYYY-MM-DD``, both included) bound
    the days."""
    rows = db.query(
        "SELECT day AS date, provider, model, SUM(requests) AS requests, SUM(errors) AS errors, "
        "SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(images) AS images, "
        "SUM(meshes) AS meshes, SUM(cost_usd) AS cost_usd FROM usage_daily WHERE owner_id = %s "
        "AND day >= %s AND day <= %s GROUP BY day, provider, model ORDER BY day, provider, model",
        (owner_id, start or "0000-00-00", end or "9999-99-99"),
    )
    keys = ("requests", "errors", "input_tokens", "output_tokens", "images", "meshes")
    for row in rows:
        for key in keys:
            row[key] = int(row[key] or 0)
        row["total_tokens"] = row["input_tokens"] + row["output_tokens"]
        row["cost_usd"] = round(float(row["cost_usd"] or 0), 6)
    totals = {key: sum(r[key] for r in rows) for key in (*keys, "total_tokens")}
    totals["cost_usd"] = round(sum(r["cost_usd"] for r in rows), 6)
    return {"usage": rows, "totals": totals}
