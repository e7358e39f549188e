"""An interaction-heavy, contract-valid workload for the benchmarks (deterministic per seed).

The mix, by share of events: interactions 80 %, clicks 10 %, orders 4 %, content reviews
3 %, posts 2.8 %, campaign (re)definitions 0.2 %. Campaign definitions and a first batch of
posts come first. About 1 % of interactions and clicks are exact re-sends (duplicates) and
0.1 % of records are invalid (schema violations, dead-lettered by the worker), so the
worker's dedup and dead-letter paths run too. Viewer pools are large enough that the reach
of hour, day and ``all`` windows goes past the exact limit into HyperLogLog sketches.

Event time advances evenly over ``span_s`` seconds ending at ``end_s`` (the pre-produced
input), or is "now" (:meth:`Workload.live`, for the freshness probe's background load).

Events are built by :mod:`streams.records`, as the simulator's are; the mix keeps to the
types the benchmark's naive Faust contender knows, so the three contenders stay comparable.
"""

from __future__ import annotations

import random
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

from streams import records as build
from streams.domain.vocabulary import TYPE_TOPICS
from streams.records import Record

__all__ = ["Record", "Workload"]

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
VIEWERS_PER_CAMPAIGN: Final = 50_000
VISITORS_PER_CAMPAIGN: Final = 5_000
_DAY_US: Final = 86_400_000_000


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
        event = build.interaction(
            self._event_id(), t_us, campaign_id, post_id=post_id,
            influencer_id=f"{campaign_id}-inf", action="like",
        )
        return self._record(event, t_us, may_break=False)

    # -- one method per event type ----------------------------------------------------------

    def _event_id(self) -> str:
        self._seq += 1
        return f"ev-{self._seq:09d}-{self.rng.getrandbits(24):06x}"

    def _record(self, event: dict[str, Any], t_us: int, may_break: bool = True) -> Record:
        topic = TYPE_TOPICS[event["type"]]
        self.counts[topic] += 1
        timestamp_ms = t_us // 1000 + 500  # sent half a second after it happened
        if may_break and self.rng.random() < 0.001:
            self.counts["invalid"] += 1  # a schema violation: dead-lettered
            return build.broken(event, timestamp_ms, "missing_field", event["event_id"])
        return build.record(event, timestamp_ms)

    def _definition(self, c: _Campaign, t_us: int) -> Record:
        objective = OBJECTIVES[int(c.cid.rsplit("c", 1)[1]) % 3]
        event = build.campaign(
            self._event_id(), t_us, c.cid,
            name=f"Campaign {c.cid}",
            brand="Bench",
            objective=objective,
            starts_us=t_us - 2 * _DAY_US,
            ends_us=t_us + 30 * _DAY_US,
            currency="EUR",
            budget_minor=5_000_000,
            attribution_window_days=7,
            targets={"impressions": 1_000_000, "reach": 100_000, "orders": 500, "ctr": 0.02},
            influencers=[
                build.roster_entry(inf, tier="micro", promo_codes=[c.promo[inf]],
                                   link_ids=c.links[inf])
                for inf in c.influencers
            ],
        )
        return self._record(event, t_us)

    def _post(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        influencer = c.influencers[rng.randrange(len(c.influencers))]
        post_id = f"{c.cid}-p{c.next_post:05d}"
        c.next_post += 1
        c.posts.append((post_id, influencer))
        event = build.post_published(
            self._event_id(), t_us, c.cid, post_id=post_id, influencer_id=influencer,
            platform=PLATFORMS[rng.randrange(len(PLATFORMS))],
            format_=FORMATS[rng.randrange(len(FORMATS))],
            followers=rng.randrange(1_000, 2_000_000),
            cost_minor=rng.randrange(5_000, 500_000),
        )
        return self._record(event, t_us)

    def _recent_post(self, c: _Campaign) -> tuple[str, str]:
        # Most attention goes to the latest posts.
        posts = c.posts
        window = min(len(posts), 60)
        return posts[len(posts) - 1 - int(self.rng.random() ** 2 * window)]

    def _interaction(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        post_id, influencer = self._recent_post(c)
        action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        event_id = self._event_id()
        viewer = None
        if (action in ("impression", "view") and rng.random() < 0.85) or rng.random() < 0.3:
            viewer = self._viewers[rng.randrange(len(self._viewers))]
        count = rng.randrange(2, 500) if rng.random() < 0.08 else None
        event = build.interaction(
            event_id, t_us, c.cid, post_id=post_id, influencer_id=influencer, action=action,
            viewer_id=viewer, count=count,
        )
        return self._record(event, t_us)

    def _click(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        post_id, influencer = self._recent_post(c)
        event_id = self._event_id()
        link_id = c.links[influencer][rng.randrange(2)]
        channel = CHANNELS[rng.randrange(len(CHANNELS))]
        visitor = self._visitors[rng.randrange(len(self._visitors))]
        agent = BOT_AGENT if rng.random() < 0.05 else HUMAN_AGENTS[rng.randrange(3)]
        event = build.click(
            event_id, t_us, c.cid, link_id=link_id, influencer_id=influencer, channel=channel,
            post_id=post_id, visitor_id=visitor, user_agent=agent,
        )
        return self._record(event, t_us)

    def _order(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        influencer = c.influencers[rng.randrange(len(c.influencers))]
        event_id = self._event_id()
        amount = rng.randrange(1_500, 25_000)
        customer = f"cus-{rng.randrange(100_000):05d}"
        promo_code = link_id = None
        r = rng.random()
        if r < 0.45:
            promo_code = c.promo[influencer].lower()
        elif r < 0.85:
            link_id = c.links[influencer][0]
        event = build.order(
            event_id, t_us, c.cid, order_id=f"ord-{self._seq:09d}", amount_minor=amount,
            currency="EUR", promo_code=promo_code, link_id=link_id, customer_id=customer,
        )
        return self._record(event, t_us)

    def _review(self, c: _Campaign, t_us: int) -> Record:
        rng = self.rng
        post_id, influencer = c.posts[rng.randrange(len(c.posts))]
        event_id = self._event_id()
        criteria = rng.sample(CRITERIA, rng.randint(1, 6))
        event = build.content_review(
            event_id, t_us, c.cid, post_id=post_id, influencer_id=influencer,
            reviewer_id=f"rev-{rng.randrange(5)}",
            scores={name: rng.randint(1, 5) for name in criteria},
        )
        return self._record(event, t_us)
