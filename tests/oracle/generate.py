"""Deterministic generator of realistic, messy replay input (contract section 5.4).

``generate(seed, size, big_reach=False, v2_heavy=False)`` returns a :class:`Generated`: the
JSON Lines of a multi-campaign input in replay format (contract v2: the v1 mix, platform
snapshots, refunds, conversions and survey answers on top, and hand-placed edge campaigns),
the 1-based line numbers the generator made schema-invalid on purpose (the naive oracle
takes that as given instead of re-implementing every field rule), and a counter of the
features it planted (for sanity tests).

Run as a module to write a file, from the repository root:
``python -m tests.oracle.generate OUT.jsonl [seed] [size]``.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .timefmt import DAY, HOUR, MIN, SEC, format_time, parse_time

BASE = 1_717_372_800 * SEC  # 2024-06-03T00:00:00Z, a Monday

TOPIC_OF_TYPE = {
    "campaign": "campaigns",
    "post_published": "posts",
    "interaction": "interactions",
    "click": "clicks",
    "order": "orders",
    "content_review": "content-reviews",
    "post_metrics": "interactions",
    "order_refund": "orders",
    "conversion": "conversions",
    "survey_response": "surveys",
}

BOT_AGENTS = [
    "Mozilla/5.0 (compatible; GoogleBot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; SemrushCRAWLER/1.0)",
    "Mozilla/5.0 (compatible; Baiduspider/2.0)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "Wget/1.21.4",
]
HUMAN_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    " Instagram 309.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari",
    "TikTok 32.5.3 rv:325031 (iPhone; iOS 17.1; fr_FR) Cronet",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) Chrome/119.0 Mobile Safari/537.36 [FB_IAB]",
]
TIER_FOLLOWERS = {
    "nano": (1_000, 10_000),
    "micro": (10_000, 100_000),
    "mid": (100_000, 500_000),
    "macro": (500_000, 1_000_000),
    "mega": (1_000_000, 5_000_000),
}
TIER_COST = {
    "nano": (5_000, 30_000),
    "micro": (30_000, 150_000),
    "mid": (150_000, 600_000),
    "macro": (600_000, 2_000_000),
    "mega": (2_000_000, 8_000_000),
}
PLATFORMS = ["instagram", "tiktok", "youtube", "facebook", "x", "linkedin", "pinterest",
             "twitch", "snapchat", "blog", "other"]
FORMATS = ["post", "carousel", "reel", "story", "video", "short", "live", "other"]
CRITERIA = ["brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance"]
ACTIONS = ["impression", "view", "like", "comment", "share", "save", "reply"]
ACTION_WEIGHTS = [45, 22, 17, 4, 3, 5, 4]
TIME_STYLES = ["s", "ms", "us", "us", "us", "ns", "+02:00", "-05:00", "lower"]
SNAPSHOT_METRICS = ["impressions", "reach", "views", "likes", "comments", "shares", "saves",
                    "replies"]
CONVERSION_ACTIONS = ["lead", "signup", "app_install", "download", "contest_entry",
                      "subscription", "other"]
QUESTIONS = ["awareness", "recall", "consideration", "preference", "intent"]
# The big-sums campaign: enough posts at the 10^15 bound that potential_reach and spend_minor
# pass 2^63 at campaign and influencer scope.
BIG_SUM_POSTS = 9_300


@dataclass
class Member:
    influencer_id: str
    tier: str
    promo_codes: list[str]
    link_ids: list[str]


@dataclass
class Plan:
    cid: str
    objective: str
    currency: str
    starts: int
    ends: int
    budget: int | None
    attribution: int | None
    targets: dict[str, Any] | None
    roster: list[Member]
    def_proc: int


@dataclass
class Post:
    cid: str
    post_id: str
    member: Member
    published: int
    platform: str
    source: str  # how its metrics arrive: "events" (interactions) or "platform" (snapshots)


@dataclass
class Generated:
    lines: list[str]
    schema_invalid: set[int]
    features: Counter[str] = field(default_factory=Counter)


@dataclass(order=True)
class _Item:
    proc: int
    seq: int
    line: str = field(compare=False)
    schema_invalid: bool = field(compare=False, default=False)


def _mixed_case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


class _Builder:
    def __init__(self, rng: random.Random, big_reach: bool, v2_heavy: bool = False) -> None:
        self.rng = rng
        self.big_reach = big_reach
        self.v2 = 4 if v2_heavy else 1  # how much v2 traffic per campaign, relative
        # Orders as sent (event, processing time, feature), for the refunds to refer to.
        self.orders: list[tuple[dict[str, Any], int, str]] = []
        self.items: list[_Item] = []
        self.features: Counter[str] = Counter()
        self.seq = 0
        self.ids = 0

    def new_id(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}-{self.ids:06d}"

    def time(self, t_us: int, style: str | None = None) -> str:
        return format_time(t_us, style or self.rng.choice(TIME_STYLES))

    def dumps(self, event: dict[str, Any]) -> str:
        if self.rng.random() < 0.5:
            return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(event)

    def line(
        self,
        proc: int,
        event: dict[str, Any] | None = None,
        *,
        topic: str | None = None,
        key: str | bool | None = True,
        raw_value: str | None = None,
        timestamp: int | bool | None = True,
        bare: bool | None = None,
        schema_invalid: bool = False,
        feature: str | None = None,
    ) -> str:
        """Add one line; return its text (so that it can be re-sent as an exact copy)."""
        assert event is not None or raw_value is not None
        value = raw_value if raw_value is not None else self.dumps(event or {})
        if topic is None:
            assert event is not None
            topic = TOPIC_OF_TYPE[event["type"]]
        if key is True:
            assert event is not None
            key = event["campaign_id"]
        if bare is None:
            bare = (
                raw_value is None
                and event is not None
                and key == event.get("campaign_id")
                and TOPIC_OF_TYPE.get(event.get("type", "")) == topic
                and timestamp is True
                and self.rng.random() < 0.2
            )
        if bare:
            text = value
            self.features["bare_line"] += 1
        else:
            env: dict[str, Any] = {"topic": topic, "key": key, "value": value}
            if timestamp is True:
                if self.rng.random() < 0.35:
                    env["timestamp"] = proc // 1000
            elif timestamp is not None and timestamp is not False:
                env["timestamp"] = timestamp
            if "timestamp" in env:
                self.features["kafka_timestamp"] += 1
            text = json.dumps(env, ensure_ascii=self.rng.random() < 0.5)
        self.add_text(proc, text, schema_invalid=schema_invalid)
        if feature:
            self.features[feature] += 1
        return text

    def add_text(self, proc: int, text: str, *, schema_invalid: bool = False) -> None:
        self.seq += 1
        self.items.append(_Item(proc, self.seq, text, schema_invalid))


def _plans(rng: random.Random, b: _Builder) -> list[Plan]:
    def roster(cid: str, n: int, codes: list[str] | None = None) -> list[Member]:
        members = []
        tiers = list(TIER_FOLLOWERS)
        for i in range(n):
            iid = f"inf-{cid[4:8]}-{i + 1:02d}"
            promo = [f"{cid[4:8].upper()}{i + 1}OFF"]
            if codes and i < len(codes):
                promo.append(codes[i])
            links = [f"lnk-{cid[4:8]}-{i + 1:02d}-{j}" for j in range(rng.randint(1, 2))]
            members.append(Member(iid, rng.choice(tiers[:4] if i else tiers), promo, links))
        return members

    return [
        Plan("cmp-sunscreen-aw", "awareness", "EUR", BASE, BASE + 4 * DAY, 4_000_000, None,
             {"impressions": 200_000, "reach": 80, "cpm_minor": 1500,
              "engagement_rate_by_reach": 0.5, "emv_minor": 10_000, "reach_sum": 500,
              "stale_snapshots": 2, "engagement_rate_by_reach_sum": 0.1,
              "brand_lift": 0.2},  # an object KPI: ignored
             roster("cmp-sunscreen-aw", 5), BASE - DAY),
        Plan("cmp-mode-eng", "engagement", "USD", BASE + 6 * HOUR, BASE + 3 * DAY, 2_500_000, 0,
             {"engagements": 5000, "cpe_minor": 40.5, "content_score": 4},
             roster("cmp-mode-eng", 4), BASE - 2 * DAY),
        Plan("cmp-shop-conv", "conversion", "EUR", BASE, BASE + 3 * DAY, 6_000_000, 3,
             {"orders": 60, "revenue_minor": 300_000, "roas": 2, "cpa_minor": 5000,
              "conversion_rate": 0.03, "clicks_valid": 500, "conversions": 40,
              "roas_net": 1.5, "cost_per_conversion_minor": 3000, "action_rate": 0.01,
              "conversions_by_action": 5, "tier": 1},  # the last two: ignored
             roster("cmp-shop-conv", 5, ["Straße10", "ÉTÉ-SOLDES"]), BASE - DAY + HOUR),
        Plan("cmp-late-def", "conversion", "GBP", BASE, BASE + 2 * DAY, None, 1,
             {"orders": 10}, roster("cmp-late-def", 3), BASE + 30 * HOUR),
        Plan("cmp-夏-tiny", "awareness", "JPY", BASE + DAY, BASE + 3 * DAY, 0, 2, None,
             roster("cmp-夏-tiny", 2), BASE - 3 * DAY),
    ]


def _definition(b: _Builder, p: Plan, occ: int, **overrides: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_id": b.new_id("evc"),
        "type": "campaign",
        "occurred_at": b.time(occ),
        "campaign_id": p.cid,
        "name": f"Campaign {p.cid}",
        "brand": "Maison Exemple" if p.objective != "engagement" else None,
        "objective": p.objective,
        "starts_at": format_time(p.starts, "s"),
        "ends_at": format_time(p.ends, "+02:00"),
        "currency": p.currency,
        "influencers": [
            {"influencer_id": m.influencer_id, "tier": m.tier, "promo_codes": m.promo_codes,
             "link_ids": m.link_ids}
            for m in p.roster
        ],
    }
    if p.budget is not None:
        ev["budget_minor"] = p.budget
    if p.attribution is not None:
        ev["attribution_window_days"] = p.attribution
    if p.targets is not None:
        ev["targets"] = p.targets
    ev.update(overrides)
    return ev


def _base(b: _Builder, typ: str, cid: str, occ: int, style: str | None = None) -> dict[str, Any]:
    return {"event_id": b.new_id("ev"), "type": typ, "occurred_at": b.time(occ, style),
            "campaign_id": cid}


def generate(seed: int = 1, size: int = 10_000, big_reach: bool = False,
             v2_heavy: bool = False) -> Generated:
    """Build a replay input of roughly ``size`` lines.

    ``v2_heavy``: four times the v2 traffic per campaign, more platform posts, and the
    big-sums campaign (about 9,400 of the lines).
    """
    rng = random.Random(seed)
    b = _Builder(rng, big_reach, v2_heavy)
    plans = _plans(rng, b)
    n_camp = len(plans)
    viewer_pool = 4000 if big_reach else 90
    rest = size - (BIG_SUM_POSTS + 100 if v2_heavy else 0)
    # Heavy: the v2 traffic takes about two fifths of each campaign's lines.
    per_campaign = max(rest // n_camp * (3 if v2_heavy else 5) // 5, 200)

    for p in plans:
        _campaign(b, rng, p, per_campaign, viewer_pool)
    _definitions_extra(b, rng, plans)
    _invalid(b, rng, plans)
    _invalid_v2(b, plans)
    _edges(b)
    _edges_v2(b)
    if v2_heavy:
        _big_sums(b, rng)

    items = sorted(b.items)
    lines = [it.line for it in items]
    invalid = {i + 1 for i, it in enumerate(items) if it.schema_invalid}
    return Generated(lines, invalid, b.features)


def _delay(rng: random.Random, late_share: float) -> tuple[int, bool]:
    """Processing delay after occurred_at: usually seconds, sometimes hours (late data)."""
    r = rng.random()
    if r < late_share:
        return rng.randint(7 * HOUR, 48 * HOUR), True
    if r < late_share * 2:
        return rng.randint(1 * HOUR, 5 * HOUR), False
    return rng.randint(0, 90 * SEC), False


def _campaign(b: _Builder, rng: random.Random, p: Plan, budget: int, viewer_pool: int) -> None:
    # The definition (C4's comes late in the file, after some of its orders).
    b.line(p.def_proc, _definition(b, p, p.def_proc - 5 * MIN), feature="definition")
    ghost = Member(f"inf-{p.cid[4:8]}-ghost", "micro", [], [f"lnk-{p.cid[4:8]}-ghost"])
    members = [*p.roster, ghost]
    # Big reach: fewer, busier posts, so that post-scope reach (and reach_sum) passes 100.
    n_posts = max(4, budget // (400 if b.big_reach else 120))
    posts: list[Post] = []
    span = p.ends - p.starts - 12 * HOUR
    for i in range(n_posts):
        m = members[i % len(members)]
        published = p.starts + rng.randint(0, span)
        if i == 0:
            published = p.starts + 10 * HOUR  # exactly on an hour boundary
            b.features["hour_boundary"] += 1
        # Some posts' metrics come as platform snapshots (v2), never as interactions.
        source = "platform" if i % 4 == 2 or (b.v2 > 1 and i % 4 == 3) else "events"
        post = Post(p.cid, f"pst-{p.cid[4:8]}-{i:04d}", m, published, rng.choice(PLATFORMS),
                    source)
        posts.append(post)
        lo, hi = TIER_FOLLOWERS[m.tier]
        ev = _base(b, "post_published", p.cid, published, "s" if i == 0 else None)
        ev.update({"post_id": post.post_id, "influencer_id": m.influencer_id,
                   "platform": post.platform, "format": rng.choice(FORMATS),
                   "followers": rng.randint(lo, hi)})
        if rng.random() < 0.85:
            ev["cost_minor"] = rng.randint(*TIER_COST[m.tier])
        if rng.random() < 0.1:
            ev["cost_minor"] = None  # null is absent: default 0
            b.features["null_field"] += 1
        if rng.random() < 0.2:
            ev["caption"] = "Nouvelle collection ☀️ #ad"  # unknown field, ignored
            b.features["unknown_field"] += 1
        delay, late = _delay(rng, 0.05)
        text = b.line(published + delay, ev, feature="post_late" if late else "post")
        if m is ghost:
            b.features["post_by_unrostered"] += 1
        if i % 17 == 3:
            b.add_text(published + delay + rng.randint(1, 600) * SEC, text)
            b.features["dup_exact_posts"] += 1
        if i % 23 == 5:
            # A duplicate post_id: the attributes stay those of the first (counted) copy.
            again = dict(ev, event_id=b.new_id("ev"), platform="other", format="live")
            b.line(published + delay + HOUR, again, feature="dup_post_id_new_event_id")

    n_inter = int(budget * 0.62)
    n_clicks = int(budget * 0.2)
    viewers = [f"vw-{p.cid[4:8]}-{i:05d}" for i in range(viewer_pool)]
    visitors = [f"vis-{i:04d}" for i in range(60)]
    sent_interactions: list[tuple[int, str]] = []
    event_posts = [post for post in posts if post.source == "events"]
    for i in range(n_inter):
        post = rng.choice(event_posts)
        occ = post.published + min(int(rng.weibullvariate(5 * HOUR, 0.8)), 60 * HOUR)
        occ += rng.randint(0, SEC - 1)
        action = rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        style = None
        if i % 97 == 11:  # offset time crossing midnight: 23:xx UTC is next day in +02:00
            day_start = (occ // DAY) * DAY
            occ = day_start + 23 * HOUR + rng.randint(0, 59 * MIN)
            style = "+02:00"
            b.features["offset_across_midnight"] += 1
        if i % 131 == 7:  # exactly on a day start
            occ = ((occ // DAY) + 1) * DAY
            style = rng.choice(["s", "+02:00", "ms"])
            b.features["day_boundary"] += 1
        ev = _base(b, "interaction", p.cid, occ, style)
        ev.update({"post_id": post.post_id, "influencer_id": post.member.influencer_id,
                   "action": action})
        if (action in ("impression", "view") and rng.random() < 0.85) or rng.random() < 0.3:
            ev["viewer_id"] = rng.choice(viewers)
        elif rng.random() < 0.1:
            ev["viewer_id"] = None
            b.features["null_field"] += 1
        if rng.random() < 0.08:
            ev["count"] = rng.choice([2, 3, 10, 250, rng.randint(2, 5000)])
            b.features["count_gt_1"] += 1
        elif rng.random() < 0.2:
            ev["count"] = 1
        delay, late = _delay(rng, 0.02)
        proc = occ + delay
        text = b.line(proc, ev, feature="interaction_late" if late else "interaction")
        b.features[f"action_{action}"] += 1
        sent_interactions.append((proc, text))
        if i % 53 == 0:
            b.add_text(proc + rng.randint(1, 120) * SEC, text)
            b.features["dup_exact_interactions"] += 1
        if i % 211 == 0:
            b.add_text(proc + rng.randint(3 * HOUR, 20 * HOUR), text)
            b.features["resend_interaction_beyond_horizon"] += 1

    link_owner = [(m, lnk) for m in members for lnk in m.link_ids]
    for i in range(n_clicks):
        post = rng.choice(posts)
        m = post.member
        lnk = rng.choice(m.link_ids)
        occ = post.published + min(int(rng.weibullvariate(3 * HOUR, 0.8)), 48 * HOUR)
        occ += rng.randint(0, SEC - 1)
        ev = _base(b, "click", p.cid, occ)
        ev.update({"link_id": lnk, "influencer_id": m.influencer_id,
                   "channel": rng.choice(["link", "swipe_up", "qr", "bio_link"])})
        if rng.random() < 0.8:
            ev["post_id"] = post.post_id
        elif rng.random() < 0.3:
            ev["post_id"] = None
        if rng.random() < 0.85:
            ev["visitor_id"] = rng.choice(visitors)
        r = rng.random()
        if r < 0.12:
            ev["user_agent"] = _mixed_case(rng, rng.choice(BOT_AGENTS))
            b.features["click_bot_ua"] += 1
        elif r < 0.95:
            ev["user_agent"] = rng.choice(HUMAN_AGENTS)
        delay, late = _delay(rng, 0.02)
        proc = occ + delay
        text = b.line(proc, ev, feature="click_late" if late else "click")
        if "post_id" not in ev or ev["post_id"] is None:
            b.features["click_without_post"] += 1
        if "visitor_id" not in ev:
            b.features["click_without_visitor"] += 1
        if i % 41 == 0:
            b.add_text(proc + rng.randint(1, 200) * SEC, text)
            b.features["dup_exact_clicks"] += 1
        if i % 157 == 0:
            b.add_text(proc + rng.randint(3 * HOUR, 20 * HOUR), text)
            b.features["resend_click_beyond_horizon"] += 1
        # Orders from clicks (last-click attribution by link).
        if rng.random() < 0.06:
            oocc = occ + rng.randint(MIN, 30 * HOUR)
            _order(b, rng, p, oocc, link_id=lnk, feature="order_by_link")

    # Every bot marker, each in mixed case, once per campaign.
    t0 = p.starts + 7 * HOUR
    for j, ua in enumerate(BOT_AGENTS):
        m, lnk = link_owner[j % len(link_owner)]
        ev = _base(b, "click", p.cid, t0 + j * MIN)
        ev.update({"link_id": lnk, "influencer_id": m.influencer_id, "channel": "link",
                   "visitor_id": f"vis-bot-{j}", "user_agent": _mixed_case(rng, ua)})
        b.line(t0 + j * MIN + SEC, ev, feature="bot_marker")

    # Repeat clicks: same visitor and link at +29 min (repeat), +31 min (valid again);
    # another pair exactly 30 min apart (valid: the window is (t - 30 min, t]).
    for k, gaps in enumerate([(0, 29, 31), (0, 30), (0, 0, 10)]):
        m, lnk = link_owner[k % len(link_owner)]
        start = p.starts + (9 + k) * HOUR + 17 * MIN
        vis = f"vis-rep-{k}"
        for g in gaps:
            ev = _base(b, "click", p.cid, start + g * MIN)
            ev.update({"link_id": lnk, "influencer_id": m.influencer_id, "channel": "qr",
                       "visitor_id": vis, "user_agent": HUMAN_AGENTS[0]})
            b.line(start + g * MIN + 2 * SEC, ev, feature="repeat_click_series")

    # Orders by promo code (mixed case), unattributed, out of window, currency mismatch.
    n_orders = max(8, budget // 40)
    ends_window = p.ends + (7 if p.attribution is None else p.attribution) * DAY
    for _ in range(n_orders):
        occ = p.starts + rng.randint(HOUR, p.ends - p.starts)
        r = rng.random()
        if r < 0.45:
            m = rng.choice(p.roster)
            code = rng.choice(m.promo_codes)
            code = code.upper() if "ß" in code else _mixed_case(rng, code)
            _order(b, rng, p, occ, promo=code, feature="order_by_code")
        elif r < 0.6:
            _order(b, rng, p, occ, promo=rng.choice(["FREESHIP", "WELCOME10"]),
                   feature="order_unknown_code")
        elif r < 0.75:
            _order(b, rng, p, occ, feature="order_unattributed")
        elif r < 0.85:
            m = rng.choice(p.roster)
            _order(b, rng, p, occ, promo=m.promo_codes[0], link_id=rng.choice(p.roster).link_ids[0],
                   feature="order_code_and_link")
        else:
            _order(b, rng, p, occ, link_id=rng.choice(link_owner)[1], feature="order_by_link")
    _order(b, rng, p, ends_window, promo=p.roster[0].promo_codes[0], feature="order_at_window_end")
    _order(b, rng, p, ends_window + 1, feature="order_out_of_window", delay=HOUR)
    _order(b, rng, p, ends_window + 2 * DAY, promo=p.roster[1].promo_codes[0],
           feature="order_out_of_window", delay=HOUR)
    if p.cid == "cmp-shop-conv":
        _order(b, rng, p, p.starts + 20 * HOUR, promo="STRASSE10", feature="order_casefold_sz")
        _order(b, rng, p, p.starts - 2 * HOUR, promo="été-soldes", feature="order_before_start")
    other = "USD" if p.currency != "USD" else "EUR"
    _order(b, rng, p, p.starts + 26 * HOUR, currency=other, feature="order_currency_mismatch")
    if p.cid == "cmp-late-def":
        # Orders processed before the definition: unattributed, no currency or window check.
        for j in range(4):
            occ = p.starts + (2 + j) * HOUR
            text = _order(b, rng, p, occ, promo=p.roster[0].promo_codes[0],
                          currency=other if j == 0 else p.currency,
                          feature="order_before_definition")
            if j == 0:
                # Its copy after the definition: check 8 (currency) comes before the
                # duplicate check, so the copy is a currency_mismatch, not a duplicate.
                b.add_text(p.def_proc + 2 * MIN, text)
                b.features["dup_after_definition_currency_mismatch"] += 1

    # Content reviews and re-reviews.
    reviewers = ["rev-anne", "rev-bruno", "rev-chloé"]
    for i, post in enumerate(posts):
        if rng.random() < 0.35:
            continue
        for rv in rng.sample(reviewers, rng.randint(1, 2)):
            occ = post.published + rng.randint(2 * HOUR, 30 * HOUR)
            ev = _review(b, rng, p.cid, post, rv, occ=occ)
            proc = occ + rng.randint(0, 3 * HOUR)
            text = b.line(proc, ev, feature="review")
            if i % 5 == 0:
                newer = _review(b, rng, p.cid, post, rv, occ=occ + HOUR)
                b.line(proc + 2 * HOUR, newer, feature="re_review_newer")
            elif i % 5 == 1:
                older = _review(b, rng, p.cid, post, rv, occ=occ - HOUR)
                b.line(proc + 2 * HOUR, older, feature="re_review_older")
            elif i % 5 == 2:
                tie = _review(b, rng, p.cid, post, rv, occ=occ)
                b.line(proc + 2 * HOUR, tie, feature="re_review_tie")
            elif i % 5 == 3:
                b.add_text(proc + 5 * MIN, text)
                b.features["dup_exact_reviews"] += 1
            elif i % 10 == 4:
                other_m = rng.choice(members)
                moved = _review(b, rng, p.cid, post, rv, occ=occ + 2 * HOUR)
                moved["influencer_id"] = other_m.influencer_id
                b.line(proc + 3 * HOUR, moved, feature="re_review_other_influencer")

    _v2_mix(b, rng, p, posts, members=members, budget=budget)


# ---- v2 traffic on top of the v1 mix ------------------------------------------------------


def _v2_mix(b: _Builder, rng: random.Random, p: Plan, posts: list[Post], *,
            members: list[Member], budget: int) -> None:
    """Platform snapshots, refunds, conversions and survey answers of one campaign."""
    for k, post in enumerate(posts):
        if post.source == "platform":
            first = _snapshot_series(b, rng, p, post)
            if k % 3 == 2:
                # An interaction naming a post whose source is fixed to platform.
                ev = _base(b, "interaction", p.cid, first + 2 * HOUR)
                ev.update({"post_id": post.post_id, "influencer_id": post.member.influencer_id,
                           "action": "impression", "viewer_id": f"vw-{p.cid[4:8]}-00001"})
                b.line(first + 2 * HOUR + 5 * SEC, ev, feature="source_mismatch_interaction")
        elif k % 9 == 1:
            # A snapshot naming a post whose interactions came first.
            occ = post.published + 20 * HOUR
            ev = _base(b, "post_metrics", p.cid, occ)
            ev.update({"post_id": post.post_id, "influencer_id": post.member.influencer_id,
                       "impressions": 1000, "likes": 40})
            b.line(occ + 30 * SEC, ev, feature="source_mismatch_snapshot")
    _refunds(b, rng, p)
    _conversions(b, rng, p, members, max(10, budget // 25) * b.v2)
    _surveys(b, rng, p, max(12, budget // 20) * b.v2)


def _snapshot_series(b: _Builder, rng: random.Random, p: Plan, post: Post) -> int:
    """Lifetime counters of one post, polled again and again; return the first poll's time."""
    truth = dict.fromkeys(SNAPSHOT_METRICS, 0)
    occ = post.published + rng.randint(5 * MIN, 90 * MIN)
    first = occ
    scale = rng.choice([3, 30, 300, 3000])
    for j in range(rng.randint(4, 10) + 2 * (b.v2 - 1)):
        r = rng.random()
        if j and r < 0.12:  # platform corrections: unlikes, removed bots
            metric = rng.choice(["likes", "reach", "impressions", "views", "saves"])
            truth[metric] = max(0, truth[metric] - rng.randint(1, 5 * scale))
            b.features["snapshot_decrease"] += 1
        elif j and r < 0.2:
            b.features["snapshot_unchanged"] += 1  # every delta 0
        else:
            truth["impressions"] += rng.randint(0, 50 * scale)
            truth["reach"] = min(truth["impressions"], truth["reach"] + rng.randint(0, 30 * scale))
            truth["views"] += rng.randint(0, 20 * scale)
            truth["likes"] += rng.randint(0, 4 * scale)
            for metric in ["comments", "shares", "saves", "replies"]:
                truth[metric] += rng.randint(0, scale // 2 + 1)
        ev = _base(b, "post_metrics", p.cid, occ)
        ev.update({"post_id": post.post_id, "influencer_id": post.member.influencer_id})
        carried = [m for m in SNAPSHOT_METRICS if rng.random() < 0.8] or ["impressions"]
        for metric in carried:
            ev[metric] = truth[metric]
        if len(carried) < len(SNAPSHOT_METRICS):
            b.features["snapshot_metric_absent"] += 1
            if rng.random() < 0.2:
                ev[next(m for m in SNAPSHOT_METRICS if m not in carried)] = None
                b.features["null_field"] += 1
        if "reach" in carried:
            b.features["snapshot_platform_reach"] += 1
        r = rng.random()
        if j and r < 0.04:  # hours late: usually late and stale
            delay = rng.randint(7 * HOUR, 30 * HOUR)
            b.features["snapshot_delayed_late"] += 1
        elif j and r < 0.15:  # processed after the next poll: stale
            delay = rng.randint(1 * HOUR, 5 * HOUR)
            b.features["snapshot_delayed"] += 1
        else:
            delay = rng.randint(0, 90 * SEC)
        proc = occ + delay
        text = b.line(proc, ev, feature="snapshot")
        r = rng.random()
        if r < 0.06:  # another poll at the same occurred_at, processed later: a tie
            tie = dict(ev, event_id=b.new_id("ev"))
            for metric in carried:
                tie[metric] = truth[metric] + rng.randint(0, 3)
            b.line(proc + rng.randint(1, 60) * SEC, tie, feature="snapshot_tie")
        elif r < 0.11:
            b.add_text(proc + rng.randint(1, 120) * SEC, text)
            b.features["dup_exact_snapshots"] += 1
        elif r < 0.14:
            b.add_text(proc + rng.randint(3 * HOUR, 20 * HOUR), text)
            b.features["resend_snapshot_beyond_horizon"] += 1
        occ += rng.randint(30 * MIN, 8 * HOUR)
    return first


def _refund(b: _Builder, p: Plan, order: dict[str, Any], occ: int, *, proc: int, amount: int,
            feature: str, currency: str | None = None,
            refund_id: str | None = None) -> tuple[str, str]:
    """Send a refund of ``order``; return its line's text and its refund_id."""
    ev = _base(b, "order_refund", p.cid, occ)
    ev.update({"refund_id": refund_id or b.new_id("rfd"), "order_id": order["order_id"],
               "amount_minor": amount, "currency": currency or p.currency})
    return b.line(proc, ev, feature=feature), ev["refund_id"]


def _refunds(b: _Builder, rng: random.Random, p: Plan) -> None:
    other = "USD" if p.currency != "USD" else "EUR"
    mine = [(ev, proc, feature) for ev, proc, feature in b.orders if ev["campaign_id"] == p.cid]
    for n, (order, order_proc, feature) in enumerate(mine):
        amount = order["amount_minor"]
        order_occ = parse_time(order["occurred_at"])
        occ = order_occ + rng.randint(HOUR, 40 * HOUR)
        late = rng.random() < 0.05
        delay = rng.randint(7 * HOUR, 30 * HOUR) if late else rng.randint(0, 60) * SEC
        proc = max(occ + delay, order_proc + MIN)  # after its order, on the same partition
        if n == 0:
            ghost = {"order_id": b.new_id("ord-never")}
            _refund(b, p, ghost, occ, proc=proc, amount=500,
                    feature="refund_unmatched_never_seen")
        if feature == "order_before_definition":
            # Before the definition: no currency check. Its copy after the definition is a
            # duplicate when the currency is the campaign's, else a currency_mismatch.
            text, _ = _refund(b, p, order, order_occ + 10 * MIN, proc=order_proc + 5 * MIN,
                              amount=amount // 4, currency=order["currency"],
                              feature="refund_before_definition")
            b.add_text(p.def_proc + 4 * MIN, text)
            b.features["dup_after_definition_currency_mismatch"
                       if order["currency"] != p.currency else "dup_exact_refunds"] += 1
            continue
        if feature in ("order_out_of_window", "order_currency_mismatch"):
            # Not in `orders`: refunds_unmatched only.
            _refund(b, p, order, occ, proc=proc, amount=amount,
                    feature=f"refund_unmatched_{feature.removeprefix('order_')}")
            continue
        r = rng.random() / b.v2
        if r < 0.13 and late:
            b.features["refund_late"] += 1
        if r < 0.05:
            _refund(b, p, order, occ, proc=proc, amount=amount, feature="refund_full")
        elif r < 0.09:
            cut = rng.randint(1, amount - 1)
            _refund(b, p, order, occ, proc=proc, amount=cut, feature="refund_partial")
            _refund(b, p, order, occ + HOUR, proc=proc + HOUR, amount=amount - cut,
                    feature="refund_partial_exact_sum")
            if rng.random() < 0.5:
                _refund(b, p, order, occ + 2 * HOUR, proc=proc + 2 * HOUR, amount=1,
                        feature="refund_exceeds")
        elif r < 0.11:
            text, rid = _refund(b, p, order, occ, proc=proc, amount=amount // 2,
                                feature="refund_partial")
            _refund(b, p, order, occ, proc=proc + MIN, amount=amount // 3, refund_id=rid,
                    feature="refund_dup_refund_id")
            b.add_text(proc + 2 * MIN, text)
            b.features["dup_exact_refunds"] += 1
        elif r < 0.12:
            _refund(b, p, order, occ, proc=proc, amount=100, currency=other,
                    feature="refund_currency_mismatch")
        elif r < 0.13:
            # Processed before its order: not among the orders counted before it.
            _refund(b, p, order, order_occ - MIN, proc=order_proc - 10 * SEC, amount=100,
                    feature="refund_before_order")


def _conversions(b: _Builder, rng: random.Random, p: Plan, members: list[Member],
                 n: int) -> None:
    other = "USD" if p.currency != "USD" else "EUR"
    ends_window = p.ends + (7 if p.attribution is None else p.attribution) * DAY
    links = [lnk for m in members for lnk in m.link_ids]

    def send(occ: int, feature: str, *, delay: int | None = None, **fields: Any) -> str:
        ev = _base(b, "conversion", p.cid, occ)
        ev.update({"conversion_id": b.new_id("cnv"), "action": rng.choice(CONVERSION_ACTIONS)})
        ev.update(fields)
        if "promo_code" not in ev and "link_id" not in ev:
            b.features["conversion_unattributed"] += 1
        b.features[f"conversion_{ev['action']}"] += 1
        late = delay is None and rng.random() < 0.03
        if delay is None:
            delay = rng.randint(7 * HOUR, 30 * HOUR) if late else rng.randint(0, 120) * SEC
        proc = occ + delay
        if p.cid == "cmp-late-def" and feature != "conversion_before_definition":
            proc = max(proc, p.def_proc + MIN)
        text = b.line(proc, ev, feature="conversion_late" if late else feature)
        r = rng.random()
        if r < 0.04:
            b.add_text(proc + rng.randint(1, 3600) * SEC, text)
            b.features["dup_exact_conversions"] += 1
        elif r < 0.08:
            again = dict(ev, event_id=b.new_id("ev"))
            b.line(proc + rng.randint(1, 3600) * SEC, again, feature="conversion_dup_id")
        return text

    for _ in range(n):
        occ = p.starts + rng.randint(HOUR, p.ends - p.starts)
        fields: dict[str, Any] = {}
        r = rng.random()
        if r < 0.35:
            fields["promo_code"] = _mixed_case(rng, rng.choice(rng.choice(p.roster).promo_codes))
            b.features["conversion_code"] += 1
        elif r < 0.65:
            fields["link_id"] = rng.choice(links)
            b.features["conversion_link"] += 1
        elif r < 0.75:
            fields["promo_code"] = "NOTACODE"
        if rng.random() < 0.5:
            fields["customer_id"] = f"cus-{rng.randint(1, 400):04d}"
        r = rng.random()
        if r < 0.5:
            fields["value_minor"] = rng.choice([0, rng.randint(100, 50_000)])
            fields["currency"] = p.currency
            b.features["conversion_value_currency"] += 1
        elif r < 0.65:
            fields["currency"] = p.currency
            b.features["conversion_currency_no_value"] += 1
        else:
            b.features["conversion_no_value"] += 1
        send(occ, "conversion", **fields)
    send(ends_window, "conversion_at_window_end", link_id=links[0])
    send(ends_window + 1, "conversion_out_of_window", delay=HOUR,
         promo_code=p.roster[0].promo_codes[0])
    send(ends_window + 2 * DAY, "conversion_out_of_window", delay=HOUR, value_minor=10**12,
         currency=p.currency)
    send(p.starts + 5 * HOUR, "conversion_currency_mismatch", value_minor=500, currency=other)
    send(p.starts + 6 * HOUR, "conversion_currency_mismatch", currency=other)  # no value
    send(p.starts + 7 * HOUR, "conversion_value_max", value_minor=10**12, currency=p.currency,
         link_id=links[-1])
    if p.cid == "cmp-late-def":
        # Processed before the definition: unattributed, no currency or window check.
        for j in range(3):
            text = send(p.starts + (2 + j) * HOUR, "conversion_before_definition", delay=MIN,
                        promo_code=p.roster[0].promo_codes[0], value_minor=100 * (j + 1),
                        currency=other if j == 0 else p.currency)
            if j == 0:  # its copy after the definition: currency_mismatch (check 8) first
                b.add_text(p.def_proc + 3 * MIN, text)
                b.features["dup_after_definition_currency_mismatch"] += 1


def _surveys(b: _Builder, rng: random.Random, p: Plan, n: int) -> None:
    respondents = [(f"rsp-{p.cid[4:8]}-{i:03d}", "exposed" if rng.random() < 0.6 else "control")
                   for i in range(max(8, n // 3))]
    for _ in range(n):
        resp, group = rng.choice(respondents)
        question = rng.choice(QUESTIONS)
        occ = p.starts + rng.randint(0, p.ends - p.starts)
        ev = _base(b, "survey_response", p.cid, occ)
        ev.update({"respondent_id": resp, "group": group, "question": question,
                   "positive": rng.random() < (0.5 if group == "exposed" else 0.35)})
        delay, late = _delay(rng, 0.03)
        text = b.line(occ + delay, ev, feature="survey_late" if late else "survey")
        proc = occ + delay
        r = rng.random()
        if r < 0.08:
            newer = dict(ev, event_id=b.new_id("ev"),
                         occurred_at=b.time(occ + rng.randint(1, 20) * HOUR),
                         positive=not ev["positive"])
            if rng.random() < 0.4:
                newer["group"] = "control" if group == "exposed" else "exposed"
                b.features["survey_group_change"] += 1
            b.line(proc + 21 * HOUR, newer, feature="survey_newer")
        elif r < 0.12:
            older = dict(ev, event_id=b.new_id("ev"),
                         occurred_at=b.time(occ - rng.randint(1, 5) * HOUR),
                         positive=not ev["positive"])
            b.line(proc + HOUR, older, feature="survey_older")
        elif r < 0.15:
            tie = dict(ev, event_id=b.new_id("ev"), positive=not ev["positive"])
            b.line(proc + MIN, tie, feature="survey_tie")
        elif r < 0.18:
            b.add_text(proc + rng.randint(1, 600) * SEC, text)
            b.features["dup_exact_surveys"] += 1


def _review(b: _Builder, rng: random.Random, cid: str, post: Post, reviewer: str, *,
            occ: int) -> dict[str, Any]:
    ev = _base(b, "content_review", cid, occ)
    crit = rng.sample(CRITERIA, rng.randint(1, 6))
    scores: dict[str, Any] = {c: rng.randint(1, 5) for c in crit}
    if len(crit) < 6 and rng.random() < 0.2:
        scores[next(c for c in CRITERIA if c not in crit)] = None  # null score: dropped
        b.features["null_score"] += 1
    ev.update({"post_id": post.post_id, "influencer_id": post.member.influencer_id,
               "reviewer_id": reviewer, "scores": scores})
    if rng.random() < 0.4:
        ev["comment"] = rng.choice(["Très bon placement produit.", "Ton un peu forcé",
                                    "Great hook in the first 2s", "Mention légale absente"])
    return ev


def _order(b: _Builder, rng: random.Random, p: Plan, occ: int, *, promo: str | None = None,
           link_id: str | None = None, currency: str | None = None, feature: str,
           delay: int | None = None) -> str:
    """Send an order (sometimes with a copy); return its line's text."""
    ev = _base(b, "order", p.cid, occ)
    ev.update({"order_id": b.new_id("ord"), "amount_minor": rng.randint(1_500, 25_000),
               "currency": currency or p.currency})
    if promo is not None:
        ev["promo_code"] = promo
    elif rng.random() < 0.2:
        ev["promo_code"] = None
    if link_id is not None:
        ev["link_id"] = link_id
    if rng.random() < 0.7:
        ev["customer_id"] = f"cus-{rng.randint(1, 400):04d}"
    proc = occ + (delay if delay is not None else rng.randint(0, 120) * SEC)
    if p.cid == "cmp-late-def" and feature != "order_before_definition":
        proc = max(proc, p.def_proc + MIN)
    text = b.line(proc, ev, feature=feature)
    b.orders.append((ev, proc, feature))
    r = rng.random()
    if r < 0.05:
        b.add_text(proc + rng.randint(1, 3600) * SEC, text)
        b.features["dup_exact_orders"] += 1
    elif r < 0.1:
        again = dict(ev, event_id=b.new_id("ev"))
        b.line(proc + rng.randint(1, 3600) * SEC, again, feature="dup_order_id_new_event_id")
    return text


def _definitions_extra(b: _Builder, rng: random.Random, plans: list[Plan]) -> None:
    aw, eng, conv = plans[0], plans[1], plans[2]
    # Exact re-send of a definition.
    text = b.line(aw.def_proc + HOUR, _definition(b, aw, aw.def_proc - 10 * MIN),
                  feature="definition_v2")
    b.add_text(aw.def_proc + 2 * HOUR, text)
    b.features["dup_exact_campaigns"] += 1
    # Newer definition of the conversion campaign: a longer attribution window, a new link,
    # a new target; processed mid-campaign, so later orders see it.
    conv.roster[0].link_ids.append("lnk-shop-new-1")
    conv.attribution = 5
    newer_occ = conv.starts + 36 * HOUR
    # v2: the newer definition changes an influencer's tier (the attribute follows it).
    conv.roster[1].tier = "mega" if conv.roster[1].tier != "mega" else "nano"
    b.features["redefinition_changes_tier"] += 1
    newer = _definition(b, conv, newer_occ, targets={"orders": 80, "ctr": 0.02})
    b.line(newer_occ + MIN, newer, feature="redefinition_newer")
    # An older one (processed later): counted, does not replace.
    older = _definition(b, conv, newer_occ - DAY, objective="engagement",
                        targets={"likes": 5})
    b.line(newer_occ + 2 * HOUR, older, feature="redefinition_older")
    # A tie with the one in force: replaces it.
    tie = _definition(b, conv, newer_occ,
                      targets={"orders": 90, "ctr": 0.02, "reach": 50, "conversions": 30,
                               "revenue_net_minor": 100_000, "refunds": 3,
                               "metrics_source": 1},  # an attribute: ignored
                      budget_minor=6_500_000)
    # Listed twice: the tier of the later entry.
    tie["influencers"].append({"influencer_id": conv.roster[2].influencer_id, "tier": "mega"})
    b.features["roster_listed_twice"] += 1
    b.line(newer_occ + 3 * HOUR, tie, feature="redefinition_tie")
    # A different currency: rejected whatever its time.
    bad = _definition(b, eng, eng.def_proc + DAY, currency="EUR")
    b.line(eng.starts + 12 * HOUR, bad, feature="redefinition_currency")
    # Orders using the new link after the redefinition.
    for j in range(3):
        _order(b, rng, conv, newer_occ + (4 + j) * HOUR, link_id="lnk-shop-new-1",
               feature="order_by_new_link")


def _invalid(b: _Builder, rng: random.Random, plans: list[Plan]) -> None:
    p = plans[0]
    cid = p.cid
    member = p.roster[0]
    t = p.starts + 14 * HOUR

    def click(occ: int) -> dict[str, Any]:
        ev = _base(b, "click", cid, occ)
        ev.update({"link_id": member.link_ids[0], "influencer_id": member.influencer_id,
                   "channel": "link", "visitor_id": "vis-0001"})
        return ev

    def inter(occ: int, **kw: Any) -> dict[str, Any]:
        ev = _base(b, "interaction", cid, occ)
        ev.update({"post_id": f"pst-{cid[4:8]}-0000", "influencer_id": member.influencer_id,
                   "action": "like"})
        ev.update(kw)
        return ev

    # malformed_json
    for k, raw in enumerate(['{"event_id": "x1", "type": "click", ', "",
                             '{"type": "click", "n": NaN}', '{"a": 1,}', "{'a': 1}"]):
        b.line(t + k * MIN, topic="clicks", key=cid, raw_value=raw, bare=False,
               feature="bad_malformed_json")
    # schema_violation (tagged)
    conv_cid = plans[2].cid
    sv: list[tuple[str, str]] = [
        ("clicks", "[1, 2, 3]"),
        ("clicks", json.dumps({k: v for k, v in click(t).items() if k != "type"})),
        ("clicks", json.dumps(dict(click(t), type=5))),
        ("interactions", json.dumps(inter(t, count=0))),
        ("interactions", json.dumps(inter(t, count=2.0))),
        ("interactions", json.dumps(inter(t, count=True))),
        ("interactions", json.dumps(inter(t, action=None))),
        ("interactions", json.dumps(inter(t, action="poke"))),
        ("interactions", json.dumps(inter(t, viewer_id="viewer with space"))),
        ("interactions", json.dumps(inter(t, post_id="a|b"))),
        ("interactions", json.dumps(inter(t, count=2**70))),
        ("interactions", json.dumps(dict(inter(t), occurred_at="2024-06-03 10:00:00Z"))),
        ("interactions", json.dumps(dict(inter(t), occurred_at="2024-06-03T10:00:60Z"))),
        ("clicks", json.dumps(dict(click(t), channel="email"))),
        ("content-reviews", json.dumps({**_base(b, "content_review", cid, t), "post_id": "p1",
                                        "influencer_id": "i1", "reviewer_id": "r1",
                                        "scores": {"humour": 3}})),
        ("content-reviews", json.dumps({**_base(b, "content_review", cid, t), "post_id": "p1",
                                        "influencer_id": "i1", "reviewer_id": "r1",
                                        "scores": {"tone": 6}})),
        ("orders", json.dumps({**_base(b, "order", cid, t), "order_id": "o-neg",
                               "amount_minor": -5, "currency": "EUR"})),
        ("orders", json.dumps({**_base(b, "order", cid, t), "order_id": "o-cur",
                               "amount_minor": 500, "currency": "eur"})),
        ("posts", json.dumps({**_base(b, "post_published", cid, t), "post_id": "p-x",
                              "influencer_id": member.influencer_id, "platform": "myspace",
                              "format": "post", "followers": 10})),
        ("posts", json.dumps({**_base(b, "post_published", cid, t), "post_id": "p-y",
                              "influencer_id": member.influencer_id, "platform": "tiktok",
                              "format": "post", "followers": "1000"})),
        ("campaigns", json.dumps(_definition(b, plans[2], t, ends_at=format_time(t, "s"),
                                             starts_at=format_time(t, "s")))),
    ]
    dup_code = _definition(b, plans[2], t)
    dup_code["influencers"][1]["promo_codes"] = [plans[2].roster[0].promo_codes[0].lower()]
    sv.append(("campaigns", json.dumps(dup_code)))
    for k, (topic, raw) in enumerate(sv):
        key = conv_cid if topic == "campaigns" else cid
        b.line(t + k * MIN + 30 * SEC, topic=topic, key=key, raw_value=raw, bare=False,
               schema_invalid=True, feature="bad_schema_violation")
    # type_mismatch: a well-formed click on interactions, an order on posts.
    b.line(t + HOUR, click(t + HOUR), topic="interactions", bare=False, feature="bad_type")
    ev = _base(b, "order", cid, t + HOUR)
    ev.update({"order_id": "o-tm", "amount_minor": 100, "currency": "EUR"})
    b.line(t + HOUR, ev, topic="posts", bare=False, feature="bad_type")
    # key_mismatch: null key, another campaign's id, a case variant.
    wrong_keys: list[str | None] = [None, plans[1].cid, cid.upper()]
    for k, wrong in enumerate(wrong_keys):
        b.line(t + HOUR + k * SEC, click(t + HOUR), key=wrong, bare=False, feature="bad_key")
    # future_timestamp: occurred_at more than 1 h after the record timestamp; and the
    # boundary (exactly 1 h) which is valid.
    occ = t + 2 * HOUR
    b.line(occ, click(occ), timestamp=(occ - 2 * HOUR) // 1000, bare=False,
           feature="bad_future_timestamp")
    b.line(occ, click(occ), timestamp=(occ - HOUR) // 1000, bare=False,
           feature="future_timestamp_boundary_ok")
    # too_large: a post with a 70 KB unknown field.
    big = _base(b, "post_published", cid, t)
    big.update({"post_id": "p-big", "influencer_id": member.influencer_id,
                "platform": "blog", "format": "post", "followers": 5, "blob": "x" * 70_000})
    b.line(t + 3 * HOUR, big, bare=False, feature="bad_too_large")
    # Lines that are not Kafka records: skipped, not dead-lettered.
    b.add_text(t + 3 * HOUR, "this is not json")
    b.add_text(t + 3 * HOUR, json.dumps({"topic": "unknown-topic", "key": cid, "value": "{}"}))
    b.features["bad_line"] += 2


def _edges(b: _Builder) -> None:
    """Hand-placed boundary cases, in a campaign of their own, in a fixed file order."""
    cid = "cmp-edge"
    proc = BASE + 20 * DAY
    t0 = BASE + 12 * HOUR

    def emit(ev: dict[str, Any], feature: str, **kw: Any) -> str:
        nonlocal proc
        proc += SEC
        kw.setdefault("bare", False)
        kw.setdefault("timestamp", None)
        return b.line(proc, ev, feature=feature, **kw)

    def base(typ: str, occ: int | str, eid: str | None = None) -> dict[str, Any]:
        at = occ if isinstance(occ, str) else format_time(occ, "us")
        return {"event_id": eid or b.new_id("edge"), "type": typ, "occurred_at": at,
                "campaign_id": cid}

    long_post = "p-" + "é" * 126  # a 128-code-point id
    roster = [{"influencer_id": "i-e1", "tier": "nano", "promo_codes": ["ff-deal"],
               "link_ids": ["l-e1", "l-e1b"]},
              {"influencer_id": "i-e2", "promo_codes": ["E2CODE"], "link_ids": ["l-e2"]}]
    roster += [{"influencer_id": f"i-fill-{i:04d}", "promo_codes": [f"FILL{i:04d}"],
                "link_ids": [f"l-fill-{i:04d}"]} for i in range(2500)]
    definition = base("campaign", t0 - DAY)
    definition.update({"name": "Edges", "objective": "conversion",
                       "starts_at": format_time(BASE, "s"),
                       "ends_at": format_time(BASE + 2 * DAY, "s"), "currency": "EUR",
                       "budget_minor": 0, "attribution_window_days": 0,
                       "targets": {"budget_used": 0.5, "orders": 2, "conversion_rate": 0.1,
                                   "not_a_kpi": -5},
                       "influencers": roster})
    emit(definition, "edge_big_definition")  # > 64 KiB, < 1 MiB: valid on campaigns

    def inter(occ: int | str, eid: str | None = None, post: str = "p-e1",
              viewer: str | None = "v1", action: str = "impression") -> dict[str, Any]:
        ev = base("interaction", occ, eid)
        ev.update({"post_id": post, "influencer_id": "i-e1", "action": action})
        if viewer:
            ev["viewer_id"] = viewer
        return ev

    post = base("post_published", t0)
    post.update({"post_id": long_post, "influencer_id": "i-e1", "platform": "instagram",
                 "format": "reel", "followers": 10**15, "cost_minor": 0})
    emit(post, "edge_long_id")
    # Lateness boundary: exactly 6 h behind is on time; 6 h + 1 us is late.
    emit(inter(t0), "edge_late")
    emit(inter(t0 + 6 * HOUR, viewer="v2"), "edge_late")
    emit(inter(t0, viewer="v3"), "edge_late_boundary_on_time")
    emit(inter(t0 - 1, viewer="v4"), "edge_late_boundary_late")
    # Dedup horizon boundary: copy exactly 10 min before the max is a duplicate; 10 min and
    # 1 us is not (counted again).
    t5 = t0 + 7 * HOUR
    first = emit(inter(t5, viewer="v5", action="like"), "edge_dedup")
    emit(inter(t5 + 10 * MIN, viewer="v6"), "edge_dedup")
    b.add_text(proc + 1, first)
    emit(inter(t5 + 10 * MIN + 1, viewer="v7"), "edge_dedup")
    b.add_text(proc + 1, first)
    b.add_text(proc + 2, first)
    proc += 3
    # Fractions: seven digits truncated (stays in the 19:59 minute), one digit with offset.
    emit(inter("2024-06-03T19:59:59.9999999Z", viewer="v8"), "edge_fraction")
    emit(inter("2024-06-03T21:00:00.5+02:00", viewer="v9"), "edge_fraction")
    emit(inter(t5 + 11 * MIN, post="p-never-published", viewer=None), "edge_unpublished_post")
    # A rejected record registers nothing: its event_id can be counted later.
    emit(inter(t5 + 12 * MIN, eid="edge-reuse"), "edge_reuse_rejected_id",
         raw_value=json.dumps(inter(t5 + 12 * MIN, eid="edge-reuse") | {"count": 0}),
         schema_invalid=True)
    emit(inter(t5 + 12 * MIN, eid="edge-reuse", viewer="v10"), "edge_reuse_rejected_id")
    # Future timestamp boundary: 1 h + 1 us after the record timestamp is rejected.
    occ = t5 + 13 * MIN
    emit(inter(occ, viewer="v11"), "edge_future_plus_1us", timestamp=(occ - HOUR - 1000) // 1000)
    late_click = t0 + 10 * HOUR

    def click(minute: int, visitor: str | None, link: str = "l-e1",
              ua: str | None = None) -> dict[str, Any]:
        ev = base("click", late_click + minute * MIN)
        ev.update({"link_id": link, "influencer_id": "i-e1", "channel": "link"})
        if visitor:
            ev["visitor_id"] = visitor
        if ua is not None:
            ev["user_agent"] = ua
        return ev

    emit(click(20, "w"), "edge_click_order")   # valid
    emit(click(10, "w"), "edge_click_order")   # valid: the 10:20 click is after it
    emit(click(25, "w"), "edge_click_order")   # repeat
    emit(click(26, "w", "l-e1b"), "edge_click_order")  # valid: other link
    emit(click(27, None), "edge_click_order")  # valid: no visitor
    emit(click(27, None), "edge_click_order")  # valid: no visitor, never a repeat
    emit(click(28, "x", ua="Mozilla RoBoT"), "edge_click_ua")   # bot
    emit(click(29, "y", ua=""), "edge_click_ua")                # valid
    emit(click(30, "z", ua="Mozilla/5.0 CURL 8"), "edge_click_ua")  # valid: no "curl/"
    emit(click(31, "z2", ua="WGET/1.0"), "edge_click_ua")       # bot

    ends = BASE + 2 * DAY

    def order(occ: int, eid: str | None = None, **kw: Any) -> dict[str, Any]:
        ev = base("order", occ, eid)
        ev.update({"order_id": kw.pop("order_id", b.new_id("o")), "amount_minor": 1000,
                   "currency": "EUR"})
        ev.update(kw)
        return ev

    emit(order(t0, eid="edge-o1", order_id="O1", currency="USD"), "edge_order_rejected_then_ok")
    emit(order(t0, eid="edge-o1", order_id="O1"), "edge_order_rejected_then_ok")
    emit(order(t0, promo_code="\ufb00-DEAL", amount_minor=10**12), "edge_order_ligature")
    emit(order(ends, amount_minor=0, link_id="l-e2"), "edge_order_window_end")
    emit(order(ends + 1, link_id="l-e2"), "edge_order_out_of_window")
    emit(order(t0 + HOUR, promo_code="nope", link_id="l-e2"), "edge_order_link")
    # Reviews: the tie names another influencer, who holds the review in force.
    review = base("content_review", t0 + HOUR)
    review.update({"post_id": "p-e1", "influencer_id": "i-e3", "reviewer_id": "r1",
                   "scores": {"tone": 5, "compliance": None}})
    emit(review, "edge_review")
    tie = dict(review, event_id=b.new_id("edge"), influencer_id="i-e1",
               scores={"tone": 2, "brand_fit": 3})
    emit(tie, "edge_review_tie_moves_influencer")
    # Ids are per campaign and topic: the post's event_id on interactions is not a duplicate.
    emit(inter(t5 + 14 * MIN, eid=post["event_id"], viewer="v12"), "edge_id_reuse_other_topic")
    # Value size boundary: exactly 64 KiB is fine, one byte more is too_large.
    for extra, feature in [(0, "edge_64k_exact"), (1, "bad_too_large")]:
        padded = inter(t5 + 15 * MIN, viewer="v13") | {"pad": ""}
        missing = 64 * 1024 + extra - len(json.dumps(padded).encode())
        padded["pad"] = "p" * missing
        emit(padded, feature, raw_value=json.dumps(padded))
    # More than 1 MiB on campaigns: too_large (the dead letter is cut to 64 KiB).
    huge = dict(definition, event_id=b.new_id("edge"), blob="b" * (1024 * 1024))
    emit(huge, "bad_too_large_campaign", raw_value=json.dumps(huge))
    # Two influencers' promo codes equal after case folding: schema_violation.
    clash = dict(definition, event_id=b.new_id("edge"),
                 influencers=[{"influencer_id": "i-a", "promo_codes": ["Straße"]},
                              {"influencer_id": "i-b", "promo_codes": ["STRASSE"]}])
    emit(clash, "bad_schema_violation", raw_value=json.dumps(clash), schema_invalid=True)
    emit(inter(t5, viewer="v14"), "bad_malformed_json",
         raw_value=json.dumps(inter(t5)).replace('"impression"', "-Infinity"))
    # Ids: a zero-width space is not White_Space (valid id); an ideographic space is.
    emit(inter(t5 + 16 * MIN, viewer="v\u200b15"), "edge_id_zero_width")
    emit(inter(t5 + 16 * MIN, viewer="v\u300016"), "bad_schema_violation",
         raw_value=json.dumps(inter(t5 + 16 * MIN, viewer="v\u300016")), schema_invalid=True)
    # Lengths count code points: a 64-code-point promo code of two-byte letters is valid.
    emit(order(t0 + 2 * HOUR, promo_code="é" * 64), "edge_code_64_code_points")
    bad_code = order(t0 + 2 * HOUR, promo_code="é" * 65)
    emit(bad_code, "bad_schema_violation", raw_value=json.dumps(bad_code), schema_invalid=True)
    # -0 is an integer without fraction or exponent; count 1,000,000 is the maximum.
    zero = order(t0 + 3 * HOUR)
    emit(zero, "edge_minus_zero",
         raw_value=json.dumps(zero).replace('"amount_minor": 1000', '"amount_minor": -0'))
    emit(inter(t5 + 17 * MIN, viewer="v17") | {"count": 1_000_000}, "edge_count_max")
    too_many = inter(t5 + 17 * MIN) | {"count": 1_000_001}
    emit(too_many, "bad_schema_violation", raw_value=json.dumps(too_many), schema_invalid=True)
    bad_day = inter(t5) | {"occurred_at": "2024-02-30T10:00:00Z"}
    emit(bad_day, "bad_schema_violation", raw_value=json.dumps(bad_day), schema_invalid=True)
    # Bare lines that are dead letters: the value is the line itself.
    emit(inter(t5 + 18 * MIN) | {"count": 0}, "bad_schema_violation_bare", bare=True,
         schema_invalid=True)
    no_campaign = inter(t5 + 18 * MIN)
    del no_campaign["campaign_id"]
    emit(no_campaign, "bad_schema_violation_bare", bare=True, key=None, schema_invalid=True)
    # Times at the ends of the range, in a campaign of their own (no definition).
    for at in ["1970-01-01T00:30:00+01:00", "2100-12-31T23:30:00-01:00"]:
        ev = inter(at)
        ev["campaign_id"] = "cmp-epoch"
        emit(ev, "edge_year_range", key="cmp-epoch")
    # Ids of another campaign are not duplicates; an order with no definition at all.
    other = inter(t0, eid=post["event_id"])
    other["campaign_id"] = "cmp-epoch"
    emit(other, "edge_id_reuse_other_campaign", key="cmp-epoch")
    lone = order(t0, order_id="O1", currency="XXX", promo_code="ff-deal")
    lone["campaign_id"] = "cmp-epoch"
    emit(lone, "edge_order_without_definition", key="cmp-epoch")


def _invalid_v2(b: _Builder, plans: list[Plan]) -> None:
    """v2 records that break a field rule (tagged) or arrive on a topic not theirs."""
    p = plans[0]
    cid = p.cid
    member = p.roster[0]
    t = p.starts + 15 * HOUR
    post_id = f"pst-{cid[4:8]}-0002"  # a platform post

    def ev(typ: str, **fields: Any) -> dict[str, Any]:
        out = _base(b, typ, cid, t)
        out.update(fields)
        return out

    def snap(**metrics: Any) -> dict[str, Any]:
        return ev("post_metrics", post_id=post_id, influencer_id=member.influencer_id, **metrics)

    def refund(**fields: Any) -> dict[str, Any]:
        return ev("order_refund", **{"refund_id": "rf-bad", "order_id": "ord-x",
                                     "amount_minor": 100, "currency": p.currency, **fields})

    def conversion(**fields: Any) -> dict[str, Any]:
        return ev("conversion", **{"conversion_id": "cv-bad", "action": "lead", **fields})

    def answer(**fields: Any) -> dict[str, Any]:
        return ev("survey_response", **{"respondent_id": "rsp-bad", "group": "exposed",
                                        "question": "recall", "positive": True, **fields})

    no_influencer = snap(likes=3)
    del no_influencer["influencer_id"]
    no_refund_id = refund()
    del no_refund_id["refund_id"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("interactions", snap(), "bad_snapshot_no_metric"),
        ("interactions", snap(likes=None, reach=None), "bad_snapshot_no_metric"),
        ("interactions", snap(likes=-1), "bad_snapshot_metric"),
        ("interactions", snap(impressions=10**12 + 1), "bad_snapshot_metric"),
        ("interactions", snap(reach=1.5), "bad_snapshot_metric"),
        ("interactions", snap(views="10"), "bad_snapshot_metric"),
        ("interactions", snap(likes=True), "bad_snapshot_metric"),
        ("interactions", no_influencer, "bad_snapshot_metric"),
        ("orders", refund(amount_minor=0), "bad_refund"),
        ("orders", refund(amount_minor=10**12 + 1), "bad_refund"),
        ("orders", refund(currency=p.currency.lower()), "bad_refund"),
        ("orders", no_refund_id, "bad_refund"),
        ("orders", refund(order_id="a b"), "bad_refund"),
        ("conversions", conversion(value_minor=500), "bad_conversion_value_without_currency"),
        ("conversions", conversion(action="purchase"), "bad_conversion"),
        ("conversions", conversion(value_minor=-1, currency=p.currency), "bad_conversion"),
        ("conversions", conversion(value_minor=10**12 + 1, currency=p.currency),
         "bad_conversion"),
        ("conversions", conversion(currency="EURO"), "bad_conversion"),
        ("conversions", conversion(conversion_id="cv|1"), "bad_conversion"),
        ("surveys", answer(positive=1), "bad_survey_boolean"),
        ("surveys", answer(positive=0), "bad_survey_boolean"),
        ("surveys", answer(positive="true"), "bad_survey_boolean"),
        ("surveys", answer(positive="false"), "bad_survey_boolean"),
        ("surveys", answer(positive=None), "bad_survey"),
        ("surveys", answer(group="treatment"), "bad_survey"),
        ("surveys", answer(question="loyalty"), "bad_survey"),
        ("surveys", answer(respondent_id=""), "bad_survey"),
        ("surveys", answer(group="Exposed"), "bad_survey"),  # enums are case-sensitive
        ("conversions", conversion(value_minor=5, currency=None),  # null is absent
         "bad_conversion_value_without_currency"),
        ("conversions", conversion(action="Lead"), "bad_conversion"),
        ("orders", refund(amount_minor="100"), "bad_refund"),
    ]
    raw_cases = [json.dumps(snap(likes=7)).replace('"likes": 7', '"likes": 1e3'),
                 json.dumps(snap(likes=7)).replace('"likes": 7', '"likes": 7.0')]
    for k, (topic, event, feature) in enumerate(cases):
        b.line(t + k * MIN, event, topic=topic, raw_value=json.dumps(event), bare=False,
               schema_invalid=True, feature=feature)
        b.features["bad_schema_violation"] += 1
    for k, raw in enumerate(raw_cases):  # integers have no fraction and no exponent
        b.line(t + k * SEC, topic="interactions", key=cid, raw_value=raw, bare=False,
               schema_invalid=True, feature="bad_snapshot_metric")
    # Valid: -0 is an integer (0); a v2 value just under 64 KiB; one byte over is too_large.
    minus_zero = json.dumps(snap(likes=7)).replace('"likes": 7', '"likes": -0')
    b.line(t + 2 * HOUR, topic="interactions", key=cid, raw_value=minus_zero, bare=False,
           feature="snapshot_minus_zero")
    for extra, feature in [(0, "survey_64k_exact"), (1, "bad_too_large_v2")]:
        padded = answer(respondent_id="rsp-pad", pad="")
        padded["pad"] = "p" * (64 * 1024 + extra - len(json.dumps(padded).encode()))
        b.line(t + 2 * HOUR, padded, topic="surveys", raw_value=json.dumps(padded), bare=False,
               feature=feature)
    # type_mismatch: v2 types on topics that do not carry them, and the other way round.
    order = ev("order", order_id="ord-tm2", amount_minor=100, currency=p.currency)
    mismatched: list[tuple[str, dict[str, Any]]] = [
        ("clicks", snap(likes=3)), ("conversions", refund()), ("orders", conversion()),
        ("content-reviews", answer()), ("surveys", ev("interaction", post_id=post_id,
                                                      influencer_id=member.influencer_id,
                                                      action="like")),
        ("conversions", order),
    ]
    for k, (topic, event) in enumerate(mismatched):
        b.line(t + HOUR + k * SEC, event, topic=topic, bare=False, feature="bad_type_v2")


def _edges_v2(b: _Builder) -> None:
    """Hand-placed v2 cases in campaign ``cmp-edge2``, in a fixed file order.

    ``test_oracle_sees_the_v2_edges`` holds the values worked out by hand from the contract.
    """
    cid = "cmp-edge2"
    proc = BASE + 25 * DAY
    t0 = BASE + 12 * HOUR  # 2024-06-03T12:00:00Z

    def emit(ev: dict[str, Any], feature: str, **kw: Any) -> str:
        nonlocal proc
        proc += SEC
        kw.setdefault("bare", False)
        kw.setdefault("timestamp", None)
        return b.line(proc, ev, feature=feature, **kw)

    def again(text: str, feature: str) -> None:
        nonlocal proc
        proc += SEC
        b.add_text(proc, text)
        b.features[feature] += 1

    def base(typ: str, occ: int, eid: str | None = None, **fields: Any) -> dict[str, Any]:
        ev = {"event_id": eid or b.new_id("e2"), "type": typ,
              "occurred_at": format_time(occ, "us"), "campaign_id": cid}
        ev.update(fields)
        return ev

    roster: list[dict[str, Any]] = [
        {"influencer_id": "i-a", "tier": "micro", "promo_codes": ["ACODE"], "link_ids": ["l-a"]},
        {"influencer_id": "i-b", "tier": "nano", "link_ids": ["l-b"]},
        {"influencer_id": "i-d", "tier": "nano"},
        {"influencer_id": "i-e", "tier": "mid"},
        {"influencer_id": "i-d", "tier": "macro"},  # listed twice: the later entry
        {"influencer_id": "i-e"},  # listed twice, the later entry without a tier
        {"influencer_id": "i-f", "tier": "mega"},  # the newer definition drops i-f
    ]
    definition = base("campaign", t0 - DAY, name="Edges v2", objective="conversion",
                      starts_at=format_time(BASE, "s"), ends_at=format_time(BASE + 2 * DAY, "s"),
                      currency="EUR", budget_minor=100_000, attribution_window_days=0,
                      targets={"conversions": 4, "roas_net": 2, "reach_sum": 100,
                               "cost_per_conversion_minor": 10, "stale_snapshots": 1,
                               "brand_lift": 0.5, "conversions_by_action": 1, "tier": 3,
                               "metrics_source": 1},
                      influencers=roster)
    emit(definition, "edge2_definition")

    # Posts: P1 gets interactions (events), P2, P3 and P5 snapshots (platform); P4 is never
    # published. P5 is published by i-b, its snapshot names i-a.
    def post(post_id: str, influencer: str, platform: str, fmt: str, *, followers: int,
             occ: int, cost: int | None) -> dict[str, Any]:
        ev = base("post_published", occ, post_id=post_id, influencer_id=influencer,
                  platform=platform, format=fmt, followers=followers)
        if cost is not None:
            ev["cost_minor"] = cost
        return ev

    p1 = post("p2-events", "i-a", "tiktok", "short", followers=1000, occ=t0, cost=500)
    emit(p1, "edge2_post")
    emit(post("p2-plat", "i-a", "instagram", "reel", followers=2000, occ=t0 + 30 * MIN,
              cost=700), "edge2_post")
    emit(post("p2-plat-late", "i-a", "youtube", "video", followers=3000, occ=t0, cost=300),
         "edge2_post")
    p5 = post("p2-other-inf", "i-b", "x", "post", followers=400, occ=t0, cost=None)
    emit(p5, "edge2_post")
    # A duplicate post_id naming another influencer: i-a's reach_sum does not get the post.
    emit(dict(p5, event_id=b.new_id("e2"), influencer_id="i-a"), "dup_post_id_other_influencer")
    emit(dict(p1, event_id=b.new_id("e2"), platform="blog", format="post"),
         "dup_post_id_other_platform")

    def inter(occ: int, post_id: str, action: str, viewer: str | None,
              eid: str | None = None) -> dict[str, Any]:
        ev = base("interaction", occ, eid, post_id=post_id, influencer_id="i-a", action=action)
        if viewer is not None:
            ev["viewer_id"] = viewer
        return ev

    def snap(occ: int, post_id: str, influencer: str = "i-a", eid: str | None = None,
             **metrics: int) -> dict[str, Any]:
        return base("post_metrics", occ, eid, post_id=post_id, influencer_id=influencer,
                    **metrics)

    for k in range(5):
        emit(inter(t0 + (10 + k) * MIN, "p2-events", "impression", f"v{k + 1}"), "edge2_inter")
    s1 = emit(snap(t0 + HOUR, "p2-plat", impressions=100, reach=80, likes=10),
              "snapshot_source_first")
    x1 = emit(inter(t0 + HOUR + 5 * MIN, "p2-plat", "impression", "v9"),
              "source_mismatch_interaction")
    again(x1, "dup_of_source_mismatch")  # its first copy was not counted: judged afresh
    s2_event = snap(t0 + 3 * HOUR, "p2-plat", impressions=150, likes=8, comments=3)
    s2 = emit(s2_event, "snapshot_newer")
    again(s2, "dup_exact_snapshots")
    # Another kind of record under a counted event_id: a duplicate (3) before check 9.
    emit(inter(t0 + 3 * HOUR, "p2-plat", "like", None, eid=s2_event["event_id"]),
         "dup_event_id_over_source_mismatch")
    emit(snap(t0 + 2 * HOUR, "p2-plat", impressions=999), "snapshot_stale")
    emit(snap(t0 + 2 * HOUR + 30 * MIN, "p2-plat", "i-stale", impressions=1),
         "snapshot_stale_other_influencer")  # touches no set of i-stale
    emit(snap(t0 + 3 * HOUR, "p2-plat", likes=9, saves=0), "snapshot_tie")
    stale = emit(snap(t0 + 2 * HOUR + 55 * MIN, "p2-plat", impressions=998), "snapshot_stale")
    again(stale, "dup_of_stale_snapshot")  # a stale snapshot registers its event_id
    emit(snap(t0 + 3 * HOUR + 10 * MIN, "p2-events", impressions=5), "source_mismatch_snapshot")
    emit(snap(t0 + 5 * HOUR + 30 * MIN, "p2-plat", impressions=150), "snapshot_zero_delta")
    emit(snap(t0 + 5 * HOUR + 40 * MIN, "p2-unpub-plat", "i-b", reach=40, impressions=45,
              views=12), "reach_sum_unpublished_post")
    emit(snap(t0 + 5 * HOUR + 50 * MIN, "p2-other-inf", reach=7, shares=2),
         "snapshot_names_other_influencer")
    emit(snap(t0 + 5 * HOUR + 55 * MIN, "p2-max", "i-b", reach=10**12, impressions=0),
         "snapshot_metric_max")
    # The same post named with its own influencer this time: each delta goes to the
    # influencer the record names.
    emit(snap(t0 + 6 * HOUR, "p2-other-inf", "i-b", reach=9, shares=5),
         "snapshot_names_other_influencer")
    # The first record naming p2-rej-first is rejected: the snapshot after it fixes the source.
    rejected = inter(t0 + 6 * HOUR, "p2-rej-first", "impression", "v1") | {"count": 0}
    emit(rejected, "edge2_rejected_first", raw_value=json.dumps(rejected), schema_invalid=True)
    emit(snap(t0 + 6 * HOUR + 5 * MIN, "p2-rej-first", impressions=20, reach=15),
         "snapshot_source_first")
    emit(inter(t0 + 12 * HOUR, "p2-events", "like", None), "edge2_inter")
    emit(snap(t0 + HOUR, "p2-plat-late", "i-late", reach=50, impressions=60), "snapshot_late")
    emit(snap(t0 + 30 * MIN, "p2-plat-late", impressions=1), "snapshot_late_stale")
    emit(snap(t0 + 13 * HOUR, "p2-plat", impressions=140, likes=7, reach=85),
         "snapshot_decrease")
    # Rejected (check 9), so its occurred_at is no lateness reference: the next is on time.
    emit(inter(t0 + 30 * HOUR, "p2-plat", "view", "v9"), "source_mismatch_interaction")
    emit(snap(t0 + 13 * HOUR + 30 * MIN, "p2-plat", likes=6), "snapshot_decrease")
    again(s1, "resend_snapshot_beyond_horizon")  # counted again: stale and late
    # Bounded state (3): interactions move to t0 + 20 h, so the 12:00 hour and the first day
    # are final for interactions (their reach sketch may go, their reach stays).
    emit(inter(t0 + 20 * HOUR, "p2-events", "impression", "v7"), "edge2_inter")

    # Clicks (v2 late rule): a late click is never a repeat, a late valid click makes a
    # later on-time click a repeat.
    def click(occ: int, visitor: str | None, influencer: str = "i-a",
              link: str = "l-a") -> dict[str, Any]:
        ev = base("click", occ, link_id=link, influencer_id=influencer, channel="link")
        if visitor is not None:
            ev["visitor_id"] = visitor
        return ev

    emit(click(t0 + 10 * HOUR, "w1"), "edge2_click")
    emit(click(t0 + 3 * HOUR + 50 * MIN, "w2"), "late_valid_click_makes_repeat")
    emit(click(t0 + 4 * HOUR + 5 * MIN, "w2"), "late_valid_click_makes_repeat")
    emit(click(t0 + 3 * HOUR + 55 * MIN, "w2"), "late_click_never_repeat")
    for k, influencer in enumerate(["i-d", "i-e", "i-ghost2", "i-f"]):
        emit(click(t0 + 10 * HOUR + (k + 1) * MIN, None, influencer, "l-x"), "edge2_tier")
    # Repeat-click memory at its bound (3): a valid click at T can still make a click a repeat
    # while it is newer than the clicks' greatest occurred_at less the grace and 30 minutes.
    t_valid = t0 + 10 * HOUR + 5 * MIN
    emit(click(t_valid, "w3"), "click_memory_boundary")
    emit(click(t_valid + 6 * HOUR + 30 * MIN - 1, "w4"), "click_memory_boundary")
    emit(click(t_valid + 30 * MIN - 1, "w3"), "click_memory_boundary")  # on time: a repeat

    # Orders and refunds (one topic, so their order is exact).
    def order(occ: int, order_id: str, amount: int, **fields: Any) -> dict[str, Any]:
        return base("order", occ, order_id=order_id, amount_minor=amount,
                    **{"currency": "EUR", **fields})

    def refund(occ: int, refund_id: str, order_id: str, amount: int,
               eid: str | None = None, **fields: Any) -> dict[str, Any]:
        return base("order_refund", occ, eid, refund_id=refund_id, order_id=order_id,
                    amount_minor=amount, **{"currency": "EUR", **fields})

    emit(order(t0 + HOUR, "O1", 1000, promo_code="ACODE"), "edge2_order")
    emit(order(t0 + HOUR + 10 * MIN, "O2", 500, link_id="l-b"), "edge2_order")
    o3 = order(t0 + HOUR + 20 * MIN, "O3", 400)
    emit(o3, "edge2_order")
    o5 = order(t0 + HOUR + 30 * MIN, "O5", 900, currency="USD")
    emit(o5, "order_currency_mismatch")
    emit(refund(t0 + HOUR + 40 * MIN, "r11", "O6", 50), "refund_before_order")
    emit(order(t0 + HOUR + 50 * MIN, "O6", 800, promo_code="acode"), "edge2_order")
    # An unmatched refund is counted, so its refund_id registers.
    emit(refund(t0 + HOUR + 55 * MIN, "r11", "O6", 50), "refund_dup_of_unmatched")
    # A duplicate order_id: the refunds stay bounded by the first order's amount.
    emit(order(t0 + HOUR + 56 * MIN, "O1", 5000, promo_code="ACODE"), "dup_order_id_new_event_id")
    emit(refund(t0 + 2 * HOUR, "r1", "O1", 300), "refund_attributed")
    r3 = emit(refund(t0 + 2 * HOUR + 10 * MIN, "r3", "O1", 701), "refund_exceeds")
    again(r3, "refund_exceeds_copy")  # rejected again: a rejected record registers nothing
    emit(refund(t0 + 2 * HOUR + 20 * MIN, "r1", "O1", 5), "refund_dup_refund_id")
    emit(refund(t0 + 2 * HOUR + 30 * MIN, "r3", "O2", 200), "refund_id_of_rejected_refund")
    emit(refund(t0 + 2 * HOUR + 40 * MIN, "r6", "O3", 400), "refund_full")
    emit(refund(t0 + 2 * HOUR + 50 * MIN, "r8", "O5", 900), "refund_unmatched_rejected_order")
    emit(refund(t0 + 3 * HOUR, "r9", "O-never", 10), "refund_unmatched_never_seen")
    emit(refund(t0 + 3 * HOUR + 10 * MIN, "r10", "O2", 10, currency="USD"),
         "refund_currency_mismatch")
    emit(refund(t0 + 3 * HOUR + 20 * MIN, "r12", "O6", 250), "refund_attributed")
    emit(refund(t0 + 3 * HOUR + 30 * MIN, "r14", "O6", 20, eid=o3["event_id"]),
         "refund_event_id_of_order")
    emit(refund(t0 + 3 * HOUR + 40 * MIN, "O2", "O6", 10), "refund_id_equals_order_id")
    emit(refund(t0 + 3 * HOUR + 45 * MIN, "r19", "O2", 1, eid=o5["event_id"]),
         "refund_event_id_of_rejected_order")  # the rejected order registered nothing
    emit(order(t0 + 3 * HOUR + 50 * MIN, "O7", 0), "edge2_order")
    emit(refund(t0 + 3 * HOUR + 52 * MIN, "r16", "O7", 1), "refund_exceeds_zero_order")
    emit(order(t0 + 3 * HOUR + 55 * MIN, "O8", 10**12, promo_code="ACODE"), "edge2_order")
    emit(refund(t0 + 3 * HOUR + 58 * MIN, "r17", "O8", 10**12), "refund_max")
    # Rejected (check 10): its occurred_at is no lateness reference, so r2 is on time.
    emit(refund(t0 + 60 * HOUR, "r18", "O7", 1), "refund_exceeds")
    emit(refund(t0 + 26 * HOUR, "r2", "O1", 700), "refund_partial_exact_sum")
    emit(refund(t0 + 2 * HOUR, "r13", "O2", 100), "refund_late")
    emit(order(t0 + 36 * HOUR + 1, "O4", 600), "order_out_of_window")
    emit(refund(t0 + 37 * HOUR, "r7", "O4", 600), "refund_unmatched_out_of_window")

    # Conversions.
    def conversion(occ: int, conversion_id: str, action: str,
                   **fields: Any) -> dict[str, Any]:
        return base("conversion", occ, conversion_id=conversion_id, action=action, **fields)

    k1 = conversion(t0 + HOUR, "K1", "lead", promo_code="aCoDe", value_minor=100,
                    currency="EUR")
    emit(k1, "conversion_code")
    k2 = emit(conversion(t0 + HOUR + 10 * MIN, "K2", "signup", link_id="l-b"), "conversion_link")
    emit(conversion(t0 + HOUR + 20 * MIN, "K3", "app_install", currency="EUR"),
         "conversion_currency_no_value")
    emit(conversion(t0 + HOUR + 30 * MIN, "K4", "download", value_minor=50, currency="USD"),
         "conversion_currency_mismatch")
    emit(conversion(t0 + HOUR + 40 * MIN, "K5", "contest_entry", currency="USD"),
         "conversion_currency_mismatch_no_value")
    emit(conversion(t0 + HOUR + 50 * MIN, "K7", "other", value_minor=30, currency="EUR"),
         "conversion_value_currency")
    emit(dict(k1, event_id=b.new_id("e2")), "conversion_dup_id")
    bad = conversion(t0 + 2 * HOUR + 10 * MIN, "K9", "lead", value_minor=5)
    emit(bad, "bad_conversion_value_without_currency", raw_value=json.dumps(bad),
         schema_invalid=True)
    again(k2, "dup_exact_conversions")
    emit(conversion(t0 + 2 * HOUR + 20 * MIN, "K12", "subscription", link_id="l-a",
                    value_minor=10**12, currency="EUR"), "conversion_value_max")
    k6 = conversion(t0 + 36 * HOUR + 1, "K6", "subscription")
    emit(k6, "conversion_out_of_window")
    emit(dict(k6, event_id=b.new_id("e2")), "conversion_dup_id")  # registered when out of window
    emit(conversion(t0 + 2 * HOUR + 30 * MIN, "K10", "lead", link_id="l-a", value_minor=5,
                    currency="EUR"), "conversion_late")

    # Survey answers.
    def answer(occ: int, respondent: str, group: str, question: str,
               positive: Any) -> dict[str, Any]:
        return base("survey_response", occ, respondent_id=respondent, group=group,
                    question=question, positive=positive)

    e1 = emit(answer(t0, "e1", "exposed", "awareness", True), "survey")
    again(e1, "dup_exact_surveys")
    for respondent, group, positive in [("e2", "exposed", False), ("e3", "exposed", True),
                                        ("c1", "control", False), ("c2", "control", True)]:
        emit(answer(t0 + MIN, respondent, group, "awareness", positive), "survey")
    emit(answer(t0, "g1", "exposed", "recall", True), "survey")
    emit(answer(t0 + HOUR, "g1", "control", "recall", False), "survey_group_change")
    emit(answer(t0, "rx", "exposed", "recall", True), "survey")
    emit(answer(t0, "x1", "exposed", "consideration", True), "survey_one_group_only")
    emit(answer(t0 + 2 * HOUR, "t1", "exposed", "preference", True), "survey")
    emit(answer(t0 + 2 * HOUR, "t1", "exposed", "preference", False), "survey_tie")
    emit(answer(t0, "c3", "control", "preference", True), "survey")
    emit(answer(t0 + 3 * HOUR, "o1", "exposed", "intent", True), "survey")
    emit(answer(t0 + HOUR, "o1", "control", "intent", False), "survey_older")
    emit(answer(t0, "c4", "control", "intent", True), "survey")
    for wrong in [1, 0, "true", "false"]:  # booleans are JSON true or false only
        bad = answer(t0, "b1", "exposed", "intent", wrong)
        emit(bad, "bad_survey_boolean", raw_value=json.dumps(bad), schema_invalid=True)
    emit(answer(t0 - 10 * HOUR, "l1", "control", "awareness", False), "survey_late")
    emit(answer(t0 - 20 * HOUR, "o1", "exposed", "intent", False), "survey_late_older")

    # Reviews: one not in force names an influencer with nothing else (lead's reading: it
    # touches nothing, so that influencer has no KPI set).
    review = base("content_review", t0 + HOUR, post_id="p2-events", influencer_id="i-a",
                  reviewer_id="rv1", scores={"tone": 4})
    emit(review, "review")
    emit(dict(review, event_id=b.new_id("e2"), occurred_at=format_time(t0, "us"),
              influencer_id="i-ghost", scores={"tone": 1}), "re_review_older_other_influencer")

    # A newer definition changes i-b's tier.
    roster2 = [dict(m) for m in roster if m["influencer_id"] != "i-f"]
    roster2[1]["tier"] = "macro"
    emit(dict(definition, event_id=b.new_id("e2"), occurred_at=format_time(t0, "us"),
              influencers=roster2), "redefinition_changes_tier")

    # A post (its topic lags) in the 12:00 hour, final for interactions by now: the set is
    # written again and must keep the reach of its interactions part.
    emit(post("p2-lagging-topic", "i-a", "blog", "post", followers=0, occ=t0 + 20 * MIN,
              cost=None), "record_in_window_final_for_another_topic")

    # Campaign cmp-epoch has no definition: no currency or window check for a conversion
    # or a refund (its order O1, in XXX, comes from _edges).
    epoch = {"campaign_id": "cmp-epoch"}
    emit(conversion(t0, "KE1", "download", value_minor=7, currency="ZZZ") | epoch,
         "conversion_before_definition", key="cmp-epoch")
    emit(refund(t0 + HOUR, "RE1", "O1", 400, currency="YYY") | epoch,
         "refund_before_definition", key="cmp-epoch")
    # Sources are per campaign: p2-plat of cmp-epoch gets interactions.
    emit(inter(t0, "p2-plat", "impression", "v1") | epoch, "source_per_campaign",
         key="cmp-epoch")
    # published_at is rounded down: -1800.5 s is -1801.
    emit(post("p-epoch", "i-epoch", "blog", "post", followers=1, occ=0, cost=None)
         | epoch | {"occurred_at": "1970-01-01T00:30:00.5+01:00"}, "published_at_before_epoch",
         key="cmp-epoch")
    # Brand lift with no definition, and a pooled rate of 0 (no z, no relative lift).
    for respondent, group in [("s-e", "exposed"), ("s-c", "control")]:
        emit(answer(t0, respondent, group, "awareness", False) | epoch, "survey_pooled_zero",
             key="cmp-epoch")


def _big_sums(b: _Builder, rng: random.Random) -> None:
    """Posts at the 10^15 bound: potential_reach and spend_minor pass 2^63 (contract 5)."""
    cid = "cmp-big-sums"
    definition = {"event_id": b.new_id("big"), "type": "campaign",
                  "occurred_at": format_time(BASE - DAY, "s"), "campaign_id": cid,
                  "name": "Big sums", "objective": "awareness",
                  "starts_at": format_time(BASE, "s"), "ends_at": format_time(BASE + 3 * DAY, "s"),
                  "currency": "EUR", "budget_minor": 10**15,
                  "targets": {"potential_reach": 10**15, "spend_minor": 10**15, "cpm_minor": 1},
                  "influencers": [{"influencer_id": "i-big-1", "tier": "mega"},
                                  {"influencer_id": "i-big-2", "tier": "macro"}]}
    b.line(BASE - DAY + MIN, definition, feature="definition")
    for i in range(BIG_SUM_POSTS):
        occ = BASE + 2 * HOUR + i * SEC + rng.randint(0, SEC - 1)
        influencer = "i-big-1" if i < BIG_SUM_POSTS - 50 else "i-big-2"
        ev = _base(b, "post_published", cid, occ)
        ev.update({"post_id": f"pst-big-{i:05d}", "influencer_id": influencer,
                   "platform": "youtube", "format": "video",
                   "followers": 10**15 - rng.randint(0, 10**6),
                   "cost_minor": 10**15 - (0 if i % 100 == 0 else rng.randint(0, 10**6))})
        b.line(occ + rng.randint(0, 30) * SEC, ev, feature="big_sum_post")
        if i % 400 == 0:
            inter = _base(b, "interaction", cid, occ + HOUR)
            inter.update({"post_id": ev["post_id"], "influencer_id": influencer,
                          "action": "impression", "viewer_id": f"vw-big-{i}", "count": 999_999})
            b.line(occ + HOUR + SEC, inter, feature="big_sum_interaction")
    order = _base(b, "order", cid, BASE + 6 * HOUR)
    order.update({"order_id": "ord-big", "amount_minor": 10**12, "currency": "EUR"})
    b.line(BASE + 6 * HOUR + SEC, order, feature="big_sum_order")


def main(argv: list[str]) -> None:
    out = argv[1]
    seed = int(argv[2]) if len(argv) > 2 else 1
    size = int(argv[3]) if len(argv) > 3 else 10_000
    g = generate(seed, size)
    with open(out, "w", encoding="utf-8") as f:
        for line in g.lines:
            f.write(line + "\n")


if __name__ == "__main__":
    main(sys.argv)
