"""Test-only pauses at the moments a crash is hardest to survive (``KPI_TEST_FAULT_DELAYS``).

The fault suite sets, e.g., ``fetched=0.2/5,mid_flush=0.3/3,committed=0.5/3`` (pause that many
seconds, every Nth time the moment comes) and kills workers while they wait: mid-fetch
(records applied, not flushed), mid-flush (records sent, the transaction not committed) and
between the Kafka commit and the Redis write. Each pause is logged as it begins and ends, so
the suite can tell which moment a kill hit. Unset, nothing waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Final

from streams.config import Settings

log = logging.getLogger(__name__)

FAULT_POINTS: Final = ("fetched", "mid_flush", "committed")
_SEEN: Counter[str] = Counter()


async def fault_point(settings: Settings, name: str) -> None:
    """Pause at a named moment when the settings ask for it (every Nth time)."""
    delay = settings.fault_delays.get(name)
    if delay is None:
        return
    seconds, every = delay
    _SEEN[name] += 1
    if _SEEN[name] % every:
        return
    log.warning("fault point %s: pausing %.2f s", name, seconds)
    await asyncio.sleep(seconds)
    log.warning("fault point %s: resumed", name)
