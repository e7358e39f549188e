"""``campaign-kpi simulate``: realistic influencer campaigns as contract-v1 input records.

The figures follow the project's domain notes: influencer tiers and their
follower counts, reach as a share of followers by platform and format, engagement rates by
tier and platform, a Weibull decay of interactions after each post, link clicks (2-5 % of
story viewers, 1-3 % from reels), 1-3 % conversion at a few tens of euros, bot clicks and
preview fetchers, late platform data, duplicates from retrying producers and broken records.

The generator is pure Python and deterministic for a given :class:`SimConfig` (the seed and
the start time included): :func:`plan` gives the campaigns, :func:`records` the records in
emission order, each with the Kafka timestamp it is sent with (the simulated emission time,
never earlier than its ``occurred_at`` unless the record is deliberately invalid). Benchmarks
and the demo use it directly; :func:`main` sends it to Kafka (paced) or writes the replay's
JSON Lines format.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any, Final, NamedTuple

from streams import codec
from streams.config import Settings
from streams.domain.vocabulary import Topic

__all__ = [
    "BOT_USER_AGENTS",
    "CampaignPlan",
    "Influencer",
    "SimConfig",
    "SimRecord",
    "default_start_us",
    "main",
    "plan",
    "records",
]

_US: Final = 1_000_000
_HOUR_US: Final = 3600 * _US
_DAY_US: Final = 24 * _HOUR_US

OBJECTIVE_CYCLE: Final = ("awareness", "engagement", "conversion")

# Record kinds (SimRecord.kind): what the simulator meant each record to be.
VALID: Final = "valid"
DUPLICATE: Final = "duplicate"  # an exact re-send of an earlier record
LATE: Final = "late"  # a valid event sent 6.5-48 h after it occurred
BOT: Final = "bot"  # a valid click from a bot or link-preview fetcher
INVALID: Final = "invalid"  # a broken record: the processor dead-letters it

TIERS: Final[dict[str, tuple[int, int]]] = {  # follower range
    "nano": (1_000, 10_000),
    "micro": (10_000, 100_000),
    "mid": (100_000, 500_000),
    "macro": (500_000, 1_000_000),
    "mega": (1_000_000, 5_000_000),
}
# A micro-influence agency's roster: mostly nano and micro accounts.
_TIER_WEIGHTS: Final = {"nano": 35, "micro": 40, "mid": 15, "macro": 8, "mega": 2}
# Engagement rate by followers on Instagram (domain notes).
_ER: Final[dict[str, tuple[float, float]]] = {
    "nano": (0.03, 0.06),
    "micro": (0.015, 0.03),
    "mid": (0.01, 0.02),
    "macro": (0.01, 0.02),
    "mega": (0.008, 0.012),
}
_PLATFORM_WEIGHTS: Final = {"instagram": 60, "tiktok": 28, "youtube": 12}
_ER_PLATFORM: Final = {"instagram": 1.0, "tiktok": 3.0, "youtube": 0.6}
_FORMATS: Final[dict[str, tuple[str, ...]]] = {
    "instagram": ("reel", "carousel", "post", "story", "story"),
    "tiktok": ("video",),
    "youtube": ("video", "short"),
}
_VIDEO_FORMATS: Final = frozenset({"reel", "video", "short", "story", "live"})
# Share of story viewers using the link sticker, of reel/post viewers using the bio link...
_CLICK_RATE: Final = {"story": 0.035, "reel": 0.02, "video": 0.015, "short": 0.012}
_CLICK_RATE_DEFAULT: Final = 0.01
_CHANNEL: Final = {"story": "swipe_up", "video": "link", "short": "link"}
_CONVERSION_RATE: Final = 0.02  # influencer traffic converts at ~1-3 %
# Weibull decay of a post's interactions: ~80 % of the 30-day total within 24 h.
_WEIBULL_K: Final = 0.8
_WEIBULL_SCALE_US: Final = int(13.2 * _HOUR_US)
_POST_LIFE_US: Final = 30 * _DAY_US
_STORY_LIFE_US: Final = _DAY_US

BOT_USER_AGENTS: Final = (
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
)
_HUMAN_USER_AGENTS: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Instagram 312.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) musical_ly_32.5.0 TikTok",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari/605.1",
)
_FIRST_NAMES: Final = (
    "lea", "hugo", "chloe", "lucas", "manon", "nathan", "ines", "louis", "camille", "jules",
    "sarah", "theo", "emma", "arthur", "jade", "noah", "alice", "gabriel", "lina", "adam",
)
_NICHES: Final = (
    "cuisine", "beaute", "running", "voyage", "mode", "deco", "gaming", "yoga", "parentalite",
    "jardin", "tech", "velo", "vegan", "skincare", "lecture",
)
_BRANDS: Final = (
    "Maison Lumiere", "Biscuiterie Calme", "Velo Nord", "Atelier Sable", "Cafe Brume",
    "Pure Alpes", "Les Petits Pas", "Onde Cosmetiques",
)
_REVIEWERS: Final = ("rev-brand-manager", "rev-agency-lead")
_CRITERIA: Final = ("brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance")


class SimRecord(NamedTuple):
    """One record to send: logical topic, key, value, Kafka timestamp and what it stands for."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int
    kind: str = VALID


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. Shares are of the base (valid, on-time) events.

    ``start_us`` is the campaigns' launch in event time (epoch microseconds); with None,
    :func:`default_start_us` places it so that the simulated clock never runs ahead of now.
    The output is a function of the whole config: same config, same records, byte for byte.
    """

    seed: int = 1
    campaigns: int = 3
    influencers: int = 8  # per campaign
    days: float = 5.0  # campaign length (starts_at .. ends_at)
    duration_s: float | None = None  # simulated seconds to generate (default: all `days`)
    events: int | None = None  # stop after that many records
    start_us: int | None = None
    objectives: tuple[str, ...] = OBJECTIVE_CYCLE
    max_tier: str = "mega"  # the largest tier a roster holds
    id_prefix: str = "sim-"
    currency: str = "EUR"
    duplicate_share: float = 0.02  # base events re-sent once (a producer retrying)
    late_share: float = 0.01  # interactions, clicks, orders, reviews sent 6.5-48 h late
    bot_share: float = 0.08  # clicks from bots and link-preview fetchers
    invalid_share: float = 0.005  # extra broken records (dead-lettered)
    tick_s: float = 60.0  # simulated seconds per generation step

    @property
    def sim_duration_us(self) -> int:
        """Simulated microseconds the run covers."""
        full = self.days * 86_400
        seconds = full if self.duration_s is None else min(self.duration_s, full)
        return int(seconds * _US)


def default_start_us(config: SimConfig, speed: float | None, now_s: float | None = None) -> int:
    """A launch time such that the simulated clock reaches *now* exactly at the run's end.

    With ``speed`` (simulated seconds per wall second) the run lasts duration / speed wall
    seconds; starting the campaigns ``duration * (1 - 1/speed)`` ago keeps every event time
    (and so every Kafka timestamp) in the past, as brokers and the future-timestamp rule
    want. ``speed=None`` (a file, no clock) puts the whole run in the past.
    """
    now_us = int((time.time() if now_s is None else now_s) * _US)
    duration = config.sim_duration_us
    behind = duration if speed is None else int(duration * (1 - 1 / max(speed, 1.0)))
    start = now_us - behind
    return start - start % _US  # whole seconds


@dataclass(frozen=True, slots=True)
class Influencer:
    """One roster entry with what the simulator needs to make up its audience."""

    influencer_id: str
    tier: str
    followers: int
    platform: str
    engagement_rate: float  # by followers, on this platform
    promo_code: str
    link_ids: dict[str, str]  # channel -> link id
    quality: float  # mean review score, 1..5


@dataclass(frozen=True, slots=True)
class PostPlan:
    """A post to publish."""

    post_id: str
    influencer: Influencer
    platform: str
    format: str
    published_us: int
    cost_minor: int
    reach: int  # expected distinct viewers
    audience_offset: int  # where its viewers start in the influencer's audience


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """A campaign: its definition and the posts it will publish."""

    campaign_id: str
    name: str
    brand: str
    objective: str
    starts_us: int
    ends_us: int
    currency: str
    budget_minor: int
    targets: dict[str, float]
    influencers: tuple[Influencer, ...]
    posts: tuple[PostPlan, ...]
    click_factor: float  # how much the brief pushes links (conversion: 1)

    def definition(self, occurred_us: int) -> dict[str, Any]:
        """The ``campaign`` event."""
        return {
            "event_id": f"{self.campaign_id}-def-1",
            "type": "campaign",
            "occurred_at": iso(occurred_us),
            "campaign_id": self.campaign_id,
            "name": self.name,
            "brand": self.brand,
            "objective": self.objective,
            "starts_at": iso(self.starts_us),
            "ends_at": iso(self.ends_us),
            "currency": self.currency,
            "budget_minor": self.budget_minor,
            "attribution_window_days": 7,
            "targets": self.targets,
            "influencers": [
                {
                    "influencer_id": inf.influencer_id,
                    "tier": inf.tier,
                    "promo_codes": [inf.promo_code],
                    "link_ids": sorted(inf.link_ids.values()),
                }
                for inf in self.influencers
            ],
        }


def iso(us: int) -> str:
    """An RFC 3339 UTC time with milliseconds."""
    seconds, rest = divmod(us, _US)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# Planning


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _reach_share(platform: str, format_: str, followers: int, rng: random.Random) -> float:
    if platform == "tiktok":
        return rng.uniform(0.5, 1.5)  # the For You page: reach can exceed followers
    if platform == "youtube":
        return rng.uniform(0.2, 0.4)
    # Instagram: posts ~38 % under 20k followers down to ~19 % over 1M; stories 8 % to 4 %.
    position = min(max((math.log10(max(followers, 1)) - math.log10(20_000)) / 1.7, 0.0), 1.0)
    share = 0.38 - 0.19 * position
    if format_ == "story":
        share = 0.08 - 0.04 * position
    elif format_ == "reel":
        share *= 1.3
    return share * rng.uniform(0.85, 1.15)


def _influencers(
    rng: random.Random, campaign_id: str, count: int, max_tier: str
) -> list[Influencer]:
    tiers = list(TIERS)
    allowed = {t: w for t, w in _TIER_WEIGHTS.items() if tiers.index(t) <= tiers.index(max_tier)}
    result: list[Influencer] = []
    used: set[str] = set()
    while len(result) < count:
        name = f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_NICHES)}"
        if name in used:
            name = f"{name}{len(result)}"
        used.add(name)
        tier = _weighted(rng, allowed)
        low, high = TIERS[tier]
        followers = int(math.exp(rng.uniform(math.log(low), math.log(high))))
        platform = _weighted(rng, _PLATFORM_WEIGHTS)
        rate = rng.uniform(*_ER[tier]) * _ER_PLATFORM[platform]
        code = f"{name.split('.')[0].upper()}{len(result) + 1}{rng.choice((10, 15, 20))}"
        links = {
            channel: f"{campaign_id}.{name}.{channel}"
            for channel in ("link", "swipe_up", "qr", "bio_link")
        }
        result.append(
            Influencer(
                name, tier, followers, platform, rate, code, links, rng.uniform(3.0, 4.6)
            )
        )
    return result


def _posts(
    rng: random.Random, campaign_id: str, influencers: list[Influencer], starts_us: int,
    ends_us: int,
) -> list[PostPlan]:
    posts: list[PostPlan] = []
    length = ends_us - starts_us
    for number, inf in enumerate(influencers):
        # The launch wave: everyone posts within the first hours, staggered; a second piece
        # (often a story) follows later in the campaign.
        times = [starts_us + int(rng.uniform(60, 6 * 3600) * _US)]
        if rng.random() < 0.7:
            times.append(starts_us + int(rng.uniform(0.2, 0.7) * length))
        for index, published in enumerate(times):
            format_ = rng.choice(_FORMATS[inf.platform])
            if index == 1 and inf.platform == "instagram" and rng.random() < 0.5:
                format_ = "story"
            fee = inf.followers * rng.uniform(0.012, 0.025) * (0.5 if format_ == "story" else 1)
            reach = max(int(inf.followers * _reach_share(inf.platform, format_, inf.followers,
                                                         rng)), 20)
            offset = rng.randrange(0, max(inf.followers // 2, 1))
            posts.append(
                PostPlan(
                    f"{campaign_id}-p{number + 1:03d}-{index + 1}",
                    inf,
                    inf.platform,
                    format_,
                    published,
                    max(int(fee), 80) * 100,
                    reach,
                    offset,
                )
            )
    posts.sort(key=lambda post: post.published_us)
    return posts


def _targets(objective: str, posts: list[PostPlan], click_factor: float,
             rng: random.Random) -> dict[str, float]:
    spend = sum(post.cost_minor for post in posts)
    reach = sum(post.reach for post in posts) * 0.85
    impressions = reach * 1.65
    engagements = sum(p.influencer.followers * p.influencer.engagement_rate for p in posts)
    clicks = sum(
        p.reach * _CLICK_RATE.get(p.format, _CLICK_RATE_DEFAULT) * click_factor for p in posts
    )
    orders = clicks * (1 - 0.08) * _CONVERSION_RATE * 1.8
    revenue = orders * 4500
    ambition = rng.uniform(0.95, 1.2)
    if objective == "awareness":
        return {
            "reach": float(round(reach * ambition, -2)),
            "impressions": float(round(impressions * ambition, -2)),
            "cpm_minor": float(round(spend * 1000 / impressions * 1.1)),
        }
    if objective == "engagement":
        return {
            "engagements": float(round(engagements * ambition, -1)),
            # Engagements arrive from a post's whole audience, reach only from who saw it
            # in the feed: briefs set the rate at about half the naive ratio.
            "engagement_rate_by_reach": round(engagements / reach * 0.5, 4),
            "cpe_minor": float(round(spend / engagements * 1.1)),
        }
    return {
        "clicks_valid": float(round(clicks * 0.92 * ambition)),
        "orders": float(max(round(orders * ambition), 1)),
        "revenue_minor": float(round(revenue * ambition, -2)),
        "roas": round(revenue / spend, 2) if spend else 1.0,
        "cpa_minor": float(round(spend / max(orders, 1) * 1.1)),
    }


def plan(config: SimConfig) -> list[CampaignPlan]:
    """The campaigns of a run (the same for the same seed, start and sizes)."""
    rng = random.Random(f"plan-{config.seed}")
    start = config.start_us if config.start_us is not None else default_start_us(config, None)
    ends = start + int(config.days * _DAY_US)
    campaigns: list[CampaignPlan] = []
    brands = rng.sample(_BRANDS, k=len(_BRANDS))
    for index in range(config.campaigns):
        objective = config.objectives[index % len(config.objectives)]
        campaign_id = f"{config.id_prefix}{index + 1:02d}-{objective}"
        brand = brands[index % len(brands)]
        influencers = _influencers(rng, campaign_id, config.influencers, config.max_tier)
        posts = _posts(rng, campaign_id, influencers, start, ends)
        click_factor = 1.0 if objective == "conversion" else 0.3
        spend = sum(post.cost_minor for post in posts)
        budget = int(spend * rng.uniform(1.05, 1.25)) // 10_000 * 10_000 + 10_000
        campaigns.append(
            CampaignPlan(
                campaign_id=campaign_id,
                name=f"{brand} - {('launch', 'summer drop', 'new range')[index % 3]}",
                brand=brand,
                objective=objective,
                starts_us=start,
                ends_us=ends,
                currency=config.currency,
                budget_minor=budget,
                targets=_targets(objective, posts, click_factor, rng),
                influencers=tuple(influencers),
                posts=tuple(posts),
                click_factor=click_factor,
            )
        )
    return campaigns


# --------------------------------------------------------------------------------------------
# Generation


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def _weibull_cdf(age_us: int) -> float:
    if age_us <= 0:
        return 0.0
    return 1.0 - math.exp(-((age_us / _WEIBULL_SCALE_US) ** _WEIBULL_K))


@dataclass(slots=True)
class _PostState:
    plan: PostPlan
    campaign: CampaignPlan
    totals: dict[str, float]  # expected totals over the post's life, by action / "click"
    life_us: int
    pool: int  # distinct people its impressions are drawn from
    recent_visitors: list[tuple[str, str]] = field(default_factory=list)  # (visitor, channel)


def _post_totals(post: PostPlan, click_factor: float) -> tuple[dict[str, float], int]:
    inf = post.influencer
    # Impressions drawn uniformly from a pool of 1.5 x reach people reach ~reach of them
    # with -1.5 ln(1/3) ≈ 1.65 impressions per reached person.
    pool = max(int(post.reach * 1.5), 1)
    impressions = pool * math.log(3)
    engagements = inf.followers * inf.engagement_rate * (0.6 if post.format == "story" else 1.0)
    if post.format == "story":
        split = {"like": 0.5, "reply": 0.4, "share": 0.1}
    elif post.platform == "tiktok":
        split = {"like": 0.78, "comment": 0.05, "share": 0.1, "save": 0.07}
    else:
        split = {"like": 0.82, "comment": 0.06, "share": 0.05, "save": 0.07}
    totals = {"impression": impressions}  # video formats: 70 % of impressions also a view
    for action, share in split.items():
        totals[action] = engagements * share
    totals["click"] = post.reach * _CLICK_RATE.get(post.format, _CLICK_RATE_DEFAULT) * click_factor
    return totals, pool


class _Generator:
    """The event stream of one config; events go through a heap ordered by emission time."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(f"events-{config.seed}")
        self.plans = plan(config)
        self.heap: list[tuple[int, int, SimRecord]] = []
        self.seq = 0
        self.ids: dict[str, int] = {}
        dup = config.duplicate_share
        self.resend_p = dup
        self.late_p = config.late_share
        self.invalid_p = config.invalid_share

    # -- event construction

    def _next_id(self, campaign_id: str, kind: str) -> str:
        key = f"{campaign_id}-{kind}"
        number = self.ids.get(key, 0) + 1
        self.ids[key] = number
        return f"{key}-{number}"

    def _push(self, emit_us: int, record: SimRecord) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (emit_us, self.seq, record))

    def _emit(self, topic: str, event: dict[str, Any], occurred_us: int, kind: str = VALID,
              latable: bool = True) -> None:
        """Queue a base event, with its late, duplicate and broken variants."""
        rng = self.rng
        key = event["campaign_id"].encode()
        emit_us = occurred_us
        if latable and rng.random() < self.late_p:
            emit_us = occurred_us + int(rng.uniform(6.5, 48) * _HOUR_US)
            kind = LATE
        value = codec.dumps(event)
        self._push(emit_us, SimRecord(topic, key, value, emit_us // 1000, kind))
        if rng.random() < self.resend_p:
            again = emit_us + int(rng.uniform(1, 120) * _US)
            self._push(again, SimRecord(topic, key, value, again // 1000, DUPLICATE))
        if latable and rng.random() < self.invalid_p:
            broken = self._broken(topic, event, emit_us)
            self._push(emit_us + 1, broken)

    def _broken(self, topic: str, event: dict[str, Any], emit_us: int) -> SimRecord:
        rng = self.rng
        bad = dict(event)
        bad["event_id"] = self._next_id(event["campaign_id"], "bad")
        key = event["campaign_id"].encode()
        timestamp_ms = emit_us // 1000
        variant = rng.randrange(6)
        if variant == 0:  # malformed_json: cut short
            text = codec.dumps(bad)
            return SimRecord(topic, key, text[: len(text) // 2], timestamp_ms, INVALID)
        if variant == 1:  # schema_violation: a required field missing
            del bad["occurred_at"]
        elif variant == 2:  # type_mismatch
            bad["type"] = "post_published" if topic != Topic.POSTS else "click"
        elif variant == 3:  # schema_violation: not a time
            bad["occurred_at"] = "yesterday evening"
        elif variant == 4:  # key_mismatch
            key = b"not-" + key
        else:  # future_timestamp: occurred 2 h after the record's timestamp
            bad["occurred_at"] = iso(emit_us + 2 * _HOUR_US)
        return SimRecord(topic, key, codec.dumps(bad), timestamp_ms, INVALID)

    # -- the stream

    def run(self) -> Iterator[SimRecord]:
        config = self.config
        if not self.plans:
            return
        start = self.plans[0].starts_us
        end = start + config.sim_duration_us
        for campaign in self.plans:
            defined = start - _HOUR_US
            yield SimRecord(
                Topic.CAMPAIGNS,
                campaign.campaign_id.encode(),
                codec.dumps(campaign.definition(defined)),
                defined // 1000,
            )
        pending = sorted(
            ((post.published_us, post, campaign) for campaign in self.plans
             for post in campaign.posts),
            key=lambda item: item[0],
        )
        active: list[_PostState] = []
        tick = max(int(config.tick_s * _US), 1000)
        now = start
        while now < end:
            step_end = min(now + tick, end)
            while pending and pending[0][0] < step_end:
                published, post, campaign = pending.pop(0)
                self._publish(post, campaign, published)
                totals, pool = _post_totals(post, campaign.click_factor)
                life = _STORY_LIFE_US if post.format == "story" else _POST_LIFE_US
                active.append(_PostState(post, campaign, totals, life, pool))
            for state in active:
                self._interact(state, now, step_end)
            active = [
                s for s in active if step_end - s.plan.published_us < s.life_us
            ]
            while self.heap and self.heap[0][0] < step_end:
                yield heapq.heappop(self.heap)[2]
            now = step_end
        # Events still queued (some late ones) would be sent after the run: not sent.

    def _publish(self, post: PostPlan, campaign: CampaignPlan, published_us: int) -> None:
        event = {
            "event_id": self._next_id(campaign.campaign_id, "post"),
            "type": "post_published",
            "occurred_at": iso(published_us),
            "campaign_id": campaign.campaign_id,
            "post_id": post.post_id,
            "influencer_id": post.influencer.influencer_id,
            "platform": post.platform,
            "format": post.format,
            "followers": post.influencer.followers,
            "cost_minor": post.cost_minor,
        }
        self._emit(Topic.POSTS, event, published_us, latable=False)
        for reviewer in _REVIEWERS:
            when = published_us + int(self.rng.uniform(1, 12) * _HOUR_US)
            self._schedule_review(post, campaign, reviewer, when)

    def _schedule_review(self, post: PostPlan, campaign: CampaignPlan, reviewer: str,
                         when_us: int) -> None:
        rng = self.rng
        mean = post.influencer.quality
        scores = {c: min(5, max(1, round(rng.gauss(mean, 0.7)))) for c in _CRITERIA}
        event = {
            "event_id": self._next_id(campaign.campaign_id, "review"),
            "type": "content_review",
            "occurred_at": iso(when_us),
            "campaign_id": campaign.campaign_id,
            "post_id": post.post_id,
            "influencer_id": post.influencer.influencer_id,
            "reviewer_id": reviewer,
            "scores": scores,
        }
        if rng.random() < 0.3:
            event["comment"] = "On brief; the product shows in the first seconds."
        # Reviews are queued for their time (they come hours after the post).
        self._emit(Topic.CONTENT_REVIEWS, event, when_us)

    def _interact(self, state: _PostState, step_start: int, step_end: int) -> None:
        post = state.plan
        age0 = step_start - post.published_us
        age1 = min(step_end - post.published_us, state.life_us)
        if age1 <= 0 or age1 <= age0:
            return
        share = _weibull_cdf(age1) - _weibull_cdf(max(age0, 0))
        if share <= 0:
            return
        rng = self.rng
        campaign_id = state.campaign.campaign_id
        first = max(step_start, post.published_us)
        span = step_end - first
        inf = post.influencer
        video = post.format in _VIDEO_FORMATS
        for action, total in state.totals.items():
            count = _poisson(rng, total * share)
            for _ in range(count):
                occurred = first + int(rng.random() * span)
                if action == "click":
                    self._click(state, occurred)
                    continue
                viewer = f"v-{inf.influencer_id}-{post.audience_offset + rng.randrange(state.pool)}"
                self._interaction(campaign_id, post, action, viewer, occurred)
                if action == "impression" and video and rng.random() < 0.7:
                    self._interaction(campaign_id, post, "view", viewer, occurred)

    def _interaction(
        self, campaign_id: str, post: PostPlan, action: str, viewer: str, occurred: int
    ) -> None:
        self._emit(
            Topic.INTERACTIONS,
            {
                "event_id": self._next_id(campaign_id, "ix"),
                "type": "interaction",
                "occurred_at": iso(occurred),
                "campaign_id": campaign_id,
                "post_id": post.post_id,
                "influencer_id": post.influencer.influencer_id,
                "action": action,
                "viewer_id": viewer,
            },
            occurred,
        )

    def _click(self, state: _PostState, occurred: int) -> None:
        rng = self.rng
        post, campaign = state.plan, state.campaign
        inf = post.influencer
        channel = _CHANNEL.get(post.format, "bio_link")
        if rng.random() < 0.08:
            channel = "qr"  # packaging and event flyers
        event: dict[str, Any] = {
            "event_id": self._next_id(campaign.campaign_id, "click"),
            "type": "click",
            "occurred_at": iso(occurred),
            "campaign_id": campaign.campaign_id,
            "link_id": inf.link_ids[channel],
            "influencer_id": inf.influencer_id,
            "post_id": post.post_id,
            "channel": channel,
        }
        if rng.random() < self.config.bot_share:
            event["user_agent"] = rng.choice(BOT_USER_AGENTS)
            event["visitor_id"] = f"bot-{rng.randrange(1_000_000)}"
            self._emit(Topic.CLICKS, event, occurred, kind=BOT)
            return
        event["user_agent"] = rng.choice(_HUMAN_USER_AGENTS)
        recent = state.recent_visitors
        if recent and rng.random() < 0.07:  # the same person clicks again soon after
            visitor, channel = rng.choice(recent)
            event["visitor_id"], event["channel"] = visitor, channel
            event["link_id"] = inf.link_ids[channel]
            self._emit(Topic.CLICKS, event, occurred)
            return
        visitor = f"vis-{inf.influencer_id}-{post.audience_offset + rng.randrange(state.pool)}"
        event["visitor_id"] = visitor
        recent.append((visitor, channel))
        del recent[:-50]
        self._emit(Topic.CLICKS, event, occurred)
        if rng.random() < _CONVERSION_RATE:
            self._order(campaign, inf, occurred, link_id=event["link_id"], customer=visitor)
        # Promo codes travel without a click trail (and leak to coupon sites).
        if rng.random() < _CONVERSION_RATE * 0.8:
            self._order(campaign, inf, occurred + int(rng.uniform(0, 6) * _HOUR_US))
        if rng.random() < _CONVERSION_RATE * 0.1:
            self._order(campaign, None, occurred + int(rng.uniform(0, 12) * _HOUR_US))

    def _order(self, campaign: CampaignPlan, inf: Influencer | None, clicked_us: int,
               link_id: str | None = None, customer: str | None = None) -> None:
        rng = self.rng
        occurred = clicked_us + int(rng.expovariate(1 / 1200) * _US)
        amount = int(math.exp(rng.gauss(math.log(40), 0.45)) * 100)
        order_id = self._next_id(campaign.campaign_id, "order")
        event: dict[str, Any] = {
            "event_id": f"evt-{order_id}",
            "type": "order",
            "occurred_at": iso(occurred),
            "campaign_id": campaign.campaign_id,
            "order_id": order_id,
            "amount_minor": amount,
            "currency": campaign.currency,
            "customer_id": customer or f"cust-{rng.randrange(10_000_000)}",
        }
        if link_id is not None:
            event["link_id"] = link_id
        elif inf is not None:
            code = inf.promo_code
            event["promo_code"] = code.lower() if rng.random() < 0.3 else code
        self._emit(Topic.ORDERS, event, occurred)


def records(config: SimConfig) -> Iterator[SimRecord]:
    """The records of a run in emission order: definitions first, then by emission time.

    At most ``config.events`` records. Events that would be sent after the simulated
    duration (some late ones) are not sent.
    """
    stream = _Generator(config).run()
    if config.events is None:
        yield from stream
        return
    for number, record in enumerate(stream):
        if number >= config.events:
            return
        yield record


# --------------------------------------------------------------------------------------------
# Output


@dataclass(slots=True)
class _Progress:
    out: IO[str] | None
    started: float = field(default_factory=time.monotonic)
    last: float = 0.0
    sent: int = 0

    def tick(self, sim_us: int, force: bool = False) -> None:
        if self.out is None:
            return
        now = time.monotonic()
        if not force and now - self.last < 1.0:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        end = "\r" if self.out.isatty() and not force else "\n"
        print(
            f"simulate: {self.sent:,} events sent, {self.sent / elapsed:,.0f} events/s, "
            f"simulated time {iso(sim_us)[:19]}Z",
            end=end,
            file=self.out,
            flush=True,
        )


def write_file(config: SimConfig, out: IO[bytes], progress: IO[str] | None = None) -> int:
    """Write the records in the replay's JSON Lines format; returns how many."""
    meter = _Progress(progress)
    last_ms = 0
    for record in records(config):
        line = {
            "topic": record.topic,
            "key": record.key.decode(),
            "value": record.value.decode(),
            "timestamp": record.timestamp_ms,
        }
        out.write(codec.dumps(line))
        out.write(b"\n")
        meter.sent += 1
        last_ms = record.timestamp_ms
        if meter.sent % 2048 == 0:
            meter.tick(last_ms * 1000)
    meter.tick(last_ms * 1000, force=True)
    return meter.sent


async def send_to_kafka(
    config: SimConfig,
    settings: Settings,
    *,
    speed: float = 1.0,
    rate: float | None = None,
    progress: IO[str] | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Produce the records to the settings' topics, paced; returns how many were sent.

    A record goes out when the simulated clock — launch time plus wall time elapsed x speed —
    reaches its timestamp, and never faster than ``rate`` records per second. Definitions go
    first and are acknowledged before anything else is sent.
    """
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 (only the Kafka output needs it)

    from streams.connections import kafka_options  # noqa: PLC0415
    from streams.topics import ensure_topics  # noqa: PLC0415

    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        **kafka_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=2 << 20,
    )
    await producer.start()
    meter = _Progress(progress)
    topics: dict[str, str] = {logical: settings.topic(logical) for logical in Topic}
    sim_start_ms: int | None = None
    wall_start = time.monotonic()
    definitions_done = False
    last_ms = 0
    in_flight: list[asyncio.Future[Any]] = []
    try:
        for record in records(config):
            if stop is not None and stop.is_set():
                break
            if record.topic != Topic.CAMPAIGNS and not definitions_done:
                await producer.flush()
                definitions_done = True
                wall_start = time.monotonic()
            if sim_start_ms is None and record.topic != Topic.CAMPAIGNS:
                sim_start_ms = record.timestamp_ms
            if sim_start_ms is not None:
                due = wall_start + (record.timestamp_ms - sim_start_ms) / 1000 / speed
                if rate:
                    due = max(due, wall_start + meter.sent / rate)
                wait = due - time.monotonic()
                if wait > 0.002:
                    await asyncio.sleep(wait)
            in_flight.append(
                await producer.send(
                    topics[record.topic], record.value, key=record.key,
                    timestamp_ms=record.timestamp_ms,
                )
            )
            if len(in_flight) >= 2000:  # surface delivery errors as they happen
                await asyncio.gather(*in_flight)
                in_flight.clear()
            meter.sent += 1
            last_ms = record.timestamp_ms
            if meter.sent % 256 == 0:
                meter.tick(last_ms * 1000)
                await asyncio.sleep(0)
        await asyncio.gather(*in_flight)
    finally:
        await producer.stop()
    meter.tick(last_ms * 1000, force=True)
    return meter.sent


def main(
    config: SimConfig,
    to: str,
    settings: Settings,
    *,
    speed: float = 1.0,
    rate: float | None = None,
) -> int:
    """``campaign-kpi simulate``: the exit status."""
    if to == "kafka":
        if config.start_us is None:
            config = replace(config, start_us=default_start_us(config, speed))
        print(
            f"simulate: {config.campaigns} campaigns to Kafka {settings.kafka_bootstrap} "
            f"(topics {settings.topic(Topic.CAMPAIGNS)}, ...), speed x{speed:g}"
            + (f", at most {rate:g} events/s" if rate else ""),
            file=sys.stderr,
        )
        try:
            asyncio.run(send_to_kafka(config, settings, speed=speed, rate=rate,
                                      progress=sys.stderr))
        except KeyboardInterrupt:
            return 130
        except Exception as error:  # aiokafka's connection errors are not OSError
            print(
                f"campaign-kpi simulate: cannot send to Kafka at {settings.kafka_bootstrap}: "
                f"{type(error).__name__}: {error} — is Kafka running? (`make services`)",
                file=sys.stderr,
            )
            return 2
        return 0
    if config.start_us is None:
        config = replace(config, start_us=default_start_us(config, None))
    if to == "-":
        write_file(config, sys.stdout.buffer, sys.stderr)
        return 0
    with open(to, "wb") as out:
        write_file(config, out, sys.stderr)
    return 0


def main_from_args(args: Any, settings: Settings) -> int:
    """``campaign-kpi simulate`` from its parsed command line (see :mod:`streams.cli`)."""
    start_us: int | None = None
    if args.start is not None:
        start_us = codec.parse_time(args.start)
        if start_us is None:
            print(f"campaign-kpi simulate: --start {args.start!r} is not a time "
                  "(e.g. 2025-03-01T09:00:00Z)", file=sys.stderr)
            return 2
    shares = (args.duplicates, args.late, args.bots, args.invalid)
    if any(not 0 <= share <= 1 for share in shares) or args.speed <= 0:
        print("campaign-kpi simulate: shares must be within 0..1 and --speed positive",
              file=sys.stderr)
        return 2
    config = SimConfig(
        seed=args.seed,
        campaigns=args.campaigns,
        influencers=args.influencers,
        max_tier=args.max_tier,
        days=args.days,
        duration_s=args.duration_s,
        events=args.events,
        start_us=start_us,
        id_prefix=args.id_prefix,
        duplicate_share=args.duplicates,
        late_share=args.late,
        bot_share=args.bots,
        invalid_share=args.invalid,
    )
    try:
        return main(config, args.to, settings, speed=args.speed, rate=args.rate)
    except OSError as error:
        print(f"campaign-kpi simulate: {error}", file=sys.stderr)
        return 2
