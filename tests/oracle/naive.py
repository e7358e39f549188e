"""A naive, slow, readable implementation of the KPI contract (sections 1-3, 5.2, 5.4).

Written from ``contract-v1.md`` and ``docs/contract-decisions.md`` only. It replays a JSON
Lines input in file order, keeps every counted event as a plain "fact", and computes each KPI
set at the end from scratch with Python sets (reach is exact).

Field validation (section 1 rules) is not re-implemented: the generator tells which lines it
made schema-invalid. Everything else - malformed JSON, type and key mismatch, future
timestamps, currency, duplicates, lateness, click classes, attribution, windows, formulas,
presence - is computed here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .timefmt import DAY, HOUR, MIN, SEC, parse_time

TOPIC_TYPE = {
    "campaigns": "campaign",
    "posts": "post_published",
    "interactions": "interaction",
    "clicks": "click",
    "orders": "order",
    "content-reviews": "content_review",
}
TYPE_TOPIC = {v: k for k, v in TOPIC_TYPE.items()}
SHORT_HORIZON_TOPICS = {"interactions", "clicks"}
BOT_MARKERS = ["bot", "crawler", "spider", "facebookexternalhit", "slackbot", "whatsapp",
               "telegrambot", "discord", "headlesschrome", "curl/", "python-requests", "wget/"]
ACTIONS = ["impression", "view", "like", "comment", "share", "save", "reply"]
ACTION_KPI = {"impression": "impressions", "view": "views", "like": "likes",
              "comment": "comments", "share": "shares", "save": "saves", "reply": "replies"}
ENGAGEMENT_ACTIONS = ["like", "comment", "share", "save", "reply"]
CRITERIA = ["brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance"]
COUNTERS = ["posts", "influencers_active", "potential_reach", "spend_minor", "impressions",
            "views", "likes", "comments", "shares", "saves", "replies", "engagements", "reach",
            "clicks", "clicks_valid", "clicks_bot", "clicks_repeat", "orders", "orders_code",
            "orders_link", "orders_unattributed", "revenue_minor", "orders_out_of_window",
            "reviews", "duplicate_events", "late_events"]
RATIOS = ["engagement_rate_by_reach", "engagement_rate_by_impressions",
          "engagement_rate_by_views", "engagement_rate_by_followers", "frequency", "ctr",
          "conversion_rate", "aov_minor", "cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor",
          "roas", "content_score", *[f"content_score_{c}" for c in CRITERIA], "budget_used"]
KPI_NAMES = set(COUNTERS) | set(RATIOS)
WINDOW_SECONDS = {"1d": 86_400, "1h": 3_600, "1m": 60}
CAMPAIGN_WINDOWS = ("all", "1d", "1h", "1m")
INFLUENCER_WINDOWS = ("all", "1d", "1h")
LIMIT_DEFAULT = 64 * 1024
LIMIT_CAMPAIGNS = 1024 * 1024


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
    kind: str  # post | interaction | click | order
    data: dict[str, Any]


@dataclass
class Review:
    occurred: int
    post_id: str
    influencer_id: str
    scores: dict[str, int]


@dataclass
class CampaignState:
    definition: dict[str, Any] | None = None
    definition_occurred: int = 0
    seen: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    post_ids: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)
    max_occurred: dict[str, int] = field(default_factory=dict)
    valid_clicks: list[tuple[str, str, int]] = field(default_factory=list)
    reviews: dict[tuple[str, str], Review] = field(default_factory=dict)
    duplicates: int = 0
    late: int = 0


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
        self._key: Any = None
        self._timestamp: int | None = None

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
            if topic not in TOPIC_TYPE:
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
        self._key, self._timestamp = key, timestamp
        self._record(line_no, topic, key, value, timestamp=timestamp,
                     schema_invalid=schema_invalid)

    def _dead(self, line_no: int, reason: str, topic: str, value: str) -> None:
        self.dead.append(DeadLetter(line_no, reason, topic, value, self._key, self._timestamp))

    def _record(self, line_no: int, topic: str, key: Any, value: str, *,
                timestamp: int | None, schema_invalid: bool) -> None:
        limit = LIMIT_CAMPAIGNS if topic == "campaigns" else LIMIT_DEFAULT
        if len(value.encode("utf-8")) > limit:
            self._dead(line_no, "too_large", topic, value)
            return
        try:
            ev = json.loads(value, parse_constant=_reject_constant)
        except ValueError:
            self._dead(line_no, "malformed_json", topic, value)
            return
        if not isinstance(ev, dict) or not isinstance(ev.get("type"), str):
            self._dead(line_no, "schema_violation", topic, value)
            return
        if ev["type"] != TOPIC_TYPE[topic]:
            self._dead(line_no, "type_mismatch", topic, value)
            return
        if schema_invalid:
            self._dead(line_no, "schema_violation", topic, value)
            return
        ev = _strip_nulls(ev)
        ev["_t"] = parse_time(ev["occurred_at"])
        if key is None or key != ev["campaign_id"]:
            self._dead(line_no, "key_mismatch", topic, value)
            return
        if timestamp is not None and ev["_t"] > timestamp * 1000 + HOUR:
            self._dead(line_no, "future_timestamp", topic, value)
            return
        st = self.states[ev["campaign_id"]]
        if (topic in ("campaigns", "orders") and st.definition is not None
                and ev["currency"] != st.definition["currency"]):
            self._dead(line_no, "currency_mismatch", topic, value)
            return
        self._valid(topic, ev, st)

    # ---- counted events ---------------------------------------------------------------
    def _is_duplicate(self, topic: str, ev: dict[str, Any], st: CampaignState) -> bool:
        seen = st.seen[topic]
        eid = ev["event_id"]
        if topic in SHORT_HORIZON_TOPICS:
            if eid in seen:
                max_t = st.max_occurred.get(topic)
                assert max_t is not None
                if seen[eid] >= max_t - self.horizon:
                    return True
            return False
        if eid in seen:
            return True
        if topic == "posts" and ev["post_id"] in st.post_ids:
            return True
        return topic == "orders" and ev["order_id"] in st.order_ids

    def _valid(self, topic: str, ev: dict[str, Any], st: CampaignState) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        all_key = Key(cid, "campaign", cid, "all", None)
        if self._is_duplicate(topic, ev, st):
            st.duplicates += 1
            self.touched.add(all_key)
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
        if topic == "posts":
            st.post_ids.add(ev["post_id"])
            self._add(Fact("post", {"influencer": ev["influencer_id"],
                                    "followers": ev["followers"],
                                    "cost": ev.get("cost_minor", 0)}),
                      cid, t, late=late, influencer=ev["influencer_id"], post=ev["post_id"])
        elif topic == "interactions":
            self._add(Fact("interaction", {"action": ev["action"],
                                           "viewer": ev.get("viewer_id"),
                                           "count": ev.get("count", 1)}),
                      cid, t, late=late, influencer=ev["influencer_id"], post=ev["post_id"])
        elif topic == "clicks":
            self._add(Fact("click", {"class": self._click_class(ev, st)}),
                      cid, t, late=late, influencer=ev["influencer_id"],
                      post=ev.get("post_id"))
        elif topic == "orders":
            st.order_ids.add(ev["order_id"])
            self._order(ev, st, late)
        elif topic == "content-reviews":
            self._review(ev, st)
        else:
            raise AssertionError(topic)

    def _click_class(self, ev: dict[str, Any], st: CampaignState) -> str:
        if is_bot(ev.get("user_agent")):
            return "bot"
        t = ev["_t"]
        visitor = ev.get("visitor_id")
        if visitor is not None:
            for v, link, tv in st.valid_clicks:
                if v == visitor and link == ev["link_id"] and t - 30 * MIN < tv <= t:
                    return "repeat"
            st.valid_clicks.append((visitor, ev["link_id"], t))
        return "valid"

    def _order(self, ev: dict[str, Any], st: CampaignState, late: bool) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        d = st.definition
        influencer: str | None = None
        channel = "unattributed"
        if d is not None:
            ends = parse_time(d["ends_at"])
            window_days = d.get("attribution_window_days", 7)
            if t > ends + window_days * DAY:
                self._add(Fact("order_out_of_window", {}), cid, t, late=late, influencer=None,
                          post=None, campaign_windows=("all",))
                return
            codes: dict[str, str] = {}
            links: dict[str, str] = {}
            for member in d.get("influencers", []):
                for code in member.get("promo_codes", []):
                    codes[code.casefold()] = member["influencer_id"]
                for link in member.get("link_ids", []):
                    links[link] = member["influencer_id"]
            promo = ev.get("promo_code")
            if promo is not None and promo.casefold() in codes:
                influencer, channel = codes[promo.casefold()], "code"
            elif ev.get("link_id") in links:
                influencer, channel = links[ev["link_id"]], "link"
        self._add(Fact("order", {"channel": channel, "amount": ev["amount_minor"],
                                 "attributed": influencer is not None}),
                  cid, t, late=late, influencer=influencer, post=None)

    def _review(self, ev: dict[str, Any], st: CampaignState) -> None:
        cid = ev["campaign_id"]
        t = ev["_t"]
        slot = (ev["post_id"], ev["reviewer_id"])
        current = st.reviews.get(slot)
        if current is None or t >= current.occurred:
            st.reviews[slot] = Review(t, ev["post_id"], ev["influencer_id"], dict(ev["scores"]))
        # A counted review touches the all-window sets of its scopes.
        self.touched.add(Key(cid, "campaign", cid, "all", None))
        self.touched.add(Key(cid, "influencer", ev["influencer_id"], "all", None))
        self.touched.add(Key(cid, "post", ev["post_id"], "all", None))

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
        values = [self._value(k) for k in keys]
        values.sort(key=key_of)
        return Result(values, self.dead, self.bad_lines, dict(self.late_by_topic),
                      dict(self.states))

    def _value(self, key: Key) -> dict[str, Any]:
        size = WINDOW_SECONDS.get(key.window)
        return {
            "schema_version": 1,
            "campaign_id": key.campaign_id,
            "scope": key.scope,
            "scope_id": key.scope_id,
            "window": key.window,
            "window_start": key.start,
            "window_end": None if key.start is None or size is None else key.start + size,
            "kpis": self._kpis(key),
        }

    def _reviews_in_scope(self, key: Key) -> list[Review]:
        reviews = list(self.states[key.campaign_id].reviews.values())
        if key.scope == "influencer":
            return [r for r in reviews if r.influencer_id == key.scope_id]
        if key.scope == "post":
            return [r for r in reviews if r.post_id == key.scope_id]
        return reviews

    def _kpis(self, key: Key) -> dict[str, Any]:
        facts = self.contrib.get(key, [])
        scope, window = key.scope, key.window
        is_all = window == "all"
        money_scope = scope in ("campaign", "influencer")
        k: dict[str, Any] = {}

        posts = [f.data for f in facts if f.kind == "post"]
        inter = [f.data for f in facts if f.kind == "interaction"]
        clicks = [f.data for f in facts if f.kind == "click"]
        orders = [f.data for f in facts if f.kind == "order"]

        k["posts"] = len(posts)
        if scope == "campaign":
            k["influencers_active"] = len({p["influencer"] for p in posts})
        if is_all:
            k["potential_reach"] = sum(p["followers"] for p in posts)
            k["spend_minor"] = sum(p["cost"] for p in posts)
        for action in ACTIONS:
            k[ACTION_KPI[action]] = sum(i["count"] for i in inter if i["action"] == action)
        k["engagements"] = sum(k[ACTION_KPI[a]] for a in ENGAGEMENT_ACTIONS)
        if window != "1m":
            k["reach"] = len({i["viewer"] for i in inter
                              if i["action"] in ("impression", "view") and i["viewer"]})
        k["clicks"] = len(clicks)
        k["clicks_valid"] = sum(1 for c in clicks if c["class"] == "valid")
        k["clicks_bot"] = sum(1 for c in clicks if c["class"] == "bot")
        k["clicks_repeat"] = sum(1 for c in clicks if c["class"] == "repeat")
        if money_scope:
            k["orders"] = len(orders)
            k["orders_code"] = sum(1 for o in orders if o["channel"] == "code")
            k["orders_link"] = sum(1 for o in orders if o["channel"] == "link")
            if scope == "campaign":
                k["orders_unattributed"] = sum(1 for o in orders
                                               if o["channel"] == "unattributed")
            k["revenue_minor"] = sum(o["amount"] for o in orders)
        st = self.states[key.campaign_id]
        if scope == "campaign" and is_all:
            k["orders_out_of_window"] = sum(1 for f in facts if f.kind == "order_out_of_window")
            k["duplicate_events"] = st.duplicates
            k["late_events"] = st.late
        reviews = self._reviews_in_scope(key) if is_all else []
        if is_all:
            k["reviews"] = len(reviews)

        def ratio(name: str, num: str, den: str, factor: int = 1) -> None:
            if num in k and den in k and k[den] != 0:
                k[name] = k[num] * factor / k[den]

        ratio("engagement_rate_by_reach", "engagements", "reach")
        ratio("engagement_rate_by_impressions", "engagements", "impressions")
        ratio("engagement_rate_by_views", "engagements", "views")
        ratio("engagement_rate_by_followers", "engagements", "potential_reach")
        ratio("frequency", "impressions", "reach")
        ratio("ctr", "clicks_valid", "impressions")
        if money_scope:
            ratio("conversion_rate", "orders_link", "clicks_valid")
            ratio("aov_minor", "revenue_minor", "orders")
        if is_all:
            ratio("cpm_minor", "spend_minor", "impressions", 1000)
            ratio("cpe_minor", "spend_minor", "engagements")
            ratio("cpc_minor", "spend_minor", "clicks_valid")
            if money_scope:
                ratio("cpa_minor", "spend_minor", "orders")
                ratio("roas", "revenue_minor", "spend_minor")
            all_scores = [s for r in reviews for s in r.scores.values()]
            if all_scores:
                k["content_score"] = sum(all_scores) / len(all_scores)
            for c in CRITERIA:
                crit = [r.scores[c] for r in reviews if c in r.scores]
                if crit:
                    k[f"content_score_{c}"] = sum(crit) / len(crit)
        if scope == "campaign" and is_all and st.definition is not None:
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
        return k


def run(lines: list[str], schema_invalid: set[int], *, grace_us: int = 6 * HOUR,
        horizon_us: int = 10 * MIN) -> Result:
    """Replay ``lines`` (1-based numbering) and return the KPI values and dead letters."""
    oracle = Oracle(grace_us, horizon_us)
    for i, line in enumerate(lines, start=1):
        oracle.feed(i, line, i in schema_invalid)
    return oracle.result()
