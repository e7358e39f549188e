"""An interaction-heavy, contract-valid workload for the benchmarks (deterministic per seed).

The mix, by share of events: interactions 80 %, clicks 10 %, orders 4 %, content reviews
3 %, posts 2.8 %, campaign (re)definitions 0.2 %. Campaign definitions and a first batch of
posts come first. About 1 % of interactions and clicks are exact re-sends (duplicates) and
0.1 % of records are invalid (schema violations, dead-lettered by the worker), so the
worker's dedup and dead-letter paths run too. Viewer pools are large enough that the reach
of hour, day and ``all`` windows goes past the exact limit into HyperLogLog sketches.

Event time advances evenly over ``span_s`` seconds ending at ``end_s`` (the pre-produced
input), or is "now" (:meth:`Workload.live`, for the freshness probe's background load).
"""

from __future__ import annotations

import random
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

ACTIONS: Final = ("impression", "view", "like", "comment", "share", "save", "reply")
ACTION_WEIGHTS: Final = (45, 22, 17, 4, 3, 5, 4)
OBJECTIVES: Final = ("awareness", "engagement", "conversion")
PLATFORMS: Final = ("instagram", "tiktok", "youtube", "facebook", "x")
FORMATS: Final = ("post", "carousel", "reel", "story", "video", "short")
CHANNELS: Final = ("link", "swipe_up", "qr", "bio_link")
CRITERIA: Final = ("brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance")
HUMAN_AGENTS: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/123.0 Mobile Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/123.0 Safari/537.36",
)
BOT_AGENT: Final = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
# Cumulative shares (out of 1000) of the random mix.
_MIX: Final = (
    (800, "interactions"),
    (900, "clicks"),
    (940, "orders"),
    (970, "content-reviews"),
    (998, "posts"),
    (1000, "campaigns"),
)
VIEWERS_PER_CAMPAIGN: Final = 50_000
VISITORS_PER_CAMPAIGN: Final = 5_000


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: logical topic, key (campaign id), JSON value, record timestamp."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int


class _Campaign:
    __slots__ = ("cid", "influencers", "links", "next_post", "posts", "promo")

    def __init__(self, cid: str, influencers: int) -> None:
        self.cid = cid
        self.influencers = [f"{cid}-inf{j:02d}" for j in range(influencers)]
        self.links = {inf: [f"{inf}-lnk{k}" for k in range(2)] for inf in self.influencers}
        self.promo = {
            inf: f"CODE{zlib.crc32(inf.encode()) % 100000:05d}" for inf in self.influencers
        }
        self.posts: list[tuple[str, str]] = []  # (post id, influencer id)
        self.next_post = 0


class Workload:
    """Deterministic generator of benchmark records for ``campaigns`` campaigns."""

    def __init__(
        self, run_id: str, campaigns: int = 40, influencers: int = 20, seed: int = 1
    ) -> None:
        """Campaign ids are ``<run_id>-cNNN``, so every run has its own Redis keys."""
        self.rng = random.Random(seed)
        self.campaigns = [_Campaign(f"{run_id}-c{i:03d}", influencers) for i in range(campaigns)]
        self.counts: Counter[str] = Counter()
        self._seq = 0
        self._recent: list[Record] = []
        self._time_prefix: dict[int, str] = {}
        self._viewers = [f"vw{n:06d}" for n in range(VIEWERS_PER_CAMPAIGN)]
        self._visitors = [f"vis{n:05d}" for n in range(VISITORS_PER_CAMPAIGN)]

    # -- streams of records ---------------------------------------------------------------

    def records(self, n: int, end_s: float, span_s: float) -> Iterator[Record]:
        """``n`` records (definitions and first posts included), event time over the span."""
        start_us = int((end_s - span_s) * 1_000_000)
        step_us = span_s * 1_000_000 / max(n, 1)
        produced = 0
        for campaign in self.campaigns:
            if produced < n:
                produced += 1
                yield self._definition(campaign, start_us)
        for campaign in self.campaigns:
            for _ in range(len(campaign.influencers) * 2):
                if produced < n:
                    produced += 1
                    yield self._post(campaign, start_us)
        while produced < n:
            t_us = start_us + int(produced * step_us)
            produced += 1
            yield self.event(t_us)

    def live(self, now_s: float | None = None) -> Record:
        """One record of the random mix, happening now."""
        return self.event(int((time.time() if now_s is None else now_s) * 1_000_000))

    def event(self, t_us: int) -> Record:
        """One record of the random mix at event time ``t_us`` (plus up to 2 s of jitter)."""
        rng = self.rng
        t_us -= rng.randrange(2_000_000)
        r = rng.randrange(1000)
        if r < 900:
            if self._recent and rng.random() < 0.01:
                record = self._recent[rng.randrange(len(self._recent))]
                self.counts["duplicate"] += 1
                return record
            campaign = self.campaigns[rng.randrange(len(self.campaigns))]
            if not campaign.posts:
                return self._post(campaign, t_us)
            record = (
                self._interaction(campaign, t_us) if r < 800 else self._click(campaign, t_us)
            )
            if len(self._recent) < 256:
                self._recent.append(record)
            else:
                self._recent[rng.randrange(256)] = record
            return record
        campaign = self.campaigns[rng.randrange(len(self.campaigns))]
        if r < 940:
            return self._order(campaign, t_us)
        if r < 970 and campaign.posts:
            return self._review(campaign, t_us)
        if r < 998:
            return self._post(campaign, t_us)
        return self._definition(campaign, t_us)

    def probe(self, campaign_id: str, post_id: str, now_s: float) -> Record:
        """An interaction naming a post of its own, for the freshness probe."""
        t_us = int(now_s * 1_000_000)
        event = self._base("interaction", campaign_id, t_us)
        event.update(post_id=post_id, influencer_id=f"{campaign_id}-inf", action="like")
        return self._record("interactions", campaign_id, event, t_us, may_break=False)

    # -- one method per event type ----------------------------------------------------------

    def _time(self, t_us: int) -> str:
        seconds, micros = divmod(t_us, 1_000_000)
        prefix = self._time_prefix.get(seconds)
        if prefix is None:
            if len(self._time_prefix) > 100_000:
                self._time_prefix.clear()
            prefix = self._time_prefix[seconds] = time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)
            )
        return f"{prefix}.{micros // 1000:03d}Z"

    def _base(self, type_: str, cid: str, t_us: int) -> dict[str, Any]:
        self._seq += 1
        return {
            "event_id": f"ev-{self._seq:09d}-{self.rng.getrandbits(24):06x}",
            "type": type_,
            "occurred_at": self._time(t_us),
            "campaign_id": cid,
        }

    def _record(
        self, topic: str, cid: str, event: dict[str, Any], t_us: int, may_break: bool = True
    ) -> Record:
        self.counts[topic] += 1
        if may_break and self.rng.random() < 0.001:
            event.pop("event_id")  # schema violation: dead-lettered
            self.counts["invalid"] += 1
        return Record(topic, cid.encode(), orjson.dumps(event), t_us // 1000 + 500)

    def _definition(self, c: _Campaign, t_us: int) -> Record:
        objective = OBJECTIVES[int(c.cid.rsplit("c", 1)[1]) % 3]
        event = self._base("campaign", c.cid, t_us)
        event.update(
            name=f"Campaign {c.cid}",
            brand="Bench",
            objective=objective,
            starts_at=self._time(t_us - 2 * 86_400_000_000)[:19] + "Z",
            ends_at=self._time(t_us + 30 * 86_400_000_000)[:19] + "Z",
            currency="EUR",
            budget_minor=5_000_000,
            attribution_window_days=7,
            targets={"impressions": 1_000_000, "reach": 100_000, "orders": 500, "ctr": 0.02},
            influencers=[
                {
                    "influencer_id": inf,
                    "tier": "micro",
                    "promo_codes": [c.promo[inf]],
                    "link_ids": c.links[inf],
                }
                for inf in c.influencers
            ],
        )
        return self._record("campaigns", c.cid, event, t_us)

    def _post(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        influencer = c.influencers[rng.randrange(len(c.influencers))]
        post_id = f"{c.cid}-p{c.next_post:05d}"
        c.next_post += 1
        c.posts.append((post_id, influencer))
        event = self._base("post_published", c.cid, t_us)
        event.update(
            post_id=post_id,
            influencer_id=influencer,
            platform=PLATFORMS[rng.randrange(len(PLATFORMS))],
            format=FORMATS[rng.randrange(len(FORMATS))],
            followers=rng.randrange(1_000, 2_000_000),
            cost_minor=rng.randrange(5_000, 500_000),
        )
        return self._record("posts", c.cid, event, t_us)

    def _recent_post(self, c: _Campaign) -> tuple[str, str]:
        # Most attention goes to the latest posts.
        posts = c.posts
        window = min(len(posts), 60)
        return posts[len(posts) - 1 - int(self.rng.random() ** 2 * window)]

    def _interaction(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        post_id, influencer = self._recent_post(c)
        action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        event = self._base("interaction", c.cid, t_us)
        event.update(post_id=post_id, influencer_id=influencer, action=action)
        if (action in ("impression", "view") and rng.random() < 0.85) or rng.random() < 0.3:
            event["viewer_id"] = self._viewers[rng.randrange(len(self._viewers))]
        if rng.random() < 0.08:
            event["count"] = rng.randrange(2, 500)
        return self._record("interactions", c.cid, event, t_us)

    def _click(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        post_id, influencer = self._recent_post(c)
        event = self._base("click", c.cid, t_us)
        event.update(
            link_id=c.links[influencer][rng.randrange(2)],
            influencer_id=influencer,
            channel=CHANNELS[rng.randrange(len(CHANNELS))],
            post_id=post_id,
            visitor_id=self._visitors[rng.randrange(len(self._visitors))],
            user_agent=BOT_AGENT if rng.random() < 0.05 else HUMAN_AGENTS[rng.randrange(3)],
        )
        return self._record("clicks", c.cid, event, t_us)

    def _order(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        influencer = c.influencers[rng.randrange(len(c.influencers))]
        event = self._base("order", c.cid, t_us)
        event.update(
            order_id=f"ord-{self._seq:09d}",
            amount_minor=rng.randrange(1_500, 25_000),
            currency="EUR",
            customer_id=f"cus-{rng.randrange(100_000):05d}",
        )
        r = rng.random()
        if r < 0.45:
            event["promo_code"] = c.promo[influencer].lower()
        elif r < 0.85:
            event["link_id"] = c.links[influencer][0]
        return self._record("orders", c.cid, event, t_us)

    def _review(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        post_id, influencer = c.posts[rng.randrange(len(c.posts))]
        event = self._base("content_review", c.cid, t_us)
        criteria = rng.sample(CRITERIA, rng.randint(1, 6))
        event.update(
            post_id=post_id,
            influencer_id=influencer,
            reviewer_id=f"rev-{rng.randrange(5)}",
            scores={name: rng.randint(1, 5) for name in criteria},
        )
        return self._record("content-reviews", c.cid, event, t_us)
