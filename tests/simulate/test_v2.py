"""Contract-v2 input: platform snapshots, refunds, sign-ups and installs, brand-lift surveys."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from itertools import pairwise

import pytest

from streams.domain.errors import Reason
from streams.domain.events import Click, Conversion, Order, OrderRefund, PostMetrics
from streams.domain.vocabulary import QUESTIONS, Source, Topic
from streams.simulate import (
    INVALID,
    STALE,
    VALID,
    SimConfig,
    plan,
    poll_ages,
)

from .support import DAY_US, HOUR_US, START_US, applied, decoded, sample, value

MIN_US = 60_000_000
# Every campaign tracked by snapshots: no interaction events, so the clicks, orders,
# refunds and conversions of micro influencers come cheap. No late records: every poll of
# the schedule is in the stream.
PLATFORM = SimConfig(seed=8, campaigns=3, influencers=8, max_tier="mid", days=4.0,
                     start_us=START_US, platform_tracked="all", survey_size=300,
                     refund_share=0.3, late_share=0.0)
SURVEY = SimConfig(seed=3, campaigns=1, influencers=1, max_tier="nano", days=2.0,
                   start_us=START_US, survey_size=300)


def _snapshots(config: SimConfig) -> dict[str, list[PostMetrics]]:
    """Each post's snapshots as sent (no copies, no broken ones), by event time."""
    series: dict[str, dict[str, PostMetrics]] = defaultdict(dict)
    for record in sample(config):
        if record.topic == Topic.INTERACTIONS and record.kind != INVALID:
            event = decoded(record)
            assert isinstance(event, PostMetrics)  # platform-tracked: no interactions
            series[event.post_id][event.event_id] = event
    return {post: sorted(s.values(), key=lambda e: e.occurred_at_us) for post, s in
            series.items()}


# -- platform snapshots


def test_the_polling_schedule() -> None:
    ages = poll_ages(60 * DAY_US, first_us=10 * MIN_US)
    steps = Counter(b - a for a, b in pairwise(ages))
    assert ages[0] == 10 * MIN_US
    assert steps == {15 * MIN_US: 96, HOUR_US: 6 * 24, 6 * HOUR_US: 23 * 4, DAY_US: 29}
    assert ages[-1] < 60 * DAY_US
    story = poll_ages(DAY_US)
    assert story[-1] < DAY_US
    assert len(story) == 96


def test_platform_posts_are_polled_on_the_schedule() -> None:
    posts = {p.post_id: p for c in plan(PLATFORM) for p in c.posts}
    series = _snapshots(PLATFORM)
    assert set(series) == set(posts)
    for post_id, snapshots in series.items():
        post = posts[post_id]
        # Re-polls come 1-5 minutes after a poll: leave them out to see the schedule.
        polls = [snapshots[0]]
        for snap in snapshots[1:]:
            if snap.occurred_at_us - polls[-1].occurred_at_us > 6 * MIN_US:
                polls.append(snap)
        first_age = polls[0].occurred_at_us - post.published_us
        assert 5 * MIN_US <= first_age <= 15 * MIN_US + 90_000_000
        end = PLATFORM.start_us + PLATFORM.sim_duration_us if PLATFORM.start_us else 0
        for a, b in pairwise(polls):
            if b.occurred_at_us > end - 2 * HOUR_US:
                break  # a poll delivered late then would be sent after the run
            # Each poll lands up to 90 s after its slot (a poller goes through its posts).
            age = a.occurred_at_us - post.published_us
            step = b.occurred_at_us - a.occurred_at_us
            if age < DAY_US - 16 * MIN_US:
                assert abs(step - 15 * MIN_US) <= 90_000_000
            elif age >= DAY_US + 2 * MIN_US:
                assert abs(step - HOUR_US) <= 90_000_000
        if post.format == "story":  # metrics exist for a story's 24 hours only
            assert snapshots[-1].occurred_at_us - post.published_us < DAY_US + 2 * MIN_US


def test_snapshots_carry_what_each_platform_reports_and_can_go_down() -> None:
    posts = {p.post_id: p for c in plan(PLATFORM) for p in c.posts}
    decreases = Counter[str]()
    repolls = 0
    for post_id, snapshots in _snapshots(PLATFORM).items():
        post = posts[post_id]
        names = {name for snap in snapshots for name, _ in snap.metrics}
        if post.platform == "tiktok":
            assert "impressions" not in names
            assert {"views", "reach", "likes"} <= names
        elif post.format == "story":
            assert names == {"impressions", "reach", "replies", "shares"}
        else:
            assert {"impressions", "reach", "likes", "comments"} <= names
        previous: dict[str, int] = {}
        last_at = None
        for snap in snapshots:
            metrics = dict(snap.metrics)
            if "impressions" in metrics:
                assert metrics["reach"] <= metrics["impressions"]
            if last_at is not None and snap.occurred_at_us - last_at < 6 * MIN_US:
                repolls += metrics == previous  # the same values minutes later
            decreases.update(name for name, v in metrics.items() if v < previous.get(name, 0))
            previous, last_at = metrics, snap.occurred_at_us
    assert decreases["likes"] >= 5  # unlikes and purged bot likes
    assert repolls >= 5


def test_the_engine_reads_the_snapshots_as_intended() -> None:
    engine = applied(PLATFORM)
    kinds = Counter(r.kind for r in sample(PLATFORM) if r.topic == Topic.INTERACTIONS)
    assert kinds[STALE] >= 5
    series = _snapshots(PLATFORM)
    for campaign in plan(PLATFORM):
        cid = campaign.campaign_id
        kpis = engine.kpis(cid)
        # A poll delivered after the next one is stale, unless that one was delayed too.
        delayed = sum(r.kind == STALE for r in sample(PLATFORM)
                      if r.key == cid.encode() and r.topic == Topic.INTERACTIONS)
        assert 0.9 * delayed <= kpis["stale_snapshots"] <= delayed
        assert kpis["reach"] == 0  # no viewer ids: platform reach only enters reach_sum
        reach_sum = engagements = 0
        for post in campaign.posts:
            post_kpis = engine.kpis(cid, "post", post.post_id)
            assert post_kpis["metrics_source"] == Source.PLATFORM
            in_force = dict(series[post.post_id][-1].metrics)
            assert post_kpis["reach"] == in_force.get("reach", 0)
            reach_sum += post_kpis["reach"]
            engagements += sum(in_force.get(name, 0) for name in
                               ("likes", "comments", "shares", "saves", "replies"))
        assert kpis["reach_sum"] == reach_sum > 0
        assert kpis["engagements"] == engagements > 0


# -- refunds


def _orders_and_refunds(config: SimConfig) -> tuple[dict[str, tuple[int, Order]],
                                                    list[tuple[int, OrderRefund]]]:
    orders: dict[str, tuple[int, Order]] = {}
    refunds: list[tuple[int, OrderRefund]] = []
    for index, record in enumerate(sample(config)):
        if record.topic != Topic.ORDERS or record.kind not in (VALID, "late"):
            continue
        event = decoded(record)
        if isinstance(event, Order):
            orders[event.order_id] = (index, event)
        elif isinstance(event, OrderRefund):
            refunds.append((index, event))
    return orders, refunds


def test_refunds_follow_their_orders_days_later_some_in_part() -> None:
    orders, refunds = _orders_and_refunds(PLATFORM)
    assert len(orders) > 100
    delays = []
    partial = 0
    for index, refund in refunds:
        order_index, order = orders[refund.order_id]
        assert order_index < index  # the processor has the order when the refund comes
        delay = refund.occurred_at_us - order.occurred_at_us
        assert delay >= HOUR_US
        delays.append(delay)
        if refund.amount_minor < order.amount_minor:
            partial += 1
            assert 0.29 * order.amount_minor <= refund.amount_minor <= 0.7 * order.amount_minor
    cancellations = sum(d < DAY_US for d in delays)
    assert cancellations >= 5  # within the day, in full
    # Returns come days to weeks later: in a 4-day run only the first of them.
    assert len(delays) - cancellations >= 2
    assert partial >= 1
    # 30 % of orders are refunded; those whose refund would come after the run are not sent.
    assert 0.05 * len(orders) < len(refunds) < 0.3 * len(orders)


def test_the_engine_nets_the_refunds() -> None:
    engine = applied(PLATFORM)
    _, refunds = _orders_and_refunds(PLATFORM)
    by_campaign = Counter(refund.campaign_id for _, refund in refunds)
    for campaign in plan(PLATFORM):
        kpis = engine.kpis(campaign.campaign_id)
        assert kpis["refunds"] == by_campaign[campaign.campaign_id]
        assert kpis["refunds_unmatched"] == 0
        assert kpis["revenue_net_minor"] == kpis["revenue_minor"] - kpis["refunded_minor"]
        if kpis["refunds"]:
            assert kpis["roas_net"] < kpis["roas"]


# -- lead generation


def test_conversion_campaigns_collect_signups_and_installs_by_link_and_code() -> None:
    engine = applied(PLATFORM)
    for campaign in plan(PLATFORM):
        kpis = engine.kpis(campaign.campaign_id)
        if not campaign.lead_gen:
            assert campaign.objective != "conversion"
            assert kpis["conversions"] == 0
            continue
        actions = kpis["conversions_by_action"]
        assert set(actions) == {"signup", "app_install"}
        assert kpis["conversions_link"] > 0
        assert kpis["conversions_code"] > 0
        assert kpis["conversion_value_minor"] == 400 * actions["signup"] + (
            250 * actions["app_install"])
        # Landing pages convert a few % to ~10 % of visitors, installs a few % of clicks.
        assert 0.05 < kpis["action_rate"] < 0.14
    conversions = [decoded(r) for r in sample(PLATFORM)
                   if r.topic == Topic.CONVERSIONS and r.kind == VALID]
    first_clicks: dict[tuple[str | None, str], int] = {}
    for record in sample(PLATFORM):
        if record.topic == Topic.CLICKS and record.kind != INVALID:
            click = decoded(record)
            assert isinstance(click, Click)
            first_clicks.setdefault((click.visitor_id, click.link_id), click.occurred_at_us)
    for conversion in conversions:
        assert isinstance(conversion, Conversion)
        if conversion.link_id is not None:  # the visitor's click came first
            assert first_clicks[conversion.customer_id, conversion.link_id] <= (
                conversion.occurred_at_us)


# -- brand-lift surveys


@pytest.mark.parametrize("seed", range(1, 31))
def test_the_study_sizes_make_strong_lifts_significant_and_small_ones_not(seed: int) -> None:
    [campaign] = plan(replace(SURVEY, seed=seed))
    assert campaign.survey is not None
    for size, significant, limit in (
        (300, {"awareness", "recall"}, 1.96),
        (600, {"awareness", "recall"}, 1.5),
        (2000, {"awareness", "recall", "consideration", "intent"}, 1.96),
    ):
        study = replace(campaign.survey, exposed=size, control=size)
        expected = study.expected()
        found = {q for q, entry in expected.items() if abs(entry["z"]) >= 1.96}
        assert found == significant, size
        assert all(abs(expected[q]["z"]) < limit for q in set(QUESTIONS) - significant)


def test_the_survey_ends_with_the_planned_brand_lift() -> None:
    [campaign] = plan(SURVEY)
    assert campaign.survey is not None
    assert campaign.source == Source.PLATFORM
    kpis = applied(SURVEY).kpis(campaign.campaign_id)
    assert kpis["survey_responses"] == 2 * 300 * len(QUESTIONS)
    lift = kpis["brand_lift"]
    expected = campaign.survey.expected()
    assert set(lift) == set(QUESTIONS)
    for question, entry in expected.items():
        for name in ("exposed", "exposed_positive", "control", "control_positive"):
            assert lift[question][name] == entry[name]
        assert lift[question]["lift"] == pytest.approx(entry["lift"])
        assert lift[question]["z"] == pytest.approx(entry["z"])
    significant = {q for q, entry in lift.items() if abs(entry["z"]) >= 1.96}
    assert significant == {"awareness", "recall"}
    assert all(entry["lift"] > 0 for entry in lift.values())


def test_every_respondent_answers_every_question_once() -> None:
    answers = Counter[tuple[str, str]]()
    groups: dict[str, str] = {}
    for record in sample(SURVEY):
        if record.topic == Topic.SURVEYS and record.kind == VALID:
            obj = value(record)
            answers[obj["respondent_id"], obj["question"]] += 1
            assert groups.setdefault(obj["respondent_id"], obj["group"]) == obj["group"]
    assert set(answers.values()) == {1}
    assert Counter(groups.values()) == {"exposed": 300, "control": 300}


# -- what the defaults hold, and broken v2 records


def test_the_default_run_holds_every_v2_feature() -> None:
    awareness, engagement, conversion = plan(SimConfig(start_us=START_US))
    assert (awareness.source, engagement.source, conversion.source) == (
        Source.PLATFORM, Source.EVENTS, Source.EVENTS)
    assert awareness.survey is not None
    assert awareness.survey.exposed == awareness.survey.control == 600
    assert engagement.survey is None
    assert conversion.survey is None
    assert (awareness.lead_gen, engagement.lead_gen, conversion.lead_gen) == (
        False, False, True)
    assert {c.refund_share for c in (awareness, engagement, conversion)} == {0.06}
    assert not [c.problems for c in (awareness, engagement, conversion) if c.problems]
    none = plan(SimConfig(start_us=START_US, platform_tracked="none", surveys="none",
                          lead_gen="none", refund_share=0.0))
    assert all(c.source == Source.EVENTS and c.survey is None and not c.lead_gen
               for c in none)


def test_broken_records_cover_every_dead_letter_reason() -> None:
    config = replace(PLATFORM, invalid_share=0.25)
    reasons = applied(config).reasons
    assert set(reasons) == set(Reason)
    assert sum(reasons.values()) == sum(r.kind == INVALID for r in sample(config))
