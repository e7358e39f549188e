"""What the web view holds of a campaign (or of the campaign list) between two updates.

A state is loaded whole once, through :mod:`streams.kpi_view`, then kept current from the
keys each ``kpi:updates`` message lists: Redis holds absolute values, so reading a listed key
again is always right, whatever was missed or merged in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis

from streams.domain.vocabulary import WINDOW_SIZES_S, Scope, Window
from streams.kpi_view import (
    Alert,
    KeyParts,
    StoredKpis,
    latest_window_start,
    read_alerts,
    read_alerts_of,
    read_campaign_sets,
    read_scope_sets,
    read_series,
    read_stored,
    recent_campaigns,
    scope_ids,
)
from streams.web.settings import WebSettings

__all__ = [
    "CHART_WINDOWS", "CampaignState", "ListState", "load_campaign", "load_list",
    "refresh_list_entries",
]

# The campaign-scope windows charted: the last minutes and hours, and the days.
CHART_WINDOWS: Final[tuple[Window, ...]] = (Window.MINUTE, Window.HOUR, Window.DAY)


def _span_s(web: WebSettings, window: str) -> int:
    count = {Window.MINUTE: web.minutes, Window.HOUR: web.hours, Window.DAY: web.days}
    return count[Window(window)] * WINDOW_SIZES_S[Window(window)]


@dataclass(slots=True)
class CampaignState:
    """One campaign's KPI sets as last read: ``all`` sets, charted windows, alerts."""

    campaign_id: str
    campaign: StoredKpis | None = None
    influencers: dict[str, StoredKpis] = field(default_factory=dict)
    posts: dict[str, StoredKpis] = field(default_factory=dict)
    series: dict[str, dict[int, StoredKpis]] = field(
        default_factory=lambda: {window: {} for window in CHART_WINDOWS}
    )
    alerts: list[Alert] = field(default_factory=list)
    unreadable_alerts: int = 0

    @property
    def exists(self) -> bool:
        """Redis holds something of the campaign."""
        return self.campaign is not None or bool(self.influencers or self.posts)

    def latest_window_end_s(self) -> float | None:
        """The end of the latest minute (else hour, else day) window: the data's clock."""
        for window in CHART_WINDOWS:
            ends = [s.window_end for s in self.series[window].values() if s.window_end]
            if ends:
                return float(max(ends))
        return None

    def apply(self, parts: KeyParts, stored: StoredKpis | None) -> str | None:
        """Take in one re-read KPI set (None: its key is gone); what changed, or None.

        The result names the part of the page to redo: ``campaign``, ``influencers``,
        ``posts`` or a chart window.
        """
        if parts.scope == Scope.CAMPAIGN and parts.window == Window.ALL:
            self.campaign = stored
            return "campaign"
        if parts.window == Window.ALL and parts.scope in (Scope.INFLUENCER, Scope.POST):
            table = self.influencers if parts.scope == Scope.INFLUENCER else self.posts
            scope_id = str(parts.scope_id)
            if stored is None:
                table.pop(scope_id, None)
            else:
                table[scope_id] = stored
            return "influencers" if parts.scope == Scope.INFLUENCER else "posts"
        if parts.scope == Scope.CAMPAIGN and parts.window in CHART_WINDOWS:
            start = parts.start
            if start is None:
                return None
            if stored is None:
                self.series[parts.window].pop(start, None)
            else:
                self.series[parts.window][start] = stored
            return str(parts.window)
        return None  # influencer windows: not shown

    def prune(self, web: WebSettings) -> None:
        """Drop charted windows older than each chart's span, counted from its latest window."""
        for window, points in self.series.items():
            if not points:
                continue
            first = max(points) + WINDOW_SIZES_S[Window(window)] - _span_s(web, window)
            for start in [s for s in points if s < first]:
                del points[start]


def _aligned(moment_s: float, window: Window) -> int:
    size = WINDOW_SIZES_S[window]
    return int(moment_s // size) * size


def _starts(end_s: int, window: Window, web: WebSettings) -> list[int]:
    size = WINDOW_SIZES_S[window]
    return list(range(end_s - _span_s(web, window), end_s, size))


async def load_campaign(
    client: Redis, campaign_id: str, web: WebSettings, now_s: float
) -> CampaignState:
    """Read one campaign whole: its ``all`` sets, alerts and the windows its charts show.

    The charts end at the data's clock. For a live campaign that is now, found by reading the
    hours up to now (one round trip); for an older one (a replay, a finished campaign) its
    latest hour is looked up in the key space once (SCAN), then the same windows are read.
    """
    state = CampaignState(campaign_id)
    state.campaign = await read_stored(client, campaign_id)
    influencers = await scope_ids(client, campaign_id, Scope.INFLUENCER)
    for stored in await read_scope_sets(client, campaign_id, Scope.INFLUENCER, influencers):
        state.influencers[stored.kpi_set.scope_id] = stored
    posts = await scope_ids(client, campaign_id, Scope.POST)
    for stored in await read_scope_sets(client, campaign_id, Scope.POST, posts):
        state.posts[stored.kpi_set.scope_id] = stored
    state.alerts, state.unreadable_alerts = await read_alerts(client, campaign_id)
    # One hour ahead of now: a producer's clock may run a little ahead of ours.
    end = _aligned(now_s, Window.HOUR) + 2 * WINDOW_SIZES_S[Window.HOUR]
    hourly = await read_series(
        client, campaign_id, window=Window.HOUR, starts=_starts(end, Window.HOUR, web)
    )
    if not hourly:
        latest = await latest_window_start(client, campaign_id, Scope.CAMPAIGN, None, Window.HOUR)
        if latest is not None:
            end = latest + WINDOW_SIZES_S[Window.HOUR]
            hourly = await read_series(
                client, campaign_id, window=Window.HOUR, starts=_starts(end, Window.HOUR, web)
            )
    if hourly:
        end = max(s.window_start or 0 for s in hourly) + WINDOW_SIZES_S[Window.HOUR]
    minutes = await read_series(
        client, campaign_id, window=Window.MINUTE, starts=_starts(end, Window.MINUTE, web)
    )
    day_end = _aligned(end - 1, Window.DAY) + WINDOW_SIZES_S[Window.DAY]
    daily = await read_series(
        client, campaign_id, window=Window.DAY, starts=_starts(day_end, Window.DAY, web)
    )
    for window, sets in ((Window.MINUTE, minutes), (Window.HOUR, hourly), (Window.DAY, daily)):
        state.series[window] = {s.window_start: s for s in sets if s.window_start is not None}
    state.prune(web)
    return state


@dataclass(slots=True)
class ListState:
    """The campaign list: each shown campaign's ``all`` set and alerts."""

    campaigns: dict[str, StoredKpis] = field(default_factory=dict)
    alerts: dict[str, list[Alert]] = field(default_factory=dict)
    not_shown: bool = False  # more campaigns than WEB_VIEW_MAX_CAMPAIGNS

    def objective_of(self, campaign_id: str) -> str | None:
        """The campaign's objective as its KPI set says (None without a definition)."""
        stored = self.campaigns.get(campaign_id)
        objective = stored.kpis.get("objective") if stored is not None else None
        return objective if isinstance(objective, str) else None


async def load_list(client: Redis, web: WebSettings) -> ListState:
    """The most recently updated campaigns (``kpi:campaigns``), their sets and alerts."""
    ids = await recent_campaigns(client, web.max_campaigns + 1)
    state = ListState(not_shown=len(ids) > web.max_campaigns)
    ids = ids[: web.max_campaigns]
    state.campaigns = await read_campaign_sets(client, ids)
    alerts = await read_alerts_of(client, list(state.campaigns))
    state.alerts = {cid: found for cid, (found, _) in alerts.items()}
    return state


async def refresh_list_entries(
    client: Redis, state: ListState, campaign_ids: list[str], web: WebSettings
) -> None:
    """Re-read these campaigns' ``all`` sets and alerts into the list (new ones join it).

    An id with no set here is dropped (or was never listed: pub/sub is server-wide, so it
    may be a campaign of another database).
    """
    sets = await read_campaign_sets(client, campaign_ids)
    room = web.max_campaigns - len(state.campaigns)
    kept: list[str] = []
    for cid in campaign_ids:
        if cid not in sets:
            state.campaigns.pop(cid, None)
            state.alerts.pop(cid, None)
        elif cid in state.campaigns or room > 0:
            room -= cid not in state.campaigns
            kept.append(cid)
        else:
            state.not_shown = True
    alerts = await read_alerts_of(client, kept)
    for cid in kept:
        state.campaigns[cid] = sets[cid]
        state.alerts[cid] = alerts[cid][0]
