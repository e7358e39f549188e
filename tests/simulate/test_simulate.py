"""The simulator: deterministic, valid but for its invalid share, roster-true, v1 ways kept."""

from __future__ import annotations

import io
from collections import Counter

from streams import replay
from streams.config import Settings
from streams.domain.events import (
    CampaignDefined,
    Click,
    Conversion,
    Interaction,
    Order,
    OrderRefund,
    PostMetrics,
    PostPublished,
)
from streams.domain.vocabulary import Topic
from streams.simulate import (
    BOT,
    DUPLICATE,
    INVALID,
    LATE,
    STALE,
    VALID,
    SimConfig,
    plan,
    records,
    write_file,
)

from .support import HOUR_MS, START_US, applied, decoded, sample

# Conversion campaigns of nano influencers: the most clicks and orders for the fewest records.
BASE = SimConfig(
    seed=11, campaigns=3, influencers=6, max_tier="nano", days=3.0, duration_s=2 * 86_400,
    start_us=START_US, objectives=("conversion",), duplicate_share=0.05, late_share=0.04,
    bot_share=0.1, invalid_share=0.02,
)


def test_same_config_same_records_byte_for_byte() -> None:
    small = SimConfig(seed=3, start_us=START_US, events=5_000, max_tier="micro")
    assert list(records(small)) == list(records(small))
    other = SimConfig(seed=4, start_us=START_US, events=5_000, max_tier="micro")
    assert list(records(small)) != list(records(other))


def test_events_limit_and_definitions_first() -> None:
    out = list(records(SimConfig(seed=2, start_us=START_US, events=1_000)))
    assert len(out) == 1_000
    assert [r.topic for r in out[:3]] == [Topic.CAMPAIGNS] * 3
    assert Topic.CAMPAIGNS not in {r.topic for r in out[3:]}


def test_the_engine_rejects_exactly_the_invalid_records() -> None:
    """Codec and engine together: broken records are dead-lettered, nothing else is."""
    outcomes = applied(BASE).outcomes
    kinds = [r.kind for r in sample(BASE)]
    rejected = {"counted", "duplicate", "late"}
    wrong = [
        (i, kind, outcome) for i, (kind, outcome) in enumerate(zip(kinds, outcomes, strict=True))
        if (kind == INVALID) == (outcome in rejected)
    ]
    assert wrong == []


def test_timestamps_never_before_occurred_at_and_in_emission_order() -> None:
    last = 0
    for record in sample(BASE):
        if record.kind == INVALID:
            continue
        event = decoded(record)
        assert event.occurred_at_us // 1000 <= record.timestamp_ms
        if record.topic != Topic.CAMPAIGNS:
            assert record.timestamp_ms >= last
            last = record.timestamp_ms


def test_shares_roughly_as_configured() -> None:
    kinds = Counter(r.kind for r in sample(BASE))
    base = kinds[VALID] + kinds[LATE] + kinds[BOT] + kinds[STALE]
    assert base > 50_000
    assert 0.035 < kinds[DUPLICATE] / base < 0.065
    assert 0.013 < kinds[INVALID] / base < 0.027
    clicks = [r for r in sample(BASE) if r.topic == Topic.CLICKS and r.kind in (VALID, BOT, LATE)]
    bots = sum(r.kind == BOT for r in clicks)
    assert 0.05 < bots / len(clicks) < 0.15
    # Late events sent after the run are dropped, so fewer than configured make it.
    late_able = [r for r in sample(BASE)
                 if r.topic not in (Topic.CAMPAIGNS, Topic.POSTS) and r.kind != INVALID]
    late = [r for r in late_able if r.kind == LATE]
    assert 0.01 < len(late) / len(late_able) < 0.045
    for record in late:
        assert decoded(record).occurred_at_us // 1000 < record.timestamp_ms - 6 * HOUR_MS


def test_duplicates_are_exact_resends_and_the_engine_sees_each_one() -> None:
    seen = {(r.topic, r.value) for r in sample(BASE) if r.kind != DUPLICATE}
    duplicates = [r for r in sample(BASE) if r.kind == DUPLICATE]
    assert duplicates
    assert all((r.topic, r.value) in seen for r in duplicates)
    outcomes = Counter(applied(BASE).outcomes)
    assert outcomes["duplicate"] == len(duplicates)


def test_bot_clicks_carry_a_bot_user_agent() -> None:
    bot_words = ("bot", "crawler", "spider", "facebookexternalhit", "whatsapp", "discord",
                 "headlesschrome", "curl/", "python-requests", "wget/")
    for record in sample(BASE):
        if record.topic == Topic.CLICKS and record.kind in (VALID, BOT):
            click = decoded(record)
            assert isinstance(click, Click)
            is_bot = any(word in (click.user_agent or "").lower() for word in bot_words)
            assert is_bot == (record.kind == BOT)


def test_roster_consistency() -> None:
    definitions: dict[str, CampaignDefined] = {}
    posts: dict[str, PostPublished] = {}
    orders: dict[str, Order] = {}
    attributed = Counter[str]()
    for record in sample(BASE):
        if record.kind == INVALID:
            continue
        event = decoded(record)
        if isinstance(event, CampaignDefined):
            definitions[event.campaign_id] = event
            continue
        definition = definitions[event.campaign_id]  # definitions come first
        roster = {entry.influencer_id: entry for entry in definition.influencers}
        if isinstance(event, PostPublished):
            assert event.influencer_id in roster
            posts[event.post_id] = event
        elif isinstance(event, Interaction | PostMetrics):
            assert posts[event.post_id].influencer_id == event.influencer_id
        elif isinstance(event, Click):
            assert event.link_id in roster[event.influencer_id].link_ids
            assert event.post_id is None or posts[event.post_id].influencer_id == (
                event.influencer_id
            )
        elif isinstance(event, Order | Conversion):
            assert event.currency == definition.currency
            name = type(event).__name__.lower()
            if event.promo_code is not None:
                assert event.promo_code.casefold() in definition.code_owners
                attributed[f"{name} code"] += 1
            elif event.link_id is not None:
                assert event.link_id in definition.link_owners
                attributed[f"{name} link"] += 1
            else:
                attributed[f"{name} none"] += 1
            if isinstance(event, Order):
                orders[event.order_id] = event
        elif isinstance(event, OrderRefund):
            order = orders[event.order_id]  # sent after its order
            assert event.currency == order.currency
            assert event.amount_minor <= order.amount_minor
            assert event.occurred_at_us > order.occurred_at_us
    assert len(definitions) == 3
    assert {"order code", "order link", "conversion code", "conversion link"} <= set(attributed)
    for campaign in plan(BASE):
        codes = [inf.promo_code.casefold() for inf in campaign.influencers]
        links = [link for inf in campaign.influencers for link in inf.link_ids.values()]
        assert len(set(codes)) == len(codes)
        assert len(set(links)) == len(links)


def test_objectives_cycle_and_targets_match_them() -> None:
    campaigns = plan(SimConfig(seed=11, start_us=START_US))
    assert [c.objective for c in campaigns] == ["awareness", "engagement", "conversion"]
    # The awareness campaign is tracked by platform snapshots: reach is their sum.
    assert set(campaigns[0].targets) == {"reach_sum", "impressions", "cpm_minor"}
    assert set(campaigns[1].targets) == {"engagements", "engagement_rate_by_reach", "cpe_minor"}
    assert {"orders", "roas", "conversions", "cost_per_conversion_minor"} <= set(
        campaigns[2].targets)
    for campaign in campaigns:
        assert all(value > 0 for value in campaign.targets.values())
        assert campaign.budget_minor >= sum(post.cost_minor for post in campaign.posts)
    events_only = plan(SimConfig(seed=11, start_us=START_US, platform_tracked="none",
                                 lead_gen="none"))
    assert "reach" in events_only[0].targets
    assert "conversions" not in events_only[2].targets


def test_realistic_figures() -> None:
    """Engagement and click rates in the published ranges, frequency above 1."""
    totals = Counter[str]()
    viewers: set[str] = set()
    for record in sample(BASE):
        if record.kind not in (VALID, LATE) or record.topic != Topic.INTERACTIONS:
            continue
        event = decoded(record)
        assert isinstance(event, Interaction)
        totals[event.action] += event.count
        if event.action == "impression" and event.viewer_id is not None:
            viewers.add(event.viewer_id)
    engagements = sum(totals[a] for a in ("like", "comment", "share", "save", "reply"))
    assert 1.2 < totals["impression"] / len(viewers) < 2.2  # frequency
    assert 0.005 < engagements / totals["impression"] < 0.3


def test_replay_of_the_file_counts_what_the_simulator_meant() -> None:
    config = SimConfig(seed=5, start_us=START_US, duration_s=8 * 3600, max_tier="nano",
                       duplicate_share=0.03, invalid_share=0.01)
    buffer = io.BytesIO()
    assert write_file(config, buffer) == len(list(records(config)))
    lines = list(enumerate(buffer.getvalue().splitlines(), start=1))
    result = replay.run(lines, Settings())
    kinds = Counter(r.kind for r in records(config))
    assert result.summary.bad_lines == 0
    assert sum(result.summary.rejected.values()) == kinds[INVALID]
    # Re-sent records are duplicates (an order id or post id re-sent is one too).
    assert result.summary.outcomes["duplicate"] == kinds[DUPLICATE]
    values = {(v["campaign_id"], v["scope"], v["window"]): v for v in result.results()}
    for campaign in plan(config):
        kpis = values[campaign.campaign_id, "campaign", "all"]["kpis"]
        assert kpis["objective"] == campaign.objective
        assert kpis["posts"] > 0
        assert kpis["impressions"] >= kpis["reach"]
    assert sum(values[c.campaign_id, "campaign", "all"]["kpis"]["reach"] for c in plan(config))


def test_orders_attributed_by_code_and_link() -> None:
    orders = [decoded(r) for r in sample(BASE) if r.topic == Topic.ORDERS and r.kind == VALID]
    assert len(orders) >= 10
    assert any(isinstance(o, Order) and o.promo_code for o in orders)
    assert any(isinstance(o, Order) and o.link_id for o in orders)
