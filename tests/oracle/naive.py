"""A naive, slow, readable implementation of the KPI contract, version 2 (sections 1-5.4).

Written from ``contract-v2.md``, ``docs/contract-decisions.md`` and the readings listed in
the lead's API notes, never from the product's code. It replays a JSON Lines input in file
order, keeps every counted event as a plain "fact" attached to the KPI sets it feeds, and
computes each KPI set at the end from scratch with Python sets (reach is exact) and Python
integers (sums never wrap).

Field validation (the rules of section 1) is not re-implemented: the generator tells which
lines it made schema-invalid. Everything else - malformed JSON, type and key mismatch,
future timestamps, currency, duplicates, post sources, refund limits, lateness, click
classes, attribution, snapshots in force, answers and reviews in force, windows, formulas,
presence, attributes - is computed here.

Readings of points the contract leaves open (the first five are the lead's, from the API
notes of the rewrite; the others are ours):
* a KPI set holds every counter of its place, zeros included; ``conversions_by_action`` is
  wherever ``conversions`` is (``{}`` when none); ``brand_lift`` only at campaign/all;
* ``tier``: the last roster entry of the definition in force that gives the influencer a
  tier (an influencer listed twice, the later entry without a tier, keeps the earlier tier);
* a stale snapshot touches only the campaign ``all`` set;
* an answer or review that is not in force touches no KPI set (unless late: late_events);
* a refund or conversion of a campaign with no definition gets no currency check;
* a post with no reach reported (or no source yet) has post-scope reach 0, and counts 0 in
  ``reach_sum``; ``published_at`` rounds toward minus infinity (before 1970 too);
* an out-of-window conversion registers its ``conversion_id`` (as orders do, decisions);
* where a summed post reach is 100 distinct viewers or more, ``reach_sum`` may be an
  estimate (compared with the reach tolerance).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .timefmt import DAY, HOUR, MIN, SEC, parse_time

TOPIC_TYPES: dict[str, tuple[str, ...]] = {
    "campaigns": ("campaign",),
    "posts": ("post_published",),
    "interactions": ("interaction", "post_metrics"),
    "clicks": ("click",),
    "orders": ("order", "order_refund"),
    "content-reviews": ("content_review",),
    "conversions": ("conversion",),
    "surveys": ("survey_response",),
}
TYPE_TOPIC = {typ: topic for topic, types in TOPIC_TYPES.items() for typ in types}
SHORT_HORIZON_TOPICS = {"interactions", "clicks"}
BOT_MARKERS = ["bot", "crawler", "spider", "facebookexternalhit", "slackbot", "whatsapp",
               "telegrambot", "discord", "headlesschrome", "curl/", "python-requests", "wget/"]
ACTIONS = ["impression", "view", "like", "comment", "share", "save", "reply"]
ACTION_KPI = {"impression": "impressions", "view": "views", "like": "likes",
              "comment": "comments", "share": "shares", "save": "saves", "reply": "replies"}
ENGAGEMENT_KPIS = ["likes", "comments", "shares", "saves", "replies"]
# A snapshot's metric names are the KPI names of the actions, plus reach (1.4.1).
SNAPSHOT_METRICS = ["impressions", "reach", "views", "likes", "comments", "shares", "saves",
                    "replies"]
CRITERIA = ["brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance"]
CONVERSION_ACTIONS = ["lead", "signup", "app_install", "download", "contest_entry",
                      "subscription", "other"]
QUESTIONS = ["awareness", "recall", "consideration", "preference", "intent"]
WINDOW_SECONDS = {"1d": 86_400, "1h": 3_600, "1m": 60}
SCOPE_WINDOWS = {"campaign": ("all", "1d", "1h", "1m"), "influencer": ("all", "1d", "1h"),
                 "post": ("all",)}
CAMPAIGN_WINDOWS = SCOPE_WINDOWS["campaign"]
INFLUENCER_WINDOWS = SCOPE_WINDOWS["influencer"]
LIMIT_DEFAULT = 64 * 1024
LIMIT_CAMPAIGNS = 1024 * 1024

Places = frozenset[tuple[str, str]]


def _places(scopes: Iterable[str] = ("campaign", "influencer", "post"),
            windows: Iterable[str] | None = None) -> Places:
    """The (scope, window) pairs of the "where" column of section 2."""
    scopes, wanted = set(scopes), None if windows is None else set(windows)
    return frozenset((s, w) for s, ws in SCOPE_WINDOWS.items() for w in ws
                     if s in scopes and (wanted is None or w in wanted))


EVERYWHERE = _places()
WINDOW_ALL = _places(windows=["all"])
CAMPAIGN = _places(["campaign"])
CAMPAIGN_ALL = _places(["campaign"], ["all"])
MONEY = _places(["campaign", "influencer"])  # "campaign, influencer"
MONEY_ALL = _places(["campaign", "influencer"], ["all"])
NOT_1M = _places(windows=["all", "1d", "1h"])

# Section 2, counters: name -> where.
COUNTER_PLACES: dict[str, Places] = {
    "posts": EVERYWHERE,
    "influencers_active": CAMPAIGN,
    "potential_reach": WINDOW_ALL,
    "spend_minor": WINDOW_ALL,
    **dict.fromkeys(ACTION_KPI.values(), EVERYWHERE),
    "engagements": EVERYWHERE,
    "reach": NOT_1M,
    "clicks": EVERYWHERE,
    "clicks_valid": EVERYWHERE,
    "clicks_bot": EVERYWHERE,
    "clicks_repeat": EVERYWHERE,
    "orders": MONEY,
    "orders_code": MONEY,
    "orders_link": MONEY,
    "orders_unattributed": CAMPAIGN,
    "revenue_minor": MONEY,
    "orders_out_of_window": CAMPAIGN_ALL,
    "reviews": WINDOW_ALL,
    "duplicate_events": CAMPAIGN_ALL,
    "late_events": CAMPAIGN_ALL,
    "reach_sum": MONEY_ALL,
    "stale_snapshots": CAMPAIGN_ALL,
    "refunds": MONEY,
    "refunded_minor": MONEY,
    "revenue_net_minor": MONEY,
    "refunds_unmatched": CAMPAIGN_ALL,
    "conversions": MONEY,
    "conversions_code": MONEY,
    "conversions_link": MONEY,
    "conversions_unattributed": CAMPAIGN,
    "conversion_value_minor": MONEY,
    "conversions_out_of_window": CAMPAIGN_ALL,
    "survey_responses": CAMPAIGN_ALL,
}
COUNTERS = list(COUNTER_PLACES)
# Section 2, ratios computed as numerator * factor / denominator: name -> (num, den, factor,
# where). "where X is" is the place of X.
SIMPLE_RATIOS: dict[str, tuple[str, str, int, Places]] = {
    "engagement_rate_by_reach": ("engagements", "reach", 1, NOT_1M),
    "engagement_rate_by_impressions": ("engagements", "impressions", 1, EVERYWHERE),
    "engagement_rate_by_views": ("engagements", "views", 1, EVERYWHERE),
    "engagement_rate_by_followers": ("engagements", "potential_reach", 1, WINDOW_ALL),
    "frequency": ("impressions", "reach", 1, NOT_1M),
    "ctr": ("clicks_valid", "impressions", 1, EVERYWHERE),
    "conversion_rate": ("orders_link", "clicks_valid", 1, MONEY),
    "aov_minor": ("revenue_minor", "orders", 1, MONEY),
    "cpm_minor": ("spend_minor", "impressions", 1000, WINDOW_ALL),
    "cpe_minor": ("spend_minor", "engagements", 1, WINDOW_ALL),
    "cpc_minor": ("spend_minor", "clicks_valid", 1, WINDOW_ALL),
    "cpa_minor": ("spend_minor", "orders", 1, MONEY_ALL),
    "roas": ("revenue_minor", "spend_minor", 1, MONEY_ALL),
    "roas_net": ("revenue_net_minor", "spend_minor", 1, MONEY_ALL),
    "engagement_rate_by_reach_sum": ("engagements", "reach_sum", 1, MONEY_ALL),
    "cost_per_conversion_minor": ("spend_minor", "conversions", 1, MONEY_ALL),
    "action_rate": ("conversions_link", "clicks_valid", 1, MONEY),
}
RATIOS = [*SIMPLE_RATIOS, "content_score", *[f"content_score_{c}" for c in CRITERIA],
          "budget_used"]
OBJECT_KPIS = ["conversions_by_action", "brand_lift"]
POST_ATTRIBUTES = ["influencer_id", "platform", "format", "published_at", "metrics_source"]
INFLUENCER_ATTRIBUTES = ["tier"]
ATTRIBUTES = [*POST_ATTRIBUTES, *INFLUENCER_ATTRIBUTES]
# Names a target may name: counters and ratios; objects and attributes are ignored (2).
KPI_NAMES = set(COUNTERS) | set(RATIOS)
# KPIs computed from reach, which may be an estimate at 100 distinct viewers and more.
REACH_KPIS = {"reach", "engagement_rate_by_reach", "frequency"}
REACH_SUM_KPIS = {"reach_sum", "engagement_rate_by_reach_sum"}


@dataclass(frozen=True)
class Key:
    campaign_id: str
    scope: str
    scope_id: str
    window: str
    start: int | None  # epoch seconds, None for "all"

    def text(self) -> str:
        start = "all" if self.start is None else str(self.start)
        return f"{self.campaign_id}|{self.scope}|{self.scope_id}|{self.window}|{start}"


@dataclass
class Fact:
    # post | interaction | metrics | click | order | order_out_of_window | refund |
    # refund_unmatched | conversion | conversion_out_of_window
    kind: str
    data: dict[str, Any]


@dataclass
class Review:
    occurred: int
    post_id: str
    influencer_id: str
    scores: dict[str, int]


@dataclass
class Answer:
    occurred: int
    group: str
    positive: bool


@dataclass
class CountedOrder:
    amount: int
    influencer: str | None
    refunded: int = 0


@dataclass
class Published:
    influencer_id: str
    platform: str
    format: str
    published_at: int  # epoch seconds, rounded down


@dataclass
class CampaignState:
    definition: dict[str, Any] | None = None
    definition_occurred: int = 0
    seen: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    post_ids: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)
    refund_ids: set[str] = field(default_factory=set)
    conversion_ids: set[str] = field(default_factory=set)
    max_occurred: dict[str, int] = field(default_factory=dict)
    valid_clicks: list[tuple[str, str, int]] = field(default_factory=list)
    reviews: dict[tuple[str, str], Review] = field(default_factory=dict)
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    published: dict[str, Published] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # post_id -> events | platform
    snapshot_at: dict[str, int] = field(default_factory=dict)  # occurred_at in force
    metrics: dict[str, dict[str, int]] = field(default_factory=dict)  # values in force
    orders: dict[str, CountedOrder] = field(default_factory=dict)  # those in `orders`
    duplicates: int = 0
    late: int = 0
    stale: int = 0


@dataclass
class DeadLetter:
    line_no: int
    reason: str
    topic: str
    value: str
    key: str | None = None
    timestamp: int | None = None


@dataclass
class Result:
    values: list[dict[str, Any]]  # section 5.2 values without updated_at, sorted by key
    dead_letters: list[DeadLetter]
    bad_lines: list[int]
    late_by_topic: dict[str, int]
    states: dict[str, CampaignState]
    # key -> KPI names whose exact value here derives from a reach of >= 100 viewers, which
    # the product may estimate (2: "Reach may be an estimate").
    estimated: dict[str, set[str]] = field(default_factory=dict)

    def by_key(self) -> dict[str, dict[str, Any]]:
        return {key_of(v): v for v in self.values}


def key_of(value: dict[str, Any]) -> str:
    start = "all" if value["window_start"] is None else str(value["window_start"])
    return (f"{value['campaign_id']}|{value['scope']}|{value['scope_id']}|{value['window']}"
            f"|{start}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _strip_nulls(obj: Any) -> Any:
    """Null is absent, everywhere (decisions)."""
    if isinstance(obj, dict):
        return {k: _strip_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_strip_nulls(v) for v in obj]
    return obj


def is_bot(user_agent: str | None) -> bool:
    if user_agent is None:
        return False
    lowered = user_agent.lower()
    return any(marker in lowered for marker in BOT_MARKERS)


def brand_lift_entry(exposed: int, exposed_positive: int, control: int,
                     control_positive: int) -> dict[str, Any]:
    """One question of ``brand_lift``, with the formulas of section 2 evaluated as written."""
    entry: dict[str, Any] = {"exposed": exposed, "exposed_positive": exposed_positive,
                             "control": control, "control_positive": control_positive}
    if exposed > 0 and control > 0:
        lift = exposed_positive / exposed - control_positive / control
        entry["lift"] = lift
        if control_positive > 0:
            entry["relative_lift"] = lift / (control_positive / control)
        p = (exposed_positive + control_positive) / (exposed + control)
        if 0 < p < 1:
            entry["z"] = lift / math.sqrt(p * (1 - p) * (1 / exposed + 1 / control))
    return entry


class Oracle:
    def __init__(self, grace_us: int = 6 * HOUR, horizon_us: int = 10 * MIN) -> None:
        self.grace = grace_us
        self.horizon = horizon_us
        self.states: dict[str, CampaignState] = defaultdict(CampaignState)
        self.contrib: dict[Key, list[Fact]] = defaultdict(list)
        self.touched: set[Key] = set()
        self.dead: list[DeadLetter] = []
        self.bad_lines: list[int] = []
        self.late_by_topic: dict[str, int] = defaultdict(int)
        self._line_no = 0
        self._topic = ""
        self._raw = ""
        self._key: Any = None
        self._timestamp: int | None = None
        # Filled by result().
        self._posts_with_set: dict[str, list[str]] = defaultdict(list)
        self._reach_cache: dict[tuple[str, str], tuple[int, bool]] = {}
        self._estimated: dict[str, set[str]] = {}

    # ---- input ------------------------------------------------------------------------
    def feed(self, line_no: int, line: str, schema_invalid: bool) -> None:
        try:
            obj = json.loads(line)
        except ValueError:
            self.bad_lines.append(line_no)
            return
        timestamp: int | None = None
        if isinstance(obj, dict) and isinstance(obj.get("topic"), str):
            topic = obj["topic"]
            if topic not in TOPIC_TYPES:
                self.bad_lines.append(line_no)
                return
            key = obj.get("key")
            value = obj["value"]
            timestamp = obj.get("timestamp")
        elif isinstance(obj, dict) and obj.get("type") in TYPE_TOPIC:
            topic = TYPE_TOPIC[obj["type"]]
            key = obj.get("campaign_id")
            value = line
        else:
            self.bad_lines.append(line_no)
            return
        assert isinstance(value, str)
        self._line_no, self._topic, self._raw = line_no, topic, value
        self._key, self._timestamp = key, timestamp
        self._record(topic, key, value, timestamp=timestamp, schema_invalid=schema_invalid)

    def _dead(self, reason: str) -> None:
        self.dead.append(DeadLetter(self._line_no, reason, self._topic, self._raw,
                                    self._key, self._timestamp))

    def _record(self, topic: str, key: Any, value: str, *, timestamp: int | None,
                schema_invalid: bool) -> None:
        """Checks 1-8 of section 4, in their order, then the counted path."""
        limit = LIMIT_CAMPAIGNS if topic == "campaigns" else LIMIT_DEFAULT
        if len(value.encode("utf-8")) > limit:
            self._dead("too_large")
            return
        try:
            ev = json.loads(value, parse_constant=_reject_constant)
        except ValueError:
            self._dead("malformed_json")
            return
        if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
            self._dead("schema_violation")
            return
        if ev["type"] not in TOPIC_TYPES[topic]:
            self._dead("type_mismatch")
            return
        if schema_invalid:
            self._dead("schema_violation")
            return
        ev = _strip_nulls(ev)
        ev["_t"] = parse_time(ev["occurred_at"])
        if key is None or key != ev["campaign_id"]:
            self._dead("key_mismatch")
            return
        if timestamp is not None and ev["_t"] > timestamp * 1000 + HOUR:
            self._dead("future_timestamp")
            return
        st = self.states[ev["campaign_id"]]
        # Definitions, orders and refunds always carry a currency; a conversion only
        # when it says what it is worth (or chooses to). No definition: no check.
        if (topic in ("campaigns", "orders", "conversions") and st.definition is not None
                and "currency" in ev and ev["currency"] != st.definition["currency"]):
            self._dead("currency_mismatch")
            return
        self._checked(topic, ev, st)

    # ---- duplicates, checks 9 and 10, counted events ------------------------------------
    def _is_duplicate(self, topic: str, ev: dict[str, Any], st: CampaignState) -> bool:
        seen = st.seen[topic]
        eid = ev["event_id"]
        typ = ev["type"]
        if topic in SHORT_HORIZON_TOPICS:
            if eid in seen:
                max_t = st.max_occurred.get(topic)
                assert max_t is not None
                if seen[eid] >= max_t - self.horizon:
                    return True
            return False
        if eid in seen:
            return True
        if typ == "post_published":
            return ev["post_id"] in st.post_ids
        if typ == "order":
            return ev["order_id"] in st.order_ids
        if typ == "order_refund":
            return ev["refund_id"] in st.refund_ids
        if typ == "conversion":
            return ev["conversion_id"] in st.conversion_ids
        return False

    def _rejected_after_duplicates(self, ev: dict[str, Any], st: CampaignState) -> str | None:
        """Checks 9 and 10, made only on records that are not duplicates."""
        typ = ev["type"]
        if typ in ("interaction", "post_metrics"):
            source = st.source.get(ev["post_id"])
            kind = "events" if typ == "interaction" else "platform"
            if source is not None and source != kind:
                return "source_mismatch"
        if typ == "order_refund":
            order = st.orders.get(ev["order_id"])
            if order is not None and order.refunded + ev["amount_minor"] > order.amount:
                return "refund_exceeds_order"
        return None

    def _checked(self, topic: str, ev: dict[str, Any], st: CampaignState) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        all_key = Key(cid, "campaign", cid, "all", None)
        if self._is_duplicate(topic, ev, st):
            st.duplicates += 1
            self.touched.add(all_key)
            return
        reason = self._rejected_after_duplicates(ev, st)
        if reason is not None:
            self._dead(reason)  # registers nothing: a copy is judged afresh
            return
        st.seen[topic][ev["event_id"]] = t
        if topic == "campaigns":
            self.touched.add(all_key)
            if st.definition is None or t >= st.definition_occurred:
                st.definition = ev
                st.definition_occurred = t
            return
        max_before = st.max_occurred.get(topic)
        late = max_before is not None and max_before - t > self.grace
        st.max_occurred[topic] = t if max_before is None else max(max_before, t)
        if late:
            st.late += 1
            self.late_by_topic[topic] += 1
            self.touched.add(all_key)  # late_events lives there
        typ = ev["type"]
        if typ == "post_published":
            self._post(ev, st, late)
        elif typ == "interaction":
            st.source.setdefault(ev["post_id"], "events")
            self._add(Fact("interaction", {"action": ev["action"],
                                           "viewer": ev.get("viewer_id"),
                                           "count": ev.get("count", 1)}),
                      cid, t, late=late, influencer=ev["influencer_id"], post=ev["post_id"])
        elif typ == "post_metrics":
            self._snapshot(ev, st, late)
        elif typ == "click":
            self._add(Fact("click", {"class": self._click_class(ev, st, late)}),
                      cid, t, late=late, influencer=ev["influencer_id"],
                      post=ev.get("post_id"))
        elif typ == "order":
            st.order_ids.add(ev["order_id"])
            self._order(ev, st, late)
        elif typ == "order_refund":
            st.refund_ids.add(ev["refund_id"])
            self._refund(ev, st, late)
        elif typ == "conversion":
            st.conversion_ids.add(ev["conversion_id"])
            self._conversion(ev, st, late)
        elif typ == "content_review":
            self._review(ev, st)
        elif typ == "survey_response":
            self._answer(ev, st)
        else:
            raise AssertionError(typ)

    def _post(self, ev: dict[str, Any], st: CampaignState, late: bool) -> None:
        t = ev["_t"]
        st.post_ids.add(ev["post_id"])
        st.published[ev["post_id"]] = Published(ev["influencer_id"], ev["platform"],
                                                ev["format"], t // SEC)
        self._add(Fact("post", {"influencer": ev["influencer_id"],
                                "followers": ev["followers"],
                                "cost": ev.get("cost_minor", 0)}),
                  ev["campaign_id"], t, late=late, influencer=ev["influencer_id"],
                  post=ev["post_id"])

    def _snapshot(self, ev: dict[str, Any], st: CampaignState, late: bool) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        post = ev["post_id"]
        st.source.setdefault(post, "platform")
        in_force = st.snapshot_at.get(post)
        if in_force is not None and t < in_force:
            st.stale += 1  # changes no metric value
            self.touched.add(Key(cid, "campaign", cid, "all", None))
            return
        st.snapshot_at[post] = t
        values = st.metrics.setdefault(post, {})
        deltas: dict[str, int] = {}
        for metric in SNAPSHOT_METRICS:
            if metric in ev:
                deltas[metric] = ev[metric] - values.get(metric, 0)
                values[metric] = ev[metric]
        # Added even when every delta is 0: it touches the sets of its scopes and windows.
        self._add(Fact("metrics", {"deltas": deltas}), cid, t, late=late,
                  influencer=ev["influencer_id"], post=post)

    def _click_class(self, ev: dict[str, Any], st: CampaignState, late: bool) -> str:
        if is_bot(ev.get("user_agent")):
            return "bot"
        t = ev["_t"]
        visitor = ev.get("visitor_id")
        if visitor is not None:
            # v2: a late click is never a repeat, but it is valid, so it registers.
            if not late:
                for v, link, tv in st.valid_clicks:
                    if v == visitor and link == ev["link_id"] and t - 30 * MIN < tv <= t:
                        return "repeat"
            st.valid_clicks.append((visitor, ev["link_id"], t))
        return "valid"

    def _attribution(self, ev: dict[str, Any], st: CampaignState) -> tuple[str, str | None]:
        """1.6: channel and influencer of an order or a conversion, against the definition."""
        d = st.definition
        if d is None:
            return "unattributed", None
        codes: dict[str, str] = {}
        links: dict[str, str] = {}
        for member in d.get("influencers", []):
            for code in member.get("promo_codes", []):
                codes[code.casefold()] = member["influencer_id"]
            for link in member.get("link_ids", []):
                links[link] = member["influencer_id"]
        promo = ev.get("promo_code")
        if promo is not None and promo.casefold() in codes:
            return "code", codes[promo.casefold()]
        if ev.get("link_id") in links:
            return "link", links[ev["link_id"]]
        return "unattributed", None

    def _out_of_window(self, ev: dict[str, Any], st: CampaignState) -> bool:
        d = st.definition
        if d is None:
            return False  # no definition yet: no window check
        ends = parse_time(d["ends_at"])
        window_days = d.get("attribution_window_days", 7)
        return bool(ev["_t"] > ends + window_days * DAY)

    def _order(self, ev: dict[str, Any], st: CampaignState, late: bool) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        if self._out_of_window(ev, st):
            self._add(Fact("order_out_of_window", {}), cid, t, late=late, influencer=None,
                      post=None, campaign_windows=("all",))
            return
        channel, influencer = self._attribution(ev, st)
        st.orders[ev["order_id"]] = CountedOrder(ev["amount_minor"], influencer)
        self._add(Fact("order", {"channel": channel, "amount": ev["amount_minor"]}),
                  cid, t, late=late, influencer=influencer, post=None)

    def _refund(self, ev: dict[str, Any], st: CampaignState, late: bool) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        order = st.orders.get(ev["order_id"])
        if order is None:  # never seen, out of window, rejected, or not yet counted
            self._add(Fact("refund_unmatched", {}), cid, t, late=late, influencer=None,
                      post=None, campaign_windows=("all",))
            return
        order.refunded += ev["amount_minor"]
        # The scopes of its order, the windows of its own occurred_at.
        self._add(Fact("refund", {"amount": ev["amount_minor"]}), cid, t, late=late,
                  influencer=order.influencer, post=None)

    def _conversion(self, ev: dict[str, Any], st: CampaignState, late: bool) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        if self._out_of_window(ev, st):
            self._add(Fact("conversion_out_of_window", {}), cid, t, late=late,
                      influencer=None, post=None, campaign_windows=("all",))
            return
        channel, influencer = self._attribution(ev, st)
        self._add(Fact("conversion", {"channel": channel, "action": ev["action"],
                                      "value": ev.get("value_minor", 0)}),
                  cid, t, late=late, influencer=influencer, post=None)

    def _review(self, ev: dict[str, Any], st: CampaignState) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        slot = (ev["post_id"], ev["reviewer_id"])
        current = st.reviews.get(slot)
        if current is not None and t < current.occurred:
            return  # not in force: touches nothing (lead's reading), unless late
        st.reviews[slot] = Review(t, ev["post_id"], ev["influencer_id"], dict(ev["scores"]))
        self.touched.add(Key(cid, "campaign", cid, "all", None))
        self.touched.add(Key(cid, "influencer", ev["influencer_id"], "all", None))
        self.touched.add(Key(cid, "post", ev["post_id"], "all", None))

    def _answer(self, ev: dict[str, Any], st: CampaignState) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        slot = (ev["respondent_id"], ev["question"])
        current = st.answers.get(slot)
        if current is not None and t < current.occurred:
            return  # not in force: touches nothing (lead's reading), unless late
        st.answers[slot] = Answer(t, ev["group"], ev["positive"])
        self.touched.add(Key(cid, "campaign", cid, "all", None))

    def _add(self, fact: Fact, cid: str, t: int, *, late: bool, influencer: str | None,
             post: str | None, campaign_windows: Iterable[str] = CAMPAIGN_WINDOWS) -> None:
        fact.data["_t"] = t
        for window in campaign_windows:
            key = self._window_key(cid, "campaign", cid, window, t=t, late=late)
            if key is not None:
                self.contrib[key].append(fact)
        if influencer is not None:
            for window in INFLUENCER_WINDOWS:
                key = self._window_key(cid, "influencer", influencer, window, t=t,
                                       late=late)
                if key is not None:
                    self.contrib[key].append(fact)
        if post is not None:
            self.contrib[Key(cid, "post", post, "all", None)].append(fact)

    @staticmethod
    def _window_key(cid: str, scope: str, sid: str, window: str, *, t: int,
                    late: bool) -> Key | None:
        if window == "all":
            return Key(cid, scope, sid, "all", None)
        if late:
            return None
        size = WINDOW_SECONDS[window]
        return Key(cid, scope, sid, window, (t // SEC) // size * size)

    # ---- KPI sets -----------------------------------------------------------------------
    def result(self) -> Result:
        keys = set(self.contrib) | self.touched
        self._posts_with_set.clear()
        for k in keys:
            if k.scope == "post":
                self._posts_with_set[k.campaign_id].append(k.scope_id)
        self._reach_cache.clear()
        self._estimated = {}
        values = [self._value(k) for k in keys]
        values.sort(key=key_of)
        return Result(values, self.dead, self.bad_lines, dict(self.late_by_topic),
                      dict(self.states), self._estimated)

    def _value(self, key: Key) -> dict[str, Any]:
        size = WINDOW_SECONDS.get(key.window)
        return {
            "schema_version": 2,
            "campaign_id": key.campaign_id,
            "scope": key.scope,
            "scope_id": key.scope_id,
            "window": key.window,
            "window_start": key.start,
            "window_end": None if key.start is None or size is None else key.start + size,
            "kpis": self._kpis(key),
        }

    def _viewers(self, key: Key) -> set[str]:
        return {f.data["viewer"] for f in self.contrib.get(key, [])
                if f.kind == "interaction" and f.data["action"] in ("impression", "view")
                and f.data["viewer"] is not None}

    def _post_reach(self, cid: str, post: str) -> tuple[int, bool]:
        """A post's reach, and whether it is a count of >= 100 distinct viewers."""
        if (cid, post) not in self._reach_cache:
            if self.states[cid].source.get(post) == "platform":
                reach = self.states[cid].metrics.get(post, {}).get("reach", 0), False
            else:
                viewers = len(self._viewers(Key(cid, "post", post, "all", None)))
                reach = viewers, viewers >= 100
            self._reach_cache[cid, post] = reach
        return self._reach_cache[cid, post]

    def _reviews_in_scope(self, key: Key) -> list[Review]:
        reviews = list(self.states[key.campaign_id].reviews.values())
        if key.scope == "influencer":
            return [r for r in reviews if r.influencer_id == key.scope_id]
        if key.scope == "post":
            return [r for r in reviews if r.post_id == key.scope_id]
        return reviews

    def _counters(self, key: Key) -> tuple[dict[str, int], set[str]]:
        """Every counter's value for the facts of ``key``, wherever it lives."""
        facts = self.contrib.get(key, [])
        st = self.states[key.campaign_id]
        estimated: set[str] = set()

        def of(kind: str) -> list[dict[str, Any]]:
            return [f.data for f in facts if f.kind == kind]

        posts, inter, metrics, clicks = of("post"), of("interaction"), of("metrics"), of("click")
        orders, refunds, conversions = of("order"), of("refund"), of("conversion")
        c: dict[str, int] = {}
        c["posts"] = len(posts)
        c["influencers_active"] = len({p["influencer"] for p in posts})
        c["potential_reach"] = sum(p["followers"] for p in posts)
        c["spend_minor"] = sum(p["cost"] for p in posts)
        for action, kpi in ACTION_KPI.items():
            c[kpi] = (sum(i["count"] for i in inter if i["action"] == action)
                      + sum(m["deltas"].get(kpi, 0) for m in metrics))
        c["engagements"] = sum(c[name] for name in ENGAGEMENT_KPIS)
        if key.scope == "post":
            c["reach"], big = self._post_reach(key.campaign_id, key.scope_id)
        else:
            c["reach"] = len(self._viewers(key))
            big = c["reach"] >= 100
        if big:
            estimated |= REACH_KPIS
        c["clicks"] = len(clicks)
        for cls in ("valid", "bot", "repeat"):
            c[f"clicks_{cls}"] = sum(1 for k in clicks if k["class"] == cls)
        c["orders"] = len(orders)
        for channel in ("code", "link", "unattributed"):
            c[f"orders_{channel}"] = sum(1 for o in orders if o["channel"] == channel)
        c["revenue_minor"] = sum(o["amount"] for o in orders)
        c["orders_out_of_window"] = len(of("order_out_of_window"))
        c["duplicate_events"] = st.duplicates
        c["late_events"] = st.late
        # The two costly ones only where they live (the oracle must stay fast enough).
        place = (key.scope, key.window)
        if place in COUNTER_PLACES["reviews"]:
            c["reviews"] = len(self._reviews_in_scope(key))
        if place in COUNTER_PLACES["reach_sum"]:
            # campaign: every post with a post-scope reach (that is, with a KPI set);
            # influencer: the posts whose counted post_published names it.
            if key.scope == "campaign":
                summed = self._posts_with_set[key.campaign_id]
            else:
                summed = [p for p, pub in st.published.items()
                          if pub.influencer_id == key.scope_id]
            reaches = [self._post_reach(key.campaign_id, p) for p in summed]
            c["reach_sum"] = sum(r for r, _ in reaches)
            if any(big for _, big in reaches):
                estimated |= REACH_SUM_KPIS
        c["stale_snapshots"] = st.stale
        c["refunds"] = len(refunds)
        c["refunded_minor"] = sum(r["amount"] for r in refunds)
        c["revenue_net_minor"] = c["revenue_minor"] - c["refunded_minor"]
        c["refunds_unmatched"] = len(of("refund_unmatched"))
        c["conversions"] = len(conversions)
        for channel in ("code", "link", "unattributed"):
            c[f"conversions_{channel}"] = sum(1 for v in conversions if v["channel"] == channel)
        c["conversion_value_minor"] = sum(v["value"] for v in conversions)
        c["conversions_out_of_window"] = len(of("conversion_out_of_window"))
        c["survey_responses"] = len(st.answers)
        return c, estimated

    def _brand_lift(self, st: CampaignState) -> dict[str, Any]:
        lift: dict[str, Any] = {}
        for question in QUESTIONS:
            answers = [a for (_, q), a in st.answers.items() if q == question]
            if not answers:
                continue
            exposed = [a for a in answers if a.group == "exposed"]
            control = [a for a in answers if a.group == "control"]
            lift[question] = brand_lift_entry(len(exposed), sum(a.positive for a in exposed),
                                              len(control), sum(a.positive for a in control))
        return lift

    def _kpis(self, key: Key) -> dict[str, Any]:
        place = (key.scope, key.window)
        st = self.states[key.campaign_id]
        counters, estimated = self._counters(key)
        k: dict[str, Any] = {name: value for name, value in counters.items()
                             if place in COUNTER_PLACES[name]}
        # Ratios: absent when the denominator is 0 or absent; a negative one gives a ratio.
        for name, (num, den, factor, where) in SIMPLE_RATIOS.items():
            if place in where and num in k and den in k and k[den] != 0:
                k[name] = k[num] * factor / k[den]
        if key.window == "all":
            reviews = self._reviews_in_scope(key)
            all_scores = [s for r in reviews for s in r.scores.values()]
            if all_scores:
                k["content_score"] = sum(all_scores) / len(all_scores)
            for crit in CRITERIA:
                scores = [r.scores[crit] for r in reviews if crit in r.scores]
                if scores:
                    k[f"content_score_{crit}"] = sum(scores) / len(scores)
        # Objects.
        if "conversions" in k:
            by_action: dict[str, int] = defaultdict(int)
            for f in self.contrib.get(key, []):
                if f.kind == "conversion":
                    by_action[f.data["action"]] += 1
            k["conversions_by_action"] = dict(by_action)
        if place == ("campaign", "all") and st.answers:
            k["brand_lift"] = self._brand_lift(st)
        # Attributes.
        if place == ("post", "all"):
            pub = st.published.get(key.scope_id)
            if pub is not None:
                k["influencer_id"] = pub.influencer_id
                k["platform"] = pub.platform
                k["format"] = pub.format
                k["published_at"] = pub.published_at
            if key.scope_id in st.source:
                k["metrics_source"] = st.source[key.scope_id]
        if place == ("influencer", "all") and st.definition is not None:
            tiers = [m["tier"] for m in st.definition.get("influencers", [])
                     if m["influencer_id"] == key.scope_id and "tier" in m]
            if tiers:
                k["tier"] = tiers[-1]  # listed twice: the later entry that gives a tier
        # Campaign scope, window all: definition-dependent entries.
        if place == ("campaign", "all") and st.definition is not None:
            d = st.definition
            budget = d.get("budget_minor")
            if budget:
                k["budget_used"] = k["spend_minor"] / budget
            k["objective"] = d["objective"]
            targets = d.get("targets") or {}
            if targets:
                k["target_progress"] = {name: k[name] / target
                                        for name, target in targets.items()
                                        if name in KPI_NAMES and name in k}
        # target_progress entries are looked up in the same set by the comparison.
        kept = {name for name in estimated if name in k}
        if kept:
            self._estimated[key.text()] = kept
        return k


def run(lines: list[str], schema_invalid: set[int], *, grace_us: int = 6 * HOUR,
        horizon_us: int = 10 * MIN) -> Result:
    """Replay ``lines`` (1-based numbering) and return the KPI values and dead letters."""
    oracle = Oracle(grace_us, horizon_us)
    for i, line in enumerate(lines, start=1):
        oracle.feed(i, line, i in schema_invalid)
    return oracle.result()
