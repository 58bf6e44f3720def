"""The sweeper: re-publishes work for generations ``Requested`` but never ``Started``.

It closes the crash window between the commit of ``Requested`` and the publish of its work message (and
covers work lost by the bus). Workers ignore work for generations that have started or finished already.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone

from infra.bus.base import Bus
from infra.bus.subjects import work_subject
from infra.sqldb import SqlDatabase
from projections.generations import unstarted

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, db: SqlDatabase, bus: Bus, grace_s: float) -> None:
        self.db, self.bus, self.grace_s = db, bus, grace_s

    async def run_once(self) -> int:
        cutoff = (datetime.now(timezone.utc) - timedelta(seconds=self.grace_s)).isoformat()
        rows = await asyncio.get_running_loop().run_in_executor(None, unstarted, self.db, cutoff)
        for row in rows:
            await self.bus.publish(work_subject(row["runtime"]), json.dumps({"generation_id": row["id"]}).encode(),
                                   msg_id=f"{row['id']}:sweep:{int(time.time())}")
        if rows:
            log.warning("sweeper re-published work for %d unstarted generation(s)", len(rows))
        return len(rows)

    async def run_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.run_once()
            except Exception:
                log.exception("sweeper failed")
