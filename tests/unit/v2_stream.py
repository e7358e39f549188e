"""Random streams of contract v2 events, for the journal and property tests.

Small id pools make every rule bite: duplicates (event ids, post ids, order, refund and
conversion ids), late events (times spread over hours against a 6-hour grace), stale
snapshots, refunds that exceed their order or match none, currency and source mismatches,
replaced reviews and answers, respondents changing group, definitions changing tiers.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Sequence

from streams.domain.engine import Engine, KpiSet
from streams.domain.errors import InvalidRecord
from streams.domain.events import (
    AnyEvent,
    CampaignDefined,
    Click,
    ContentReview,
    Conversion,
    Interaction,
    Order,
    OrderRefund,
    PostMetrics,
    PostPublished,
    RosterEntry,
    SurveyResponse,
)
from streams.domain.vocabulary import Topic

MINUTE = 60 * 1_000_000
HOUR = 60 * MINUTE
BASE = 1_793_613_600 * 1_000_000  # 2026-11-02T10:00:00Z

Item = tuple[Topic, AnyEvent]

CAMPAIGNS = ("ca", "cb")
POSTS = ("p1", "p2", "p3", "p4")
INFLUENCERS = ("i1", "i2", "i3")
METRICS = ("impressions", "reach", "views", "likes", "comments", "shares", "saves", "replies")
KINDS = (
    "campaign", "post", "interaction", "interaction", "interaction", "snapshot", "snapshot",
    "snapshot", "click", "click", "order", "order", "refund", "refund", "review", "conversion",
    "conversion", "answer", "answer", "resend",
)


def definition(
    campaign_id: str, occurred_at_us: int, *, currency: str = "EUR", variant: int = 0
) -> CampaignDefined:
    """A definition; ``variant`` changes the tiers and the owner of code B."""
    tiers = ("nano", "micro", "mid", "macro", "mega")
    roster = (
        RosterEntry("i1", tiers[variant % 5], ("CODE-A",), ("l1",)),
        RosterEntry("i2", None if variant % 2 else "mega", ("Code-B",) if variant % 3 else (),
                    ("l2",)),
        RosterEntry("i3", tiers[(variant + 2) % 5], () if variant % 3 else ("code-b",), ()),
    )
    code_owners = {c.casefold(): e.influencer_id for e in roster for c in e.promo_codes}
    link_owners = {link: e.influencer_id for e in roster for link in e.link_ids}
    return CampaignDefined(
        event_id=f"def-{campaign_id}-{occurred_at_us}-{variant}",
        occurred_at_us=occurred_at_us,
        campaign_id=campaign_id,
        name="n",
        objective=("awareness", "engagement", "conversion")[variant % 3],
        starts_at_us=BASE - 24 * HOUR,
        ends_at_us=BASE + 12 * HOUR,
        currency=currency,
        budget_minor=10_000 * (variant + 1),
        attribution_window_days=0,  # orders and conversions after BASE + 12 h: out of window
        targets={"engagements": 10.0, "conversions": 2.0, "cost_per_conversion_minor": 50.0},
        influencers=roster,
        code_owners=code_owners,
        link_owners=link_owners,
    )


class StreamMaker:
    """Draws events from a seeded :class:`random.Random`."""

    def __init__(self, rng: random.Random, campaigns: Sequence[str] = CAMPAIGNS) -> None:
        """Events of ``campaigns``, drawn from ``rng``."""
        self.rng = rng
        self.campaigns = tuple(campaigns)
        self.clock = BASE
        self.made: list[Item] = []

    def time(self) -> int:
        """Mostly forward in small steps; now and then far back (late) or a jump ahead."""
        r = self.rng
        roll = r.random()
        if roll < 0.06:
            return self.clock - r.randint(6 * HOUR, 9 * HOUR)  # usually late
        if roll < 0.07:
            self.clock += r.randint(1 * HOUR, 2 * HOUR)
        else:
            self.clock += r.randint(0, 2 * MINUTE)
        return self.clock - r.randint(0, 20 * MINUTE)

    def item(self) -> Item:
        """One more record (an exact re-send of an earlier one now and then)."""
        r = self.rng
        kind = r.choice(KINDS)
        if kind == "resend" and self.made:
            item = r.choice(self.made[-40:])
        else:
            item = self._fresh("interaction" if kind == "resend" else kind)
        self.made.append(item)
        return item

    def items(self, count: int) -> list[Item]:
        """``count`` records."""
        return [self.item() for _ in range(count)]

    def _fresh(self, kind: str) -> Item:
        r = self.rng
        cid = r.choice(self.campaigns)
        t = self.time()
        eid = f"e{r.randint(0, 400)}"
        common = (eid, t, cid)
        if kind == "campaign":
            currency = "USD" if r.random() < 0.1 else "EUR"
            return Topic.CAMPAIGNS, definition(cid, t, currency=currency, variant=r.randint(0, 5))
        if kind == "post":
            return Topic.POSTS, PostPublished(
                *common, post_id=r.choice(POSTS), influencer_id=r.choice(INFLUENCERS),
                platform=r.choice(("instagram", "tiktok", "x")),
                format=r.choice(("reel", "story", "post")),
                followers=r.randint(0, 5000), cost_minor=r.randint(0, 400),
            )
        if kind == "interaction":
            return Topic.INTERACTIONS, Interaction(
                *common, post_id=r.choice(POSTS[:3]), influencer_id=r.choice(INFLUENCERS),
                action=r.choice(("impression", "view", "like", "comment", "share", "save",
                                 "reply")),
                viewer_id=r.choice((None, "v1", "v2", "v3", "v4", "v5")),
                count=r.randint(1, 4),
            )
        if kind == "snapshot":
            chosen = [m for m in METRICS if r.random() < 0.4] or [r.choice(METRICS)]
            return Topic.INTERACTIONS, PostMetrics(
                *common, post_id=r.choice(POSTS[1:]), influencer_id=r.choice(INFLUENCERS),
                metrics=tuple((m, r.randint(0, 500)) for m in METRICS if m in chosen),
            )
        if kind == "click":
            return Topic.CLICKS, Click(
                *common, link_id=r.choice(("l1", "l2", "l9")),
                influencer_id=r.choice(INFLUENCERS), channel="link",
                post_id=r.choice((None, *POSTS)),
                visitor_id=r.choice((None, "x1", "x2")),
                user_agent=r.choice((None, "Mozilla", "Googlebot")),
            )
        if kind == "order":
            return Topic.ORDERS, Order(
                *common, order_id=f"o{r.randint(1, 30)}", amount_minor=r.randint(0, 900),
                currency="USD" if r.random() < 0.08 else "EUR",
                promo_code=r.choice((None, "code-a", "CODE-B", "zz")),
                link_id=r.choice((None, "l1", "l2", "l9")),
            )
        if kind == "refund":
            return Topic.ORDERS, OrderRefund(
                *common, refund_id=f"r{r.randint(1, 40)}", order_id=f"o{r.randint(1, 32)}",
                amount_minor=r.randint(1, 500),
                currency="USD" if r.random() < 0.05 else "EUR",
            )
        if kind == "review":
            criteria = r.sample(("tone", "brand_fit", "compliance", "creativity"), r.randint(1, 3))
            return Topic.CONTENT_REVIEWS, ContentReview(
                *common, post_id=r.choice(POSTS), influencer_id=r.choice(INFLUENCERS),
                reviewer_id=r.choice(("rv1", "rv2")),
                scores=tuple((c, r.randint(1, 5)) for c in criteria),
            )
        if kind == "conversion":
            value = r.choice((None, 0, r.randint(1, 300)))
            money: str | None = "EUR" if value is not None else r.choice((None, "EUR", "USD"))
            return Topic.CONVERSIONS, Conversion(
                *common, conversion_id=f"k{r.randint(1, 30)}",
                action=r.choice(("lead", "signup", "app_install", "other")),
                promo_code=r.choice((None, "code-a", "code-b")),
                link_id=r.choice((None, "l1", "l2")),
                value_minor=value, currency=money,
            )
        return Topic.SURVEYS, SurveyResponse(
            *common, respondent_id=f"u{r.randint(1, 6)}",
            group=r.choice(("exposed", "control")),
            question=r.choice(("awareness", "recall", "intent")),
            positive=r.random() < 0.5,
        )


def stream(seed: int, count: int, campaigns: Sequence[str] = CAMPAIGNS) -> list[Item]:
    """A reproducible stream of ``count`` records, definitions first for each campaign."""
    maker = StreamMaker(random.Random(seed), campaigns)
    head: list[Item] = [
        (Topic.CAMPAIGNS, definition(cid, BASE - 48 * HOUR)) for cid in campaigns
    ]
    return head + maker.items(count)


def apply_all(engine: Engine, items: Iterable[Item]) -> None:
    """Apply records in order; rejections change nothing (and are dropped here)."""
    for topic, event in items:
        with contextlib.suppress(InvalidRecord):
            engine.apply(topic, event)


def final_sets(items: Iterable[Item]) -> dict[str, dict[str, object]]:
    """Every KPI set of one uninterrupted run, by key."""
    engine = Engine()
    apply_all(engine, items)
    return by_key(engine.all_sets())


def by_key(kpi_sets: Iterable[KpiSet]) -> dict[str, dict[str, object]]:
    """KPI sets by their key."""
    return {kpi_set.key: kpi_set.kpis for kpi_set in kpi_sets}
