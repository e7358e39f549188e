"""``campaign-kpi simulate``: realistic influencer campaigns as contract-v2 input records.

The figures follow the project's domain notes: influencer tiers and their follower counts,
reach as a share of followers by platform and format, engagement rates by tier and platform,
a Weibull decay of interactions after each post, link clicks (2-5 % of story viewers, 1-3 %
from reels), 1-3 % conversion at a few tens of euros, bot clicks and preview fetchers, late
platform data, duplicates from retrying producers and broken records. Contract v2 adds:

* posts tracked only by platform snapshots (``post_metrics``) polled on the insights tools'
  decaying schedule — every 15 minutes on launch day, hourly to day 7, every 6 hours to day
  30, daily after; stories report for 24 hours only — with lifetime counters that can go
  down (unlikes, purged bot likes, platform corrections), re-polls and polls delivered after
  a newer one (stale);
* refunds of a few percent of orders, days to weeks after them, some partial;
* lead generation: sign-ups and app installs by tracked link and by referral code;
* a brand-lift survey of exposed and control respondents whose sizes make the strong lifts
  significant and the small ones not;
* on request (``--problem``), the situations that should fire each campaign alert.

With the defaults, awareness campaigns are platform-tracked and run a brand-lift survey,
conversion campaigns sell (with refunds) and collect sign-ups and installs, and engagement
campaigns are tracked by interaction events, as in version 1.

The generator is pure Python and deterministic for a given :class:`SimConfig` (the seed and
the start time included): :func:`plan` gives the campaigns, :func:`records` the records in
emission order, each with the Kafka timestamp it is sent with (the simulated emission time,
never earlier than its ``occurred_at`` unless the record is deliberately invalid). Events are
built by :mod:`streams.records`, the builders the benchmark workload shares. Benchmarks and
the demo use this module directly; :func:`main` sends to Kafka (paced) or writes the replay's
JSON Lines format.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import random
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any, Final

from streams import codec
from streams import records as build
from streams.config import Settings
from streams.domain.vocabulary import BOUNDED_DEDUP_TOPICS, TIERS, Source, Topic
from streams.records import BOT, DUPLICATE, INVALID, LATE, STALE, VALID, iso

__all__ = [
    "BOT",
    "BOT_USER_AGENTS",
    "DUPLICATE",
    "INVALID",
    "LATE",
    "PROBLEMS",
    "STALE",
    "VALID",
    "CampaignPlan",
    "Influencer",
    "Planted",
    "PostPlan",
    "Problem",
    "SimConfig",
    "SimRecord",
    "SurveyPlan",
    "add_arguments",
    "default_start_us",
    "iso",
    "main",
    "plan",
    "poll_ages",
    "records",
    "write_file",
]

SimRecord = build.Record  # the simulator's records are the shared record type

_US: Final = 1_000_000
_MIN_US: Final = 60 * _US
_HOUR_US: Final = 60 * _MIN_US
_DAY_US: Final = 24 * _HOUR_US

OBJECTIVE_CYCLE: Final = ("awareness", "engagement", "conversion")
# Who gets a v2 feature: its objective's campaigns (auto), every campaign, or none.
CHOICES: Final = ("auto", "all", "none")

_TIER_FOLLOWERS: Final[dict[str, tuple[int, int]]] = {
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

# -- v2 figures (domain notes, "Figures for the v2 inputs")
# Insights polling: (up to this post age, poll every). Tools stop at 30-60 days.
_POLL_STEPS: Final = (
    (_DAY_US, 15 * _MIN_US),
    (7 * _DAY_US, _HOUR_US),
    (30 * _DAY_US, 6 * _HOUR_US),
    (60 * _DAY_US, _DAY_US),
)
# What each platform's insights API reports for a format (lifetime values). TikTok reports
# no impressions, YouTube its thumbnail impressions and unique viewers (reach).
_SNAPSHOT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "instagram": ("impressions", "reach", "likes", "comments", "shares", "saves"),
    "instagram/reel": ("impressions", "reach", "views", "likes", "comments", "shares", "saves"),
    "instagram/story": ("impressions", "reach", "replies", "shares"),
    "tiktok": ("reach", "views", "likes", "comments", "shares", "saves"),
    "youtube": ("impressions", "reach", "views", "likes", "comments", "shares"),
}
_UNLIKE_P: Final = 0.03  # per poll after the first hours: likes removed (unlikes, bot purges)
_CORRECTION_P: Final = 0.006  # per poll: the platform filters invalid impressions after all
_REPOLL_P: Final = 0.03  # the tool polls the post again minutes later (a retry, a refresh)
_DELAYED_P: Final = 0.02  # a poll's record delivered after the next poll: stale
# Refunds: a few percent for beauty and food, 20-30 % for fashion. Some are cancellations
# before shipping (hours after the order, in full), most are returns days to weeks later.
_REFUND_SHARE: Final = 0.06
_CANCELLATION_P: Final = 0.3  # of refunds
_RETURN_MEDIAN_DAYS: Final = 5.0
_PARTIAL_RETURN_P: Final = 0.4  # one item of the basket sent back
# Lead generation: landing pages convert a few % to ~10 % of visitors, installs per click a
# few %; referral codes are entered in the app with no click trail.
_LEAD_ACTIONS: Final = (
    # (action, share of valid clicks by link, share of valid clicks by code, value in minor)
    ("signup", 0.06, 0.004, 400),
    ("app_install", 0.03, 0.012, 250),
)
# Brand lift: (question, control rate, lift in points). Awareness and recall move first;
# consideration, preference and intent seldom move detectably in a study of a few hundred
# respondents per group (300 per group detects ~8-10 points around 30 %, 1,000 ~4-5).
_LIFT_DESIGN: Final = (
    ("awareness", 0.30, 0.12),
    ("recall", 0.20, 0.08),
    ("consideration", 0.15, 0.03),
    ("preference", 0.12, 0.01),
    ("intent", 0.08, 0.02),
)
SURVEY_SIZE: Final = 600  # respondents per group

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
# What scrapes a link posted on a forum or a deal site: crawlers and preview fetchers.
_FLOOD_USER_AGENTS: Final = (
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
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
# Ways of breaking a record every topic can suffer (streams.records.broken).
_GENERIC_BREAKS: Final = (
    "malformed_json", "missing_field", "type_mismatch", "bad_time", "key_mismatch",
    "future_timestamp",
)
_BULK_TYPES: Final = frozenset({"interaction", "post_metrics"})  # most of the traffic


# --------------------------------------------------------------------------------------------
# Problems (--problem): the input that should fire each campaign alert (notes/alerts.md)


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One kind of problem the simulator can plant."""

    name: str
    alert: str  # the alert rule it is meant to fire
    objective: str  # it goes to the first campaign of this objective unless told otherwise
    at_share: float  # default start, as a share of the campaign's schedule
    length_us: int | None  # default length; None: the problem has no length
    summary: str


PROBLEMS: Final[dict[str, ProblemKind]] = {
    kind.name: kind
    for kind in (
        ProblemKind(
            "bot-flood", "bot_clicks", "conversion", 0.3, 2 * _HOUR_US,
            "the tracked link of the campaign's busiest influencer is posted on a deal forum: "
            "crawlers and preview fetchers click it (at least 150 bot clicks, half its human "
            "clicks, over LENGTH), its bot share far above 15 %",
        ),
        ProblemKind(
            "leaked-code", "leaked_code", "conversion", 0.4, _DAY_US,
            "the promo code of a roster influencer who never posts (dropped out) reaches "
            "coupon sites: 30-60 code orders over LENGTH, front-loaded, no click from them",
        ),
        ProblemKind(
            "feed-silent", "feed_silent", "engagement", 0.5, 2 * _HOUR_US,
            "the campaign's connector breaks: nothing of the campaign is sent for LENGTH of "
            "simulated time (what it would have sent is lost); to Kafka that is LENGTH/speed "
            "of wall time, the clock feed_silent reads",
        ),
        ProblemKind(
            "engagement-drop", "kpi_drop", "engagement", 0.6, 6 * _HOUR_US,
            "the platforms bury the campaign's posts: interactions, snapshot growth and clicks "
            "fall to 5 % for LENGTH (default start at least 25 h in, so that 24 h of history "
            "precede it)",
        ),
        ProblemKind(
            "pacing-behind", "pacing_behind", "awareness", 0.3, None,
            "content approval slips: no post goes live before AT (planned ones, boosts "
            "included, move to AT, staggered as planned) while the targets stay those of the "
            "original plan",
        ),
        ProblemKind(
            "budget-ahead", "budget_ahead", "conversion", 0.2, None,
            "at AT the agency books paid boosts of two influencers' posts: spend jumps past "
            "the whole budget (105 % of it) at AT",
        ),
    )
}

_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_US: Final = {"d": _DAY_US, "h": _HOUR_US, "m": _MIN_US, "s": _US}


def _parse_offset(text: str) -> tuple[int | None, float | None]:
    """``36h``, ``1d12h``, ``90m`` -> (microseconds, None); ``40%`` -> (None, 0.4)."""
    if text.endswith("%"):
        share = float(text[:-1]) / 100
        if not 0 <= share <= 10:
            raise ValueError(f"{text!r}: a share of the campaign must be 0..1000 %")
        return None, share
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 36h, 1d12h, 90m or a share like 40%")
    return int(sum(float(number) * _UNIT_US[unit] for number, unit in parts)), None


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem to plant: ``NAME[:AT][+LENGTH][@CAMPAIGN]`` on the command line.

    ``AT`` (from the campaigns' launch) and ``LENGTH`` are durations (``36h``, ``1d12h``,
    ``90m``) or shares of the campaign's schedule (``40%``); ``CAMPAIGN`` is a campaign's
    number, 1-based. Left out, each kind has its defaults (:data:`PROBLEMS`).
    """

    name: str
    at_us: int | None = None
    at_share: float | None = None
    length_us: int | None = None
    length_share: float | None = None
    campaign: int | None = None

    @classmethod
    def parse(cls, spec: str) -> Problem:
        """Read ``NAME[:AT][+LENGTH][@CAMPAIGN]``; ValueError when it is not one."""
        match = re.fullmatch(r"([a-z-]+)(?::([^+@]+))?(?:\+([^@]+))?(?:@(\d+))?", spec.strip())
        if match is None:
            raise ValueError(f"{spec!r} is not NAME[:AT][+LENGTH][@CAMPAIGN]")
        name, at, length, number = match.groups()
        kind = PROBLEMS.get(name)
        if kind is None:
            raise ValueError(f"unknown problem {name!r} (one of {', '.join(PROBLEMS)})")
        if length is not None and kind.length_us is None:
            raise ValueError(f"problem {name} takes no +LENGTH")
        at_us, at_share = _parse_offset(at) if at is not None else (None, None)
        length_us, length_share = (
            _parse_offset(length) if length is not None else (None, None)
        )
        if number is not None and int(number) < 1:
            raise ValueError(f"{spec!r}: campaigns are numbered from 1")
        return cls(name, at_us, at_share, length_us, length_share,
                   int(number) if number is not None else None)

    def window(self, starts_us: int, ends_us: int) -> tuple[int, int]:
        """When it happens for a campaign scheduled ``starts_us..ends_us``: (start, end)."""
        kind = PROBLEMS[self.name]
        length = ends_us - starts_us
        if self.at_us is not None:
            at = self.at_us
        elif self.at_share is not None:
            at = int(self.at_share * length)
        else:
            at = int(kind.at_share * length)
            if self.name == "engagement-drop":
                at = max(at, 25 * _HOUR_US)  # the drop is read against the 24 h before it
        if self.length_us is not None:
            span = self.length_us
        elif self.length_share is not None:
            span = int(self.length_share * length)
        else:
            span = kind.length_us or 0
        return starts_us + at, starts_us + at + span


@dataclass(frozen=True, slots=True)
class Planted:
    """A problem placed in one campaign: what, and when (event time, epoch microseconds)."""

    name: str
    alert: str
    starts_us: int
    ends_us: int
    target: str = ""  # the link (bot-flood) or the influencer (leaked-code) it hits
    detail: str = ""  # what it does, for people


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. Shares are of the base (valid, on-time) events.

    ``start_us`` is the campaigns' launch in event time (epoch microseconds); with None,
    :func:`default_start_us` places it so that the simulated clock never runs ahead of now.
    ``platform_tracked``, ``surveys`` and ``lead_gen`` say which campaigns get the v2
    feature: ``auto`` (awareness campaigns are tracked by platform snapshots and run a
    brand-lift survey; conversion campaigns collect sign-ups and installs), ``all`` or
    ``none``. The output is a function of the whole config: same config, same records, byte
    for byte.
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
    late_share: float = 0.01  # events (not posts) sent 6.5-48 h late
    bot_share: float = 0.08  # clicks from bots and link-preview fetchers
    invalid_share: float = 0.005  # extra broken records (dead-lettered)
    tick_s: float = 60.0  # simulated seconds per generation step
    platform_tracked: str = "auto"  # posts tracked by platform snapshots instead of events
    surveys: str = "auto"  # a brand-lift survey of exposed and control respondents
    survey_size: int = SURVEY_SIZE  # respondents per group
    lead_gen: str = "auto"  # sign-ups and app installs by link and code
    refund_share: float = _REFUND_SHARE  # orders refunded (some partly), days to weeks later
    problems: tuple[Problem, ...] = ()

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


def _chosen(choice: str, by_default: bool) -> bool:
    if choice not in CHOICES:
        raise ValueError(f"{choice!r} is not one of {CHOICES}")
    return by_default if choice == "auto" else choice == "all"


# --------------------------------------------------------------------------------------------
# Plans


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
class SurveyPlan:
    """A brand-lift study: respondents per group, and each question's planned rates.

    The answers of each group are drawn so that exactly round(n x rate) are positive: the
    lifts and their significance are the planned ones once every answer is in.
    """

    exposed: int
    control: int
    rates: tuple[tuple[str, float, float], ...]  # (question, control rate, exposed rate)
    starts_us: int  # answers arrive from here...
    ends_us: int  # ...to here

    def expected(self) -> dict[str, dict[str, float]]:
        """Per question the brand_lift entry the study is built to end with (contract 2)."""
        result: dict[str, dict[str, float]] = {}
        for question, control_rate, exposed_rate in self.rates:
            e, c = self.exposed, self.control
            ep, cp = round(e * exposed_rate), round(c * control_rate)
            entry: dict[str, float] = {"exposed": e, "exposed_positive": ep, "control": c,
                                       "control_positive": cp}
            if e and c:
                entry["lift"] = ep / e - cp / c
                pooled = (ep + cp) / (e + c)
                if 0 < pooled < 1:
                    entry["z"] = entry["lift"] / math.sqrt(pooled * (1 - pooled) * (1 / e + 1 / c))
            result[question] = entry
        return result


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """A campaign: its definition, the posts it will publish and its v2 features."""

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
    source: str = Source.EVENTS  # how its posts' metrics arrive
    survey: SurveyPlan | None = None
    lead_gen: bool = False
    refund_share: float = _REFUND_SHARE
    problems: tuple[Planted, ...] = ()

    def definition(self, occurred_us: int) -> dict[str, Any]:
        """The ``campaign`` event."""
        return build.campaign(
            f"{self.campaign_id}-def-1",
            occurred_us,
            self.campaign_id,
            name=self.name,
            brand=self.brand,
            objective=self.objective,
            starts_us=self.starts_us,
            ends_us=self.ends_us,
            currency=self.currency,
            budget_minor=self.budget_minor,
            attribution_window_days=7,
            targets=self.targets,
            influencers=[
                build.roster_entry(
                    inf.influencer_id, tier=inf.tier, promo_codes=[inf.promo_code],
                    link_ids=sorted(inf.link_ids.values()),
                )
                for inf in self.influencers
            ],
        )

    def planted(self, name: str) -> Planted | None:
        """The problem of that name planted in this campaign, if any."""
        return next((p for p in self.problems if p.name == name), None)


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


def _new_influencer(rng: random.Random, campaign_id: str, number: int, *, used: set[str],
                    allowed: dict[str, int], platform: str | None = None) -> Influencer:
    name = f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_NICHES)}"
    if name in used:
        name = f"{name}{number}"
    used.add(name)
    tier = _weighted(rng, allowed)
    low, high = _TIER_FOLLOWERS[tier]
    followers = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    platform = platform or _weighted(rng, _PLATFORM_WEIGHTS)
    rate = rng.uniform(*_ER[tier]) * _ER_PLATFORM[platform]
    code = f"{name.split('.')[0].upper()}{number}{rng.choice((10, 15, 20))}"
    links = {
        channel: f"{campaign_id}.{name}.{channel}"
        for channel in ("link", "swipe_up", "qr", "bio_link")
    }
    return Influencer(name, tier, followers, platform, rate, code, links, rng.uniform(3.0, 4.6))


def _influencers(
    rng: random.Random, campaign_id: str, count: int, max_tier: str
) -> list[Influencer]:
    tiers = list(TIERS)
    allowed = {t: w for t, w in _TIER_WEIGHTS.items() if tiers.index(t) <= tiers.index(max_tier)}
    used: set[str] = set()
    return [_new_influencer(rng, campaign_id, n + 1, used=used, allowed=allowed)
            for n in range(count)]


def _post(rng: random.Random, post_id: str, inf: Influencer, format_: str,
          published_us: int) -> PostPlan:
    fee = inf.followers * rng.uniform(0.012, 0.025) * (0.5 if format_ == "story" else 1)
    reach = max(int(inf.followers * _reach_share(inf.platform, format_, inf.followers, rng)), 20)
    offset = rng.randrange(0, max(inf.followers // 2, 1))
    return PostPlan(post_id, inf, inf.platform, format_, published_us, max(int(fee), 80) * 100,
                    reach, offset)


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
            posts.append(_post(rng, f"{campaign_id}-p{number + 1:03d}-{index + 1}", inf,
                               format_, published))
    posts.sort(key=lambda post: post.published_us)
    return posts


def _snapshot_fields(post: PostPlan) -> tuple[str, ...]:
    return _SNAPSHOT_FIELDS.get(f"{post.platform}/{post.format}",
                                _SNAPSHOT_FIELDS.get(post.platform, _SNAPSHOT_FIELDS["youtube"]))


def _targets(
    objective: str, posts: list[PostPlan], click_factor: float, rng: random.Random, *,
    source: str, lead_gen: bool, ends_us: int, bot_share: float,
) -> dict[str, float]:
    """Targets a brief could set: what the plan should deliver by the end, give or take 10 %.

    Each post counts for the part of its life the campaign covers (the Weibull share), so a
    campaign without problems ends near its targets and paces ahead of them early on.
    """
    spend = sum(post.cost_minor for post in posts)
    reach_sum = impressions = reported = engagements = clicks = 0.0
    for post in posts:
        life = _STORY_LIFE_US if post.format == "story" else _POST_LIFE_US
        share = _weibull_cdf(min(ends_us - post.published_us, life))
        totals, pool = _post_totals(post, click_factor)
        # Impressions drawn from a pool reach pool x (1 - e^-(impressions/pool)) people.
        reach_sum += pool * (1 - math.exp(-totals["impression"] * share / pool))
        impressions += totals["impression"] * share
        if "impressions" in _snapshot_fields(post):
            reported += totals["impression"] * share
        engagements += share * sum(v for k, v in totals.items()
                                   if k not in ("impression", "click"))
        clicks += totals["click"] * share
    platform = source == Source.PLATFORM
    # An influencer's posts share part of their audience: distinct reach is less than the sum.
    reach = reach_sum if platform else reach_sum * 0.8
    if platform:
        impressions = reported  # TikTok reports none
    # Orders and conversions come from human clicks that are not repeats (7 %).
    human = clicks * (1 - bot_share) * 0.93
    orders = human * _CONVERSION_RATE * 1.9  # by link, by code (0.8), unattributed (0.1)
    revenue = orders * 4424  # the mean of the order amounts' log-normal (median 40.00)
    ambition = rng.uniform(0.9, 1.1)
    if objective == "awareness":
        return {
            "reach_sum" if platform else "reach": float(round(reach * ambition, -2)),
            "impressions": float(round(impressions * ambition, -2)),
            "cpm_minor": float(round(spend * 1000 / max(impressions, 1) * 1.1)),
        }
    if objective == "engagement":
        rate_name = "engagement_rate_by_reach_sum" if platform else "engagement_rate_by_reach"
        return {
            "engagements": float(round(engagements * ambition, -1)),
            rate_name: round(engagements / max(reach, 1), 4),
            "cpe_minor": float(round(spend / max(engagements, 1) * 1.1)),
        }
    targets = {
        "clicks_valid": float(round(clicks * (1 - bot_share) * 0.93 * ambition)),
        "orders": float(max(round(orders * ambition), 1)),
        "revenue_minor": float(round(revenue * ambition, -2)),
        "roas": round(revenue / spend, 2) if spend else 1.0,
        "cpa_minor": float(round(spend / max(orders, 1) * 1.1)),
    }
    if lead_gen:
        leads = human * sum(link + code for _, link, code, _ in _LEAD_ACTIONS)
        targets["conversions"] = float(max(round(leads * ambition), 1))
        targets["cost_per_conversion_minor"] = float(round(spend / max(leads, 1) * 1.1))
    return targets


def _survey(rng: random.Random, size: int, starts_us: int, ends_us: int) -> SurveyPlan:
    rates = []
    for question, control, lift in _LIFT_DESIGN:
        # A few points either way by seed, not more: the significance pattern holds.
        base = control + rng.uniform(-0.02, 0.02)
        rates.append((question, round(base, 3), round(base + lift, 3)))
    # Exposed people are asked after they saw content, the control panel alongside: from a
    # few hours into the campaign to its end.
    return SurveyPlan(size, size, tuple(rates), starts_us + 4 * _HOUR_US, ends_us - 10 * _MIN_US)


def _problem_campaigns(config: SimConfig, objectives: list[str]) -> dict[int, list[Problem]]:
    placed: dict[int, list[Problem]] = {}
    for problem in config.problems:
        if problem.campaign is not None:
            index = problem.campaign - 1
            if index >= len(objectives):
                raise ValueError(f"problem {problem.name}: there is no campaign "
                                 f"{problem.campaign} (only {len(objectives)})")
        else:
            wanted = PROBLEMS[problem.name].objective
            index = objectives.index(wanted) if wanted in objectives else 0
        placed.setdefault(index, []).append(problem)
    return placed


def money(minor: int) -> str:
    """Minor units as a plain amount: 1,234.56."""
    return f"{minor / 100:,.2f}"


def _busiest_link(posts: list[PostPlan]) -> str:
    """The main link of the influencer with the most expected clicks (the one scraped)."""
    clicks: dict[str, float] = {}
    links: dict[str, str] = {}
    for post in posts:
        inf = post.influencer
        clicks[inf.influencer_id] = clicks.get(inf.influencer_id, 0.0) + post.reach * (
            _CLICK_RATE.get(post.format, _CLICK_RATE_DEFAULT))
        links.setdefault(inf.influencer_id, inf.link_ids[_CHANNEL.get(post.format, "bio_link")])
    return links[max(clicks, key=lambda name: clicks[name])] if clicks else ""


def _plant(
    problems: list[Problem], campaign_id: str, *, starts_us: int, ends_us: int,
    influencers: list[Influencer], posts: list[PostPlan], budget: int, rng: random.Random,
    allowed: dict[str, int],
) -> tuple[list[Influencer], list[PostPlan], list[Planted]]:
    """Change a campaign's plan for the problems planted in it."""
    planted = []
    # A slip moves whatever was planned before it, the other problems' posts included.
    for problem in sorted(problems, key=lambda p: p.name == "pacing-behind"):
        at, until = problem.window(starts_us, ends_us)
        kind = PROBLEMS[problem.name]
        detail = target = ""
        if problem.name == "bot-flood":
            target = _busiest_link(posts)
            detail = f"bot clicks on {target}"
        elif problem.name == "pacing-behind":
            posts = sorted(
                (replace(p, published_us=at + (p.published_us - starts_us))
                 if p.published_us < at else p for p in posts),
                key=lambda p: p.published_us,
            )
            detail = f"no post before {iso(at)[:16]}Z"
        elif problem.name == "budget-ahead":
            spent = sum(p.cost_minor for p in posts if p.published_us < at)
            extra = max(int(budget * 1.05) - spent, 10_000)
            boosted = sorted(influencers, key=lambda inf: -inf.followers)[:2]
            for number, inf in enumerate(boosted):
                boost = _post(rng, f"{campaign_id}-boost-{number + 1}", inf,
                              _FORMATS[inf.platform][0], at + number * 30 * _MIN_US)
                cost = extra // len(boosted) + (extra % len(boosted) if number == 0 else 0)
                posts.append(replace(boost, cost_minor=cost))
            posts.sort(key=lambda p: p.published_us)
            detail = (f"{money(extra)} of paid boosts of "
                      f"{' and '.join(inf.influencer_id for inf in boosted)}")
        elif problem.name == "leaked-code":
            used = {inf.influencer_id for inf in influencers}
            dropped = _new_influencer(rng, campaign_id, len(influencers) + 1, used=used,
                                      allowed=allowed, platform="instagram")
            dropped = replace(dropped, influencer_id=f"{dropped.influencer_id}.dropped",
                              link_ids={c: f"{campaign_id}.{dropped.influencer_id}.dropped.{c}"
                                        for c in dropped.link_ids})
            influencers = [*influencers, dropped]
            target = dropped.influencer_id
            detail = f"code {dropped.promo_code} of {target}, who never posts"
        elif problem.name == "feed-silent":
            detail = f"nothing sent until {iso(until)[:16]}Z"
        elif problem.name == "engagement-drop":
            detail = f"audience at 5 % until {iso(until)[:16]}Z"
        planted.append(Planted(problem.name, kind.alert, at, until, target, detail))
    return influencers, posts, planted


def plan(config: SimConfig) -> list[CampaignPlan]:
    """The campaigns of a run (the same for the same seed, start, sizes and options)."""
    rng = random.Random(f"plan-{config.seed}")
    start = config.start_us if config.start_us is not None else default_start_us(config, None)
    ends = start + int(config.days * _DAY_US)
    objectives = [config.objectives[i % len(config.objectives)] for i in range(config.campaigns)]
    problems = _problem_campaigns(config, objectives)
    tiers = list(TIERS)
    allowed = {t: w for t, w in _TIER_WEIGHTS.items()
               if tiers.index(t) <= tiers.index(config.max_tier)}
    campaigns: list[CampaignPlan] = []
    brands = rng.sample(_BRANDS, k=len(_BRANDS))
    for index, objective in enumerate(objectives):
        campaign_id = f"{config.id_prefix}{index + 1:02d}-{objective}"
        brand = brands[index % len(brands)]
        influencers = _influencers(rng, campaign_id, config.influencers, config.max_tier)
        posts = _posts(rng, campaign_id, influencers, start, ends)
        click_factor = 1.0 if objective == "conversion" else 0.3
        source = (Source.PLATFORM if _chosen(config.platform_tracked, objective == "awareness")
                  else Source.EVENTS)
        lead_gen = _chosen(config.lead_gen, objective == "conversion")
        spend = sum(post.cost_minor for post in posts)
        budget = int(spend * rng.uniform(1.05, 1.25)) // 10_000 * 10_000 + 10_000
        targets = _targets(objective, posts, click_factor, rng, source=source,
                           lead_gen=lead_gen, ends_us=ends, bot_share=config.bot_share)
        survey = None
        if _chosen(config.surveys, objective == "awareness") and config.survey_size > 0:
            survey = _survey(rng, config.survey_size, start, ends)
        planted: list[Planted] = []
        if index in problems:
            # Their own generator: planting a problem leaves the other campaigns' plans as
            # they were.
            problem_rng = random.Random(f"problems-{config.seed}-{index}")
            influencers, posts, planted = _plant(
                problems[index], campaign_id, starts_us=start, ends_us=ends,
                influencers=influencers, posts=posts, budget=budget, rng=problem_rng,
                allowed=allowed,
            )
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
                targets=targets,
                influencers=tuple(influencers),
                posts=tuple(posts),
                click_factor=click_factor,
                source=source,
                survey=survey,
                lead_gen=lead_gen,
                refund_share=config.refund_share,
                problems=tuple(planted),
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


def poll_ages(life_us: int, first_us: int = 10 * _MIN_US) -> list[int]:
    """The post ages at which an insights tool polls a post: its adaptive schedule.

    Every 15 minutes in the first 24 hours, hourly to day 7, every 6 hours to day 30, daily
    to day 60 (tools stop then), and never past ``life_us`` (a story's metrics exist for
    24 hours only).
    """
    ages = []
    age = first_us
    limit = min(life_us, _POLL_STEPS[-1][0])
    while age < limit:
        ages.append(age)
        age += next(step for until, step in _POLL_STEPS if age < until)
    return ages


@dataclass(slots=True)
class _PostState:
    plan: PostPlan
    campaign: CampaignPlan
    totals: dict[str, float]  # expected totals over the post's life, by action / "click"
    life_us: int
    pool: int  # distinct people its impressions are drawn from
    recent_visitors: list[tuple[str, str]] = field(default_factory=list)  # (visitor, channel)
    # Platform posts: the insights tool's polls, and the post's lifetime counters.
    polls: list[int] = field(default_factory=list)  # event times, ascending
    polled: int = 0  # how many polls are done
    last_age_us: int = 0
    true: dict[str, float] = field(default_factory=dict)  # by action
    removed: dict[str, int] = field(default_factory=dict)  # by metric: taken back later


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
        # Per campaign: when nothing of it is sent (feed-silent), when its audience is gone
        # (engagement-drop: (start, end, factor)).
        self.silences: dict[str, list[tuple[int, int]]] = {}
        self.slumps: dict[str, list[tuple[int, int, float]]] = {}
        for campaign in self.plans:
            for problem in campaign.problems:
                if problem.name == "feed-silent":
                    self.silences.setdefault(campaign.campaign_id, []).append(
                        (problem.starts_us, problem.ends_us))
                elif problem.name == "engagement-drop":
                    self.slumps.setdefault(campaign.campaign_id, []).append(
                        (problem.starts_us, problem.ends_us, 0.05))

    # -- plumbing

    def _next_id(self, campaign_id: str, kind: str) -> str:
        key = f"{campaign_id}-{kind}"
        number = self.ids.get(key, 0) + 1
        self.ids[key] = number
        return f"{key}-{number}"

    def _push(self, campaign_id: str, emit_us: int, record: SimRecord) -> bool:
        """Queue a record for its emission time, unless its campaign's feed is silent then."""
        for start, end in self.silences.get(campaign_id, ()):
            if start <= emit_us < end:
                return False
        self.seq += 1
        heapq.heappush(self.heap, (emit_us, self.seq, record))
        return True

    def _factor(self, campaign_id: str, at_us: int) -> float:
        for start, end, factor in self.slumps.get(campaign_id, ()):
            if start <= at_us < end:
                return factor
        return 1.0

    def _emit(self, event: dict[str, Any], occurred_us: int, *, kind: str = VALID,
              latable: bool = True, breakable: bool = True,
              emit_us: int | None = None) -> int | None:
        """Queue a base event, with its late, duplicate and broken variants.

        Returns when the base record is sent, or None when it is not (a silent feed).
        """
        rng = self.rng
        campaign_id = event["campaign_id"]
        emit_us = occurred_us if emit_us is None else emit_us
        if latable and rng.random() < self.config.late_share:
            emit_us = occurred_us + int(rng.uniform(6.5, 48) * _HOUR_US)
            kind = LATE
        record = build.record(event, emit_us // 1000, kind)
        if not self._push(campaign_id, emit_us, record):
            return None
        # A re-send is a duplicate only while the copy before it is within the dedup horizon
        # (10 minutes) of the topic's newest event time: on interactions and clicks only
        # records sent on time are re-sent, so that every DUPLICATE is one for the processor.
        resend = record.topic not in BOUNDED_DEDUP_TOPICS or emit_us - occurred_us < 5 * _MIN_US
        if rng.random() < self.config.duplicate_share and resend:
            again = emit_us + int(rng.uniform(1, 120) * _US)
            self._push(campaign_id, again, record._replace(timestamp_ms=again // 1000,
                                                           kind=DUPLICATE))
        if breakable and rng.random() < self.config.invalid_share:
            self._push(campaign_id, emit_us + 1, self._broken(event, emit_us))
        return emit_us

    def _broken(self, event: dict[str, Any], emit_us: int) -> SimRecord:
        """A broken record near a valid one: a generic breakage or one of its type's."""
        rng = self.rng
        campaign_id = event["campaign_id"]
        bad_id = self._next_id(campaign_id, "bad")
        timestamp_ms = emit_us // 1000
        type_ = event["type"]
        specific: tuple[str, ...] = {
            "interaction": ("source_mismatch",),
            "post_metrics": ("source_mismatch",),
            "order": ("currency_mismatch",),
            "order_refund": ("refund_exceeds_order",),
            "content_review": ("too_large",),
            "survey_response": ("positive_as_text",),
            "conversion": ("value_without_currency", "currency_mismatch"),
        }.get(type_, ())
        # Rare types fail their own ways half the time (so that those reasons show in a run);
        # on the bulk of the traffic, interactions and snapshots, each way is as likely.
        own = (len(specific) / (len(specific) + len(_GENERIC_BREAKS))
               if type_ in _BULK_TYPES else 0.5)
        how = rng.choice(specific if specific and rng.random() < own else _GENERIC_BREAKS)
        if how in build.BROKEN_REASONS:
            return build.broken(event, timestamp_ms, how, bad_id)
        bad = dict(event, event_id=bad_id)
        if how == "source_mismatch":
            # The other kind of record for a post whose source its counted records fixed
            # (a tracking pixel on a platform-tracked post, a snapshot of an events post).
            common = (bad_id, emit_us, campaign_id)
            names = {"post_id": event["post_id"], "influencer_id": event["influencer_id"]}
            bad = (build.post_metrics(*common, **names, metrics={"impressions": 1})
                   if type_ == "interaction"
                   else build.interaction(*common, **names, action="impression"))
        elif how == "currency_mismatch":  # the brand's other shop, in another currency
            bad["currency"] = "CHF" if event.get("currency") != "CHF" else "EUR"
            if type_ == "order":
                bad["order_id"] = f"{event['order_id']}-ch"
            else:
                bad.update(conversion_id=f"{event['conversion_id']}-ch", value_minor=100)
        elif how == "refund_exceeds_order":  # the refund system runs the same refund twice
            bad["refund_id"] = f"{event['refund_id']}-again"
            bad["amount_minor"] = self.order_amounts[event["order_id"]]
        elif how == "positive_as_text":  # a survey tool exporting "yes"/"no"
            bad["positive"] = "yes" if event["positive"] else "no"
        else:  # value_without_currency
            bad.pop("currency", None)
            bad.update(conversion_id=f"{event['conversion_id']}-nc", value_minor=300)
        return build.record(bad, timestamp_ms, INVALID)

    # -- the stream

    def run(self) -> Iterator[SimRecord]:
        config = self.config
        if not self.plans:
            return
        self.order_amounts: dict[str, int] = {}
        start = self.plans[0].starts_us
        end = start + config.sim_duration_us
        for campaign in self.plans:
            defined = start - _HOUR_US
            yield build.record(campaign.definition(defined), defined // 1000)
        for campaign in self.plans:
            # Scheduled in advance: they do not depend on what happens meanwhile.
            if campaign.survey is not None:
                self._schedule_survey(campaign, campaign.survey)
            for problem in campaign.problems:
                if problem.name == "bot-flood":
                    self._schedule_bot_flood(campaign, problem)
                elif problem.name == "leaked-code":
                    self._schedule_leaked_code(campaign, problem)
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
                active.append(self._publish(post, campaign, published))
            for state in active:
                self._interact(state, now, step_end)
                if state.campaign.source == Source.PLATFORM:
                    self._poll(state, step_end)
            active = [
                s for s in active
                if step_end - s.plan.published_us < s.life_us
                or (s.campaign.source == Source.PLATFORM and s.polled < len(s.polls))
            ]
            while self.heap and self.heap[0][0] < step_end:
                yield heapq.heappop(self.heap)[2]
            now = step_end
        # Events still queued (some late ones) would be sent after the run: not sent.

    def _publish(self, post: PostPlan, campaign: CampaignPlan, published_us: int) -> _PostState:
        cid = campaign.campaign_id
        event = build.post_published(
            self._next_id(cid, "post"), published_us, cid, post_id=post.post_id,
            influencer_id=post.influencer.influencer_id, platform=post.platform,
            format_=post.format, followers=post.influencer.followers, cost_minor=post.cost_minor,
        )
        self._emit(event, published_us, latable=False, breakable=False)
        for reviewer in _REVIEWERS:
            when = published_us + int(self.rng.uniform(1, 12) * _HOUR_US)
            self._schedule_review(post, campaign, reviewer, when)
        totals, pool = _post_totals(post, campaign.click_factor)
        story = post.format == "story"
        state = _PostState(post, campaign, totals, _STORY_LIFE_US if story else _POST_LIFE_US,
                           pool)
        if campaign.source == Source.PLATFORM:
            # Metrics exist for a story's 24 hours only; tools follow a post up to 60 days.
            life = _STORY_LIFE_US if story else _POLL_STEPS[-1][0]
            first = int(self.rng.uniform(5, 15) * _MIN_US)
            # A poller goes through its posts in turn: each poll lands a little after its slot.
            state.polls = [published_us + age + int(self.rng.uniform(0, 90) * _US)
                           for age in poll_ages(life, first)]
            state.true = dict.fromkeys(totals, 0.0)
        return state

    def _schedule_review(self, post: PostPlan, campaign: CampaignPlan, reviewer: str,
                         when_us: int) -> None:
        rng = self.rng
        mean = post.influencer.quality
        scores = {c: min(5, max(1, round(rng.gauss(mean, 0.7)))) for c in _CRITERIA}
        comment = ("On brief; the product shows in the first seconds."
                   if rng.random() < 0.3 else None)
        cid = campaign.campaign_id
        event = build.content_review(
            self._next_id(cid, "review"), when_us, cid, post_id=post.post_id,
            influencer_id=post.influencer.influencer_id, reviewer_id=reviewer, scores=scores,
            comment=comment,
        )
        # Reviews are queued for their time (they come hours after the post).
        self._emit(event, when_us)

    def _interact(self, state: _PostState, step_start: int, step_end: int) -> None:
        post = state.plan
        age0 = step_start - post.published_us
        age1 = min(step_end - post.published_us, state.life_us)
        if age1 <= 0 or age1 <= age0:
            return
        campaign_id = state.campaign.campaign_id
        share = (_weibull_cdf(age1) - _weibull_cdf(max(age0, 0))) * self._factor(
            campaign_id, step_start)
        if share <= 0:
            return
        rng = self.rng
        first = max(step_start, post.published_us)
        span = step_end - first
        inf = post.influencer
        video = post.format in _VIDEO_FORMATS
        # A platform post's audience shows in its snapshots; only its link clicks are events.
        actions = (("click",) if state.campaign.source == Source.PLATFORM
                   else tuple(state.totals))
        for action in actions:
            count = _poisson(rng, state.totals[action] * share)
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
            build.interaction(
                self._next_id(campaign_id, "ix"), occurred, campaign_id, post_id=post.post_id,
                influencer_id=post.influencer.influencer_id, action=action, viewer_id=viewer,
            ),
            occurred,
        )

    def _poll(self, state: _PostState, step_end: int) -> None:
        """The insights tool's polls of a platform post that fall in this step."""
        while state.polled < len(state.polls) and state.polls[state.polled] < step_end:
            at = state.polls[state.polled]
            state.polled += 1
            self._snapshot(state, at)

    def _snapshot(self, state: _PostState, at_us: int) -> None:
        rng = self.rng
        post, campaign = state.plan, state.campaign
        cid = campaign.campaign_id
        age = at_us - post.published_us
        growth = (_weibull_cdf(age) - _weibull_cdf(state.last_age_us)) * self._factor(cid, at_us)
        state.last_age_us = age
        for action, total in state.totals.items():
            if action != "click":
                state.true[action] += _poisson(rng, total * growth)
        impressions = state.true["impression"]
        values = {
            "impressions": impressions,
            # Who saw it among the pool its impressions are drawn from (see _post_totals).
            "reach": state.pool * (1 - math.exp(-impressions / state.pool)),
            "views": impressions * (0.7 if post.platform != "tiktok" else 1.0),
            "likes": state.true.get("like", 0.0),
            "comments": state.true.get("comment", 0.0),
            "shares": state.true.get("share", 0.0),
            "saves": state.true.get("save", 0.0),
            "replies": state.true.get("reply", 0.0),
        }
        removed = state.removed
        if age > 3 * _HOUR_US and rng.random() < _UNLIKE_P:
            # Unlikes and likes of purged bot accounts: the lifetime count goes down.
            removed["likes"] = removed.get("likes", 0) + max(
                1, int(values["likes"] * rng.uniform(0.005, 0.03)))
        if age > 3 * _HOUR_US and rng.random() < _CORRECTION_P:
            # The platform filters invalid traffic after the fact.
            cut = rng.uniform(0.01, 0.02)
            for metric in ("impressions", "reach", "views"):
                removed[metric] = removed.get(metric, 0) + int(values[metric] * cut)
        metrics = {
            name: max(0, int(values[name]) - removed.get(name, 0))
            for name in _snapshot_fields(post)
        }
        if "reach" in metrics and "impressions" in metrics:
            metrics["reach"] = min(metrics["reach"], metrics["impressions"])
        names = {"post_id": post.post_id, "influencer_id": post.influencer.influencer_id}
        event = build.post_metrics(self._next_id(cid, "snap"), at_us, cid, **names,
                                     metrics=metrics)
        nxt = state.polls[state.polled] if state.polled < len(state.polls) else None
        if nxt is not None and rng.random() < _DELAYED_P:
            # The connector retries a failed delivery after the next poll went through.
            delayed = nxt + int(rng.uniform(1, 30) * _MIN_US)
            self._emit(event, at_us, kind=STALE, latable=False, emit_us=delayed)
        else:
            self._emit(event, at_us)
        if rng.random() < _REPOLL_P:
            again = at_us + int(rng.uniform(1, 5) * _MIN_US)
            self._emit(build.post_metrics(self._next_id(cid, "snap"), again, cid, **names,
                                            metrics=metrics), again)

    def _click(self, state: _PostState, occurred: int) -> None:
        rng = self.rng
        post, campaign = state.plan, state.campaign
        inf = post.influencer
        cid = campaign.campaign_id
        channel = _CHANNEL.get(post.format, "bio_link")
        if rng.random() < 0.08:
            channel = "qr"  # packaging and event flyers
        click_id = self._next_id(cid, "click")
        if rng.random() < self.config.bot_share:
            event = build.click(
                click_id, occurred, cid, link_id=inf.link_ids[channel],
                influencer_id=inf.influencer_id, channel=channel, post_id=post.post_id,
                visitor_id=f"bot-{rng.randrange(1_000_000)}",
                user_agent=rng.choice(BOT_USER_AGENTS),
            )
            self._emit(event, occurred, kind=BOT)
            return
        agent = rng.choice(_HUMAN_USER_AGENTS)
        recent = state.recent_visitors
        if recent and rng.random() < 0.07:  # the same person clicks again soon after
            visitor, channel = rng.choice(recent)
            self._emit(build.click(
                click_id, occurred, cid, link_id=inf.link_ids[channel],
                influencer_id=inf.influencer_id, channel=channel, post_id=post.post_id,
                visitor_id=visitor, user_agent=agent,
            ), occurred)
            return
        visitor = f"vis-{inf.influencer_id}-{post.audience_offset + rng.randrange(state.pool)}"
        link_id = inf.link_ids[channel]
        recent.append((visitor, channel))
        del recent[:-50]
        self._emit(build.click(
            click_id, occurred, cid, link_id=link_id, influencer_id=inf.influencer_id,
            channel=channel, post_id=post.post_id, visitor_id=visitor, user_agent=agent,
        ), occurred)
        if rng.random() < _CONVERSION_RATE:
            self._order(campaign, inf, occurred, link_id=link_id, customer=visitor)
        # Promo codes travel without a click trail (and leak to coupon sites).
        if rng.random() < _CONVERSION_RATE * 0.8:
            self._order(campaign, inf, occurred + int(rng.uniform(0, 6) * _HOUR_US))
        if rng.random() < _CONVERSION_RATE * 0.1:
            self._order(campaign, None, occurred + int(rng.uniform(0, 12) * _HOUR_US))
        if campaign.lead_gen:
            for action, by_link, by_code, value in _LEAD_ACTIONS:
                if rng.random() < by_link:  # the form or the store page, minutes later
                    self._conversion(campaign, action, value,
                                     occurred + int(rng.expovariate(1 / 300) * _US),
                                     link_id=link_id, customer=visitor)
                if rng.random() < by_code:  # a referral code typed in the app, later
                    self._conversion(campaign, action, value,
                                     occurred + int(rng.uniform(0.5, 24) * _HOUR_US),
                                     code=inf.promo_code)

    def _order(self, campaign: CampaignPlan, inf: Influencer | None, clicked_us: int, *,
               link_id: str | None = None, customer: str | None = None,
               code: str | None = None) -> None:
        rng = self.rng
        cid = campaign.campaign_id
        occurred = clicked_us + int(rng.expovariate(1 / 1200) * _US)
        amount = int(math.exp(rng.gauss(math.log(40), 0.45)) * 100)
        order_id = self._next_id(cid, "order")
        if link_id is None and inf is not None and code is None:
            code = inf.promo_code.lower() if rng.random() < 0.3 else inf.promo_code
        event = build.order(
            f"evt-{order_id}", occurred, cid, order_id=order_id, amount_minor=amount,
            currency=campaign.currency, promo_code=code, link_id=link_id,
            customer_id=customer or f"cust-{rng.randrange(10_000_000)}",
        )
        self.order_amounts[order_id] = amount
        sent = self._emit(event, occurred)
        if rng.random() < campaign.refund_share:
            self._refund(campaign, order_id, amount, occurred, sent)

    def _refund(self, campaign: CampaignPlan, order_id: str, amount: int, ordered_us: int,
                order_sent_us: int | None) -> None:
        rng = self.rng
        cid = campaign.campaign_id
        if rng.random() < _CANCELLATION_P:
            delay = int(rng.uniform(1, 24) * _HOUR_US)
        else:
            delay = max(_DAY_US, int(rng.lognormvariate(math.log(_RETURN_MEDIAN_DAYS), 0.6)
                                     * _DAY_US))
            if rng.random() < _PARTIAL_RETURN_P:
                amount = max(1, int(amount * rng.uniform(0.3, 0.7)))
        # The shop refunds an order it has: after the order's record (same partition, so the
        # processor matches them), whenever that record was sent.
        occurred = ordered_us + delay
        if order_sent_us is not None:
            occurred = max(occurred, order_sent_us + _MIN_US)
        refund_id = self._next_id(cid, "refund")
        event = build.order_refund(
            f"evt-{refund_id}", occurred, cid, refund_id=refund_id, order_id=order_id,
            amount_minor=amount, currency=campaign.currency,
        )
        # A refund of an order that was never sent (a silent feed) is counted unmatched: no
        # broken copy of it, whose reason would depend on that.
        self._emit(event, occurred, breakable=order_sent_us is not None)

    def _conversion(self, campaign: CampaignPlan, action: str, value: int, occurred: int, *,
                    link_id: str | None = None, customer: str | None = None,
                    code: str | None = None) -> None:
        rng = self.rng
        cid = campaign.campaign_id
        conversion_id = self._next_id(cid, "conv")
        if code is not None and rng.random() < 0.3:
            code = code.lower()  # typed by hand
        self._emit(build.conversion(
            f"evt-{conversion_id}", occurred, cid, conversion_id=conversion_id, action=action,
            promo_code=code, link_id=link_id,
            customer_id=customer or f"cust-{rng.randrange(10_000_000)}",
            value_minor=value, currency=campaign.currency,
        ), occurred)

    def _schedule_survey(self, campaign: CampaignPlan, survey: SurveyPlan) -> None:
        rng = self.rng
        cid = campaign.campaign_id
        span = survey.ends_us - survey.starts_us
        for group, size in (("exposed", survey.exposed), ("control", survey.control)):
            # Exactly round(n x rate) positives per question, dealt out at random.
            answers: dict[str, list[bool]] = {}
            for question, control_rate, exposed_rate in survey.rates:
                rate = exposed_rate if group == "exposed" else control_rate
                positives = round(size * rate)
                dealt = [True] * positives + [False] * (size - positives)
                rng.shuffle(dealt)
                answers[question] = dealt
            for number in range(size):
                respondent = f"{cid}-resp-{group[0]}{number + 1:05d}"
                at = survey.starts_us + int(rng.random() * span)
                for question, _, _ in survey.rates:
                    at += int(rng.uniform(10, 40) * _US)  # one question after the other
                    # Never late: the study's figures are exactly the planned ones at the end
                    # (a late answer near the end would be sent after the run).
                    self._emit(build.survey_response(
                        self._next_id(cid, "answer"), at, cid, respondent_id=respondent,
                        group=group, question=question, positive=answers[question][number],
                    ), at, latable=False)

    def _schedule_bot_flood(self, campaign: CampaignPlan, problem: Planted) -> None:
        rng = self.rng
        cid = campaign.campaign_id
        owner = next((inf for inf in campaign.influencers
                      if problem.target in inf.link_ids.values()), None)
        if owner is None:
            return
        channel = next(c for c, link in owner.link_ids.items() if link == problem.target)
        posts = [post for post in campaign.posts if post.influencer is owner]
        human = sum(_post_totals(post, campaign.click_factor)[0]["click"] for post in posts)
        # Half the link's expected human clicks, at least 150: a bot share far above 15 %
        # over the link's whole life, with far more than 50 clicks.
        count = max(150, int(human * 0.5))
        span = max(problem.ends_us - problem.starts_us, 1)
        for _ in range(count):
            at = problem.starts_us + int(rng.random() * span)
            self._emit(build.click(
                self._next_id(cid, "click"), at, cid, link_id=problem.target,
                influencer_id=owner.influencer_id, channel=channel,
                post_id=posts[0].post_id if posts else None,
                visitor_id=f"bot-{rng.randrange(1_000_000)}",
                user_agent=rng.choice(_FLOOD_USER_AGENTS),
            ), at, kind=BOT, latable=False, breakable=False)

    def _schedule_leaked_code(self, campaign: CampaignPlan, problem: Planted) -> None:
        rng = self.rng
        dropped = next(inf for inf in campaign.influencers
                       if inf.influencer_id == problem.target)
        span = max(problem.ends_us - problem.starts_us, 1)
        for _ in range(rng.randint(30, 60)):
            # A redemption spike: most uses right after the code appears on the coupon site.
            at = problem.starts_us + int(min(rng.expovariate(4.0), 1.0) * span)
            self._order(campaign, dropped, at - 1200 * _US, code=dropped.promo_code)


def records(config: SimConfig) -> Iterator[SimRecord]:
    """The records of a run in emission order: definitions first, then by emission time.

    At most ``config.events`` records. Events that would be sent after the simulated
    duration (some late ones, refunds of late orders) are not sent.
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


def write_file(config: SimConfig, out: IO[bytes], progress: IO[str] | None = None,
               settings: Settings | None = None) -> int:
    """Write the records in the replay's JSON Lines format; returns how many.

    Topics are named as ``settings`` name them (their prefix and names, so that a replay
    under the same settings reads the file), or by their logical names without settings.
    """
    meter = _Progress(progress)
    names = {t: t.value if settings is None else settings.topic(t) for t in Topic}
    last_ms = 0
    for record in records(config):
        out.write(build.replay_line(record, names[Topic(record.topic)]))
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


def describe(config: SimConfig) -> str:
    """What the run holds, per campaign (printed to stderr before a run)."""
    lines = []
    for campaign in plan(config):
        features = [f"{campaign.source} tracking"]
        if campaign.survey is not None:
            features.append(f"brand-lift survey {campaign.survey.exposed}+"
                            f"{campaign.survey.control}")
        if campaign.lead_gen:
            features.append("sign-ups and installs")
        features.append(f"refunds {campaign.refund_share:.0%}")
        for problem in campaign.problems:
            features.append(
                f"problem {problem.name} at {iso(problem.starts_us)[:16]}Z "
                f"({problem.detail}; should fire {problem.alert})"
            )
        lines.append(f"simulate: {campaign.campaign_id}: {', '.join(features)}")
    return "\n".join(lines)


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
        print(describe(config), file=sys.stderr)
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
    print(describe(config), file=sys.stderr)
    if to == "-":
        write_file(config, sys.stdout.buffer, sys.stderr, settings)
        return 0
    with open(to, "wb") as out:
        write_file(config, out, sys.stderr, settings)
    return 0


# --------------------------------------------------------------------------------------------
# Command line


def _problems_help(width: int = 88) -> str:
    return "\n".join(
        textwrap.fill(
            f"{kind.name:<16} fires {kind.alert}: {kind.summary} (default AT "
            f"{kind.at_share:.0%} of the schedule"
            + (f", LENGTH {kind.length_us // _HOUR_US} h" if kind.length_us else "")
            + f"; goes to the first {kind.objective} campaign)",
            width, initial_indent="  ", subsequent_indent=" " * 19,
        )
        for kind in PROBLEMS.values()
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``campaign-kpi simulate`` (README, "The simulator")."""
    # The epilog lists the problems one paragraph each: kept as written, so wrapped here.
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if parser.description:
        parser.description = textwrap.fill(parser.description, 88)
    parser.epilog = textwrap.fill(
        "problems (--problem NAME[:AT][+LENGTH][@CAMPAIGN], repeatable; AT counts from the "
        "launch; AT and LENGTH as 36h, 1d12h, 90m or 40% of the schedule; CAMPAIGN a "
        "campaign's number, 1-based):", 88,
    ) + "\n" + _problems_help()
    add = parser.add_argument
    add("--to", default="kafka", metavar="kafka|FILE.jsonl",
        help="'kafka' (default; KAFKA_BOOTSTRAP, topic names from the environment) or a "
        "JSON Lines file in the replay format, with the same topic names ('-' for stdout)")
    add("--seed", type=int, default=1, help="the output is a function of the options: same "
        "seed and start, same records byte for byte (default 1)")
    add("--campaigns", type=int, default=3, metavar="N",
        help="campaigns; objectives cycle awareness, engagement, conversion (default 3)")
    add("--influencers", type=int, default=8, metavar="N",
        help="influencers per campaign (default 8)")
    add("--max-tier", choices=TIERS, default="mega",
        help="largest influencer tier in the rosters (default mega)")
    add("--days", type=float, default=5.0, help="campaign length in days (default 5)")
    add("--duration-s", type=float, metavar="S",
        help="simulated seconds to generate (default: the whole campaign)")
    add("--events", type=int, metavar="N", help="stop after N records")
    add("--start", metavar="TIME",
        help="launch time, e.g. 2025-03-01T09:00:00Z (default: so that the simulated clock "
        "ends at now)")
    add("--speed", type=float, default=1.0, metavar="N",
        help="Kafka: simulated seconds per wall second (default 1: real time)")
    add("--rate", type=float, metavar="EVENTS_PER_S",
        help="Kafka: at most this many records per second")
    add("--duplicates", type=float, default=0.02, metavar="SHARE",
        help="share of events re-sent as exact copies, as a retrying producer does "
        "(default 0.02)")
    add("--late", type=float, default=0.01, metavar="SHARE",
        help="share of events sent 6.5-48 h after they occurred (default 0.01)")
    add("--bots", type=float, default=0.08, metavar="SHARE",
        help="share of clicks from bots and link-preview fetchers (default 0.08)")
    add("--invalid", type=float, default=0.005, metavar="SHARE",
        help="broken records added per event (default 0.005): malformed JSON, a missing or "
        "unreadable field, a wrong type, key or timestamp, and per type a currency "
        "mismatch, a source mismatch, a refund beyond its order, a value over 64 KiB")
    add("--platform-tracked", choices=CHOICES, default="auto",
        help="campaigns whose posts are tracked only by platform snapshots (post_metrics, "
        "polled every 15 min on launch day, hourly to day 7, every 6 h after; stories for "
        "24 h): auto = the awareness campaigns (default), all, none")
    add("--surveys", choices=CHOICES, default="auto",
        help="campaigns running a brand-lift survey (exposed and control groups, five "
        "questions): auto = the awareness campaigns (default), all, none")
    add("--survey-size", type=int, default=SURVEY_SIZE, metavar="N",
        help=f"respondents per survey group (default {SURVEY_SIZE}: awareness and recall "
        "lifts significant, consideration, preference and intent not; 2000 makes "
        "consideration and intent significant too)")
    add("--lead-gen", choices=CHOICES, default="auto",
        help="campaigns collecting sign-ups and app installs by tracked link and referral "
        "code (conversion events): auto = the conversion campaigns (default), all, none")
    add("--refunds", type=float, default=_REFUND_SHARE, metavar="SHARE",
        help=f"share of orders refunded: 30 %% cancelled within a day, in full, the others "
        f"returned days to weeks later, 40 %% of them in part (default {_REFUND_SHARE}: a few "
        "percent, as for beauty and food; fashion runs 0.2-0.3)")
    add("--problem", action="append", default=[], metavar="NAME[:AT][+LENGTH][@CAMPAIGN]",
        help="plant the input that should fire a campaign alert (repeatable): "
        + ", ".join(f"{name} ({kind.alert})" for name, kind in PROBLEMS.items())
        + "; see below")
    add("--id-prefix", default="sim-",
        help="campaign ids are PREFIX01-awareness, PREFIX02-engagement, ... (default sim-)")


def main_from_args(args: Any, settings: Settings) -> int:
    """``campaign-kpi simulate`` from its parsed command line (see :func:`add_arguments`)."""

    def fail(message: str) -> int:
        print(f"campaign-kpi simulate: {message}", file=sys.stderr)
        return 2

    start_us: int | None = None
    if args.start is not None:
        start_us = codec.parse_time(args.start)
        if start_us is None:
            return fail(f"--start {args.start!r} is not a time (e.g. 2025-03-01T09:00:00Z)")
    shares = (args.duplicates, args.late, args.bots, args.invalid, args.refunds)
    if any(not 0 <= share <= 1 for share in shares) or args.speed <= 0:
        return fail("shares must be within 0..1 and --speed positive")
    if args.campaigns < 0 or args.influencers < 1 or args.days <= 0 or args.survey_size < 0:
        return fail("--campaigns, --survey-size must be >= 0, --influencers >= 1, "
                    "--days positive")
    try:
        problems = tuple(Problem.parse(spec) for spec in args.problem)
    except ValueError as error:
        return fail(f"--problem {error}")
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
        platform_tracked=args.platform_tracked,
        surveys=args.surveys,
        survey_size=args.survey_size,
        lead_gen=args.lead_gen,
        refund_share=args.refunds,
        problems=problems,
    )
    try:
        campaigns = plan(config)
    except ValueError as error:
        return fail(f"--problem {error}")
    for campaign in campaigns:
        for problem in campaign.problems:
            if not campaign.starts_us <= problem.starts_us < campaign.ends_us:
                return fail(f"--problem {problem.name} starts at {iso(problem.starts_us)}, "
                            f"outside its campaign {campaign.campaign_id} "
                            f"({iso(campaign.starts_us)} .. {iso(campaign.ends_us)})")
    try:
        return main(config, args.to, settings, speed=args.speed, rate=args.rate)
    except OSError as error:
        return fail(str(error))
