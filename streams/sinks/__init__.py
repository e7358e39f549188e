"""Where flushed KPI sets go: each sink behind the same small async interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from streams.domain.engine import KpiSet


@dataclass(frozen=True, slots=True)
class Flush:
    """The KPI sets one flush writes, once each, with absolute values."""

    kpi_sets: Sequence[KpiSet]
    updated_at_ms: int


class Sink(Protocol):
    """A destination of flushes.

    ``write`` retries transient failures itself and returns only once the flush is stored;
    it raises only for errors that retrying cannot fix.
    """

    name: str

    async def start(self) -> None:
        """Connect."""

    async def write(self, flush: Flush) -> None:
        """Store one flush."""

    async def stop(self) -> None:
        """Release connections."""
