"""Live updates: ONE ``kpi:updates`` subscription per process, fanned out to every open page.

* One Redis pub/sub connection subscribes to ``kpi:updates`` (contract 5.1), whatever the
  number of viewers; a lost connection is reopened with a capped backoff, and every watched
  state is then read again whole (messages sent meanwhile are lost, the values are not).
* Each message names a campaign and the hash keys its flush wrote. Messages of campaigns
  nobody watches are dropped at once. For watched ones the keys are merged while the
  previous push is being made, and at most every ``WEB_VIEW_PUSH_INTERVAL_S`` one refresher
  re-reads the listed keys once (one pipeline per campaign) — however many pages show the
  campaign — and pushes to each page only the sections whose HTML changed, and the chart
  points of the windows written.
* A page gets its stream (Server-Sent Events) with a snapshot first, built in the same step
  as it joins, so no update falls between the page's state and the stream.
* A page that does not read its stream fast enough is disconnected (its browser reconnects
  and gets a fresh snapshot) rather than buffering without bound.

Pub/sub channels are server-wide in Redis, not per database: a message of a campaign that
this database does not hold reads nothing and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from streams.codec import dumps
from streams.domain.vocabulary import Scope, Window
from streams.kpi_view import (
    UPDATES_CHANNEL,
    KeyParts,
    parse_key,
    parse_update,
    read_keys,
)
from streams.web.definitions import Definitions
from streams.web.settings import WebSettings
from streams.web.state import (
    CHART_WINDOWS,
    CampaignState,
    ListState,
    load_campaign,
    load_list,
    refresh_list_entries,
)
from streams.web.views import (
    NO_OBJECTIVE,
    campaign_page,
    chart_kpis,
    chart_points,
    list_page,
)

__all__ = ["LiveHub", "Renderer", "Viewer", "sse_event"]

log = logging.getLogger(__name__)

_QUEUE_EVENTS: Final = 64  # events a page may fall behind before it is disconnected
_BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0, 5.0)
_TICK_S: Final = 5.0  # janitor; time-dependent text (elapsed share) is redone every _REDO_S
_REDO_S: Final = 30.0
_WINDOW_SIZE: Final = {Window.MINUTE: 60, Window.HOUR: 3600, Window.DAY: 86_400}

# The renderer turns a page's data into the HTML of each section: {section id: html}.
Renderer = Callable[[str, Mapping[str, Any]], dict[str, str]]


def sse_event(event: str, data: object) -> bytes:
    """One Server-Sent Event; the data is one line of JSON."""
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


class Viewer:
    """One open page's stream: a bounded queue of encoded events."""

    def __init__(self, campaign_id: str | None) -> None:
        """``campaign_id`` None: the campaign list."""
        self.campaign_id = campaign_id
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=_QUEUE_EVENTS)
        self.closed = asyncio.Event()

    def send(self, event: str, data: object) -> None:
        """Queue an event; a page that fell too far behind is closed instead."""
        if self.closed.is_set():
            return
        try:
            self.queue.put_nowait(sse_event(event, data))
        except asyncio.QueueFull:
            self.closed.set()


@dataclass(slots=True)
class _Watched:
    """A campaign's state while someone watches it, and the sections last pushed."""

    state: CampaignState
    viewers: set[Viewer] = field(default_factory=set)
    sections: dict[str, str] = field(default_factory=dict)
    idle_since: float | None = None


@dataclass(slots=True)
class _WatchedList:
    state: ListState
    viewers: set[Viewer] = field(default_factory=set)
    sections: dict[str, str] = field(default_factory=dict)
    clocks: dict[str, float] = field(default_factory=dict)  # latest window end seen
    idle_since: float | None = None


class LiveHub:
    """The process's one subscription, the watched states, and the pages' streams."""

    def __init__(
        self,
        client: Redis,
        web: WebSettings,
        definitions: Definitions,
        render: Renderer,
        *,
        pubsub_client: Redis | None = None,
    ) -> None:
        """``client`` reads; ``pubsub_client`` (default ``client``) holds the subscription."""
        self._client = client
        self._pubsub_client = pubsub_client or client
        self._web = web
        self._definitions = definitions
        self._render = render
        self._campaigns: dict[str, _Watched] = {}
        self._loading: dict[str, asyncio.Task[CampaignState]] = {}
        self._list: _WatchedList | None = None
        self._list_loading: asyncio.Task[ListState] | None = None
        self._pending: dict[str, set[str]] = {}
        self._wake = asyncio.Event()
        self._resync = False
        self._redo = False
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = False
        self.subscriptions_opened = 0
        self.messages = 0
        self.pushes = 0
        self.spans: dict[str, int] = {
            Window.MINUTE: web.minutes * 60, Window.HOUR: web.hours * 3600,
            Window.DAY: web.days * 86_400,
        }

    # ----------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self) -> None:
        """Subscribe and start the refresher."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="web-subscription"),
            asyncio.create_task(self._refresh_loop(), name="web-refresher"),
            asyncio.create_task(self._tick(), name="web-janitor"),
        ]

    async def stop(self) -> None:
        """Close every stream, then unsubscribe."""
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def close_streams(self) -> None:
        """End every open stream (the server is stopping)."""
        for viewer in self.viewers():
            viewer.closed.set()

    def viewers(self) -> list[Viewer]:
        """Every open stream."""
        found = [v for w in self._campaigns.values() for v in w.viewers]
        return found + (list(self._list.viewers) if self._list is not None else [])

    @property
    def watched(self) -> list[str]:
        """The campaigns whose state is held."""
        return sorted(self._campaigns)

    # ----------------------------------------------------------------------------------------
    # Pages

    async def campaign_state(self, campaign_id: str) -> CampaignState:
        """The campaign's state, read whole unless it is held already (then kept a while)."""
        watched = self._campaigns.get(campaign_id)
        if watched is not None:
            if not watched.viewers:
                watched.idle_since = time.monotonic()
            return watched.state
        task = self._loading.get(campaign_id)
        if task is None:
            # Registered before reading: messages that arrive during the load wait in
            # _pending and are applied after it, so nothing written meanwhile is missed.
            task = asyncio.create_task(
                load_campaign(self._client, campaign_id, self._web, time.time())
            )
            self._loading[campaign_id] = task
            self._pending.setdefault(campaign_id, set())
        try:
            state = await asyncio.shield(task)
        finally:
            if task.done() and self._loading.get(campaign_id) is task:
                del self._loading[campaign_id]
        if campaign_id not in self._campaigns:
            self._campaigns[campaign_id] = _Watched(state, idle_since=time.monotonic())
            self._definitions.want([campaign_id])
            if self._pending.get(campaign_id):
                self._wake.set()
        return self._campaigns[campaign_id].state

    async def list_state(self) -> ListState:
        """The campaign list, read whole unless it is held already."""
        if self._list is not None:
            if not self._list.viewers:
                self._list.idle_since = time.monotonic()
            return self._list.state
        if self._list_loading is None:
            self._list_loading = asyncio.create_task(load_list(self._client, self._web))
        task = self._list_loading
        try:
            state = await asyncio.shield(task)
        finally:
            if task.done() and self._list_loading is task:
                self._list_loading = None
        if self._list is None:
            self._list = _WatchedList(state, idle_since=time.monotonic())
            self._definitions.want(state.campaigns)
        return self._list.state

    def campaign_view(self, campaign_id: str) -> dict[str, Any]:
        """The data of a held campaign's page."""
        state = self._campaigns[campaign_id].state
        return campaign_page(
            state, self._definitions.get(campaign_id), now_s=time.time(),
            reports_dir=self._web.reports_dir, top_posts=self._web.top_posts, spans=self.spans,
            definitions_problem=self._definitions.problem,
        )

    def list_view(self) -> dict[str, Any]:
        """The data of the held campaign list."""
        assert self._list is not None
        state = self._list.state
        found = {cid: d for cid in state.campaigns if (d := self._definitions.get(cid))}
        return list_page(state, found, self._list.clocks, time.time())

    async def join(self, viewer: Viewer) -> dict[str, Any]:
        """Register a stream; returns its snapshot (taken in the same step, see the module)."""
        cid = viewer.campaign_id
        if cid is None:
            await self.list_state()
            assert self._list is not None
            self._list.viewers.add(viewer)
            self._list.idle_since = None
            view = self.list_view()
            sections = self._render("list", view)
            self._list.sections = dict(sections)
            return {"sections": sections}
        await self.campaign_state(cid)
        watched = self._campaigns[cid]
        watched.viewers.add(viewer)
        watched.idle_since = None
        view = self.campaign_view(cid)
        sections = self._render("campaign", view)
        watched.sections = dict(sections)
        return {"sections": sections, "charts": view["charts"]}

    def leave(self, viewer: Viewer) -> None:
        """Unregister a stream; the state stays ``WEB_VIEW_LINGER_S`` for the next page."""
        viewer.closed.set()
        if viewer.campaign_id is None:
            if self._list is not None:
                self._list.viewers.discard(viewer)
                if not self._list.viewers:
                    self._list.idle_since = time.monotonic()
            return
        watched = self._campaigns.get(viewer.campaign_id)
        if watched is not None:
            watched.viewers.discard(viewer)
            if not watched.viewers:
                watched.idle_since = time.monotonic()

    def definitions_changed(self, campaign_ids: Collection[str]) -> None:
        """Redo the pages of these campaigns (their schedule or targets changed)."""
        for cid in campaign_ids:
            if cid in self._campaigns or self._list is not None:
                self._pending.setdefault(cid, set())
        self._wake.set()

    # ----------------------------------------------------------------------------------------
    # The subscription

    async def _listen(self) -> None:
        failures = 0
        while True:
            pubsub: PubSub = self._pubsub_client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(UPDATES_CHANNEL)
                self.subscriptions_opened += 1
                if self.subscriptions_opened > 1:
                    self._resync = True  # messages were lost while unsubscribed
                    self._wake.set()
                self.subscribed = True
                if failures:
                    log.info("subscribed to %s again", UPDATES_CHANNEL)
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=_TICK_S)
                    if message is not None and message.get("type") == "message":
                        self._on_message(message["data"])
            except (RedisError, OSError) as error:
                self.subscribed = False
                if failures == 0:
                    log.warning(
                        "subscription to %s lost (%s: %s); retrying",
                        UPDATES_CHANNEL, type(error).__name__, error,
                    )
                await asyncio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
                failures += 1
            finally:
                self.subscribed = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _on_message(self, raw: str | bytes) -> None:
        self.messages += 1
        update = parse_update(raw)
        if update is None:
            return
        cid = update.campaign_id
        watched = cid in self._campaigns or cid in self._loading
        if not watched and self._list is None:
            return  # nobody looks at it
        self._pending.setdefault(cid, set()).update(update.keys)
        self._wake.set()

    # ----------------------------------------------------------------------------------------
    # Refreshing and pushing

    async def _refresh_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._resync:
                    self._resync = False
                    await self._reload_all()
                await self._refresh()
                if self._redo:
                    self._redo = False
                    self._redo_all()
            except (RedisError, OSError) as error:
                log.warning("reading Redis for an update failed (%s: %s); reading whole "
                            "again", type(error).__name__, error)
                self._resync = True
                await asyncio.sleep(_BACKOFF_S[-1])
                self._wake.set()
            await asyncio.sleep(self._web.push_interval_s)

    async def _refresh(self) -> None:
        # Campaigns still loading keep their keys for after the load.
        batch = {c: k for c, k in self._pending.items() if c not in self._loading}
        for cid in batch:
            del self._pending[cid]
        if not batch:
            return
        list_changed: list[str] = []
        for cid, keys in batch.items():
            parts = [
                p for p in map(parse_key, sorted(keys))
                if p is not None and p.campaign_id == cid
            ]
            watched = self._campaigns.get(cid)
            if watched is not None:
                await self._refresh_campaign(cid, watched, parts)
            if self._list is not None:
                self._note_clock(cid, parts)
                if not parts or any(
                    p.is_alerts or (p.scope == Scope.CAMPAIGN and p.window == Window.ALL)
                    for p in parts
                ):
                    list_changed.append(cid)
        if self._list is not None and list_changed:
            await self._refresh_list(list_changed)

    async def _refresh_campaign(
        self, cid: str, watched: _Watched, parts: list[KeyParts]
    ) -> None:
        state = watched.state
        wanted = [
            p for p in parts
            if not p.is_alerts and (p.window == Window.ALL or p.scope == Scope.CAMPAIGN)
        ]
        changed_starts: dict[str, list[int]] = {}
        stored_sets, alerts = await read_keys(
            self._client, cid, wanted, with_alerts=any(p.is_alerts for p in parts)
        )
        for p, stored in zip(wanted, stored_sets, strict=True):
            what = state.apply(p, stored)
            if what in CHART_WINDOWS and p.start is not None:
                changed_starts.setdefault(what, []).append(p.start)
        if alerts is not None:
            state.alerts, state.unreadable_alerts = alerts
        state.prune(self._web)
        if not watched.viewers:
            return
        view = self.campaign_view(cid)
        sections = self._render("campaign", view)
        changed = {k: v for k, v in sections.items() if watched.sections.get(k) != v}
        watched.sections.update(changed)
        kpis = chart_kpis(view["objective"])
        charts = {
            window: chart_points(state, window, kpis, starts)
            for window, starts in changed_starts.items()
        }
        if not changed and not charts:
            return
        payload: dict[str, Any] = {"sections": changed, "points": charts}
        if charts or "summary" in changed:
            payload["kpis"] = list(kpis)
        self.pushes += 1
        for viewer in list(watched.viewers):
            viewer.send("update", payload)

    def _note_clock(self, cid: str, parts: list[KeyParts]) -> None:
        assert self._list is not None
        for p in parts:
            if p.scope == Scope.CAMPAIGN and p.window in _WINDOW_SIZE and p.start is not None:
                end = float(p.start + _WINDOW_SIZE[Window(p.window)])
                if p.window != Window.DAY and end > self._list.clocks.get(cid, 0.0):
                    self._list.clocks[cid] = end

    async def _refresh_list(self, campaign_ids: list[str]) -> None:
        assert self._list is not None
        watched = self._list
        before = {cid: watched.state.objective_of(cid) for cid in campaign_ids}
        await refresh_list_entries(self._client, watched.state, campaign_ids, self._web)
        self._definitions.want(watched.state.campaigns)
        if not watched.viewers:
            return
        groups = {
            f"group-{o or NO_OBJECTIVE}"
            for cid in campaign_ids
            for o in (before[cid], watched.state.objective_of(cid))
        }
        sections = self._render("list", self.list_view())
        changed = {
            k: v for k, v in sections.items()
            if k in groups and watched.sections.get(k) != v
        }
        if not changed:
            return
        watched.sections.update(changed)
        self.pushes += 1
        for viewer in list(watched.viewers):
            viewer.send("update", {"sections": changed})

    async def _reload_all(self) -> None:
        """Read every held state whole again and send each stream a new snapshot."""
        now = time.time()
        for cid, watched in list(self._campaigns.items()):
            watched.state = await load_campaign(self._client, cid, self._web, now)
            if watched.viewers:
                view = self.campaign_view(cid)
                watched.sections = self._render("campaign", view)
                for viewer in list(watched.viewers):
                    viewer.send("snapshot", {"sections": watched.sections,
                                             "charts": view["charts"]})
        if self._list is not None:
            self._list.state = await load_list(self._client, self._web)
            if self._list.viewers:
                self._list.sections = self._render("list", self.list_view())
                for viewer in list(self._list.viewers):
                    viewer.send("snapshot", {"sections": self._list.sections})

    async def _tick(self) -> None:
        last_redo = time.monotonic()
        while True:
            await asyncio.sleep(_TICK_S)
            now = time.monotonic()
            linger = self._web.linger_s
            for cid, watched in list(self._campaigns.items()):
                if watched.idle_since is not None and now - watched.idle_since >= linger:
                    del self._campaigns[cid]
                    self._pending.pop(cid, None)
            if (
                self._list is not None and self._list.idle_since is not None
                and now - self._list.idle_since >= linger
            ):
                self._list = None
            if now - last_redo >= _REDO_S:
                last_redo = now
                self._redo = True
                self._wake.set()

    def _redo_all(self) -> None:
        """Render every watched page again without reading: time moved (elapsed share)."""
        for cid, watched in self._campaigns.items():
            if watched.viewers:
                self._push_sections(watched.viewers, watched.sections,
                                    self._render("campaign", self.campaign_view(cid)))
        if self._list is not None and self._list.viewers:
            self._push_sections(self._list.viewers, self._list.sections,
                                self._render("list", self.list_view()))

    def _push_sections(
        self, viewers: set[Viewer], last: dict[str, str], sections: Mapping[str, str]
    ) -> None:
        changed = {k: v for k, v in sections.items() if last.get(k) != v}
        if changed:
            last.update(changed)
            self.pushes += 1
            for viewer in list(viewers):
                viewer.send("update", {"sections": changed})
