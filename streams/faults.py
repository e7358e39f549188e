"""Test-only pauses at the moments a crash is hardest to survive (``KPI_TEST_FAULT_DELAYS``).

The fault suite sets, e.g., ``fetched=0.2,mid_flush=0.3,committed=0.5`` and kills workers
while they wait: mid-fetch (records applied, not flushed), mid-flush (records sent, the
transaction not committed) and between the Kafka commit and the Redis write. Each pause is
logged when it begins, so the suite can tell which moment a kill hit. Unset, nothing waits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from streams.config import Settings

log = logging.getLogger(__name__)

FAULT_POINTS: Final = ("fetched", "mid_flush", "committed")


async def fault_point(settings: Settings, name: str) -> None:
    """Pause at a named moment when the settings ask for it."""
    delay_s = settings.fault_delays.get(name)
    if delay_s:
        log.warning("fault point %s: pausing %.2f s", name, delay_s)
        await asyncio.sleep(delay_s)
