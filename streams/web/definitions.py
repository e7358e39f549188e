"""Campaign definitions (schedule, targets, currency) for pacing, read from the campaigns topic.

Redis holds no schedule, and pacing needs one. The definition is an input, so it is read the
way the report reads it (:func:`streams.report.sources.read_definitions_kafka`: read-only,
``read_committed``, never creating a topic, the engine's rule choosing the definition in
force), in the background: every ``WEB_VIEW_DEFINITIONS_REFRESH_S``, and soon after a campaign
without one shows up. A failed read keeps what was known and says why on the pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable

from streams.config import Settings
from streams.report.sources import Definition, read_definitions_kafka
from streams.web.settings import WebSettings

__all__ = ["Definitions"]

log = logging.getLogger(__name__)

# Soon after an unknown campaign appears, but not once per campaign of a burst.
_NEW_CAMPAIGN_DELAY_S = 1.0


class Definitions:
    """The definitions in force of the campaigns the view shows, kept fresh in the background."""

    def __init__(
        self,
        settings: Settings,
        web: WebSettings,
        on_change: Callable[[Collection[str]], None] | None = None,
    ) -> None:
        """Nothing is read before :meth:`start`."""
        self._settings = settings
        self._web = web
        self.on_change = on_change
        self._found: dict[str, Definition] = {}
        self._wanted: set[str] = set()
        self._unknown_seen = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.problem: str | None = None if web.definitions else "definitions are not read"
        self.read_at_s: float | None = None

    def get(self, campaign_id: str) -> Definition | None:
        """The definition in force, if it has been read."""
        return self._found.get(campaign_id)

    def want(self, campaign_ids: Iterable[str]) -> None:
        """Campaigns the view shows: read their definitions if they are not known yet."""
        new = set(campaign_ids) - self._wanted
        if not new:
            return
        self._wanted |= new
        if new - self._found.keys():
            self._unknown_seen.set()

    async def start(self) -> None:
        """Start refreshing (nothing happens when definitions are switched off)."""
        if self._web.definitions and self._task is None:
            self._task = asyncio.create_task(self._run(), name="web-definitions")

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> None:
        """Read the definitions of every wanted campaign now."""
        wanted = sorted(self._wanted)
        if not wanted:
            return
        try:
            found = await read_definitions_kafka(
                self._settings, wanted, self._web.kafka_timeout_s
            )
        except Exception as error:  # aiokafka's errors are not OSError; keep what is known
            problem = (
                f"cannot read the campaigns topic {self._settings.topic('campaigns')} "
                f"({type(error).__name__})"
            )
            if problem != self.problem:
                log.warning("%s: %s", problem, error)
            self.problem = problem
            return
        self.problem = None
        self.read_at_s = time.time()
        changed = {
            cid for cid in wanted
            if _fingerprint(found.get(cid)) != _fingerprint(self._found.get(cid))
        }
        self._found.update(found)
        if changed and self.on_change is not None:
            self.on_change(changed)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._unknown_seen.wait(), self._web.definitions_refresh_s
                )
                await asyncio.sleep(_NEW_CAMPAIGN_DELAY_S)
            self._unknown_seen.clear()
            await self.refresh()


def _fingerprint(definition: Definition | None) -> object:
    return None if definition is None else (definition.event.event_id, definition.source)
