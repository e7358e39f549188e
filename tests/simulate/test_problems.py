"""--problem: each plants the input that should fire its campaign alert (notes/alerts.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.domain.events import Click, Order, PostPublished
from streams.domain.vocabulary import Topic
from streams.simulate import (
    INVALID,
    PROBLEMS,
    CampaignPlan,
    Problem,
    SimConfig,
    SimRecord,
    describe,
    plan,
)

from .support import DAY_US, HOUR_US, START_US, applied, apply, decoded, sample

ALL = tuple(Problem.parse(name) for name in PROBLEMS)
CLEAN = SimConfig(seed=21, campaigns=3, influencers=3, max_tier="nano", days=3.0,
                  start_us=START_US, survey_size=100)
TROUBLED = replace(CLEAN, problems=ALL)
BOT_WORDS = ("bot", "crawler", "spider", "facebookexternalhit", "slackbot", "whatsapp",
             "telegrambot", "discord", "headlesschrome", "curl/", "python-requests", "wget/")


def _campaign(config: SimConfig, objective: str) -> CampaignPlan:
    return next(c for c in plan(config) if c.objective == objective)


def _until(config: SimConfig, at_us: int) -> list[SimRecord]:
    """The records sent before ``at_us`` (records come in emission order)."""
    return [r for r in sample(config) if r.timestamp_ms * 1000 < at_us]


# -- the option's syntax


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bot-flood", Problem("bot-flood")),
        ("bot-flood:36h", Problem("bot-flood", at_us=36 * HOUR_US)),
        ("feed-silent:1d12h+90m@2",
         Problem("feed-silent", at_us=36 * HOUR_US, length_us=90 * 60_000_000, campaign=2)),
        ("engagement-drop:60%+10%", Problem("engagement-drop", at_share=0.6, length_share=0.1)),
        ("leaked-code@3", Problem("leaked-code", campaign=3)),
        ("budget-ahead:0.5d", Problem("budget-ahead", at_us=DAY_US // 2)),
    ],
)
def test_problem_specs(spec: str, expected: Problem) -> None:
    assert Problem.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bot-storm", "unknown problem"),
        ("bot-flood:tomorrow", "not a duration"),
        ("bot-flood:3x", "not a duration"),
        ("pacing-behind:2d+3h", r"takes no \+LENGTH"),
        ("budget-ahead@0", "numbered from 1"),
        ("bot flood", "not NAME"),
    ],
)
def test_bad_problem_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Problem.parse(spec)


def test_every_alert_rule_has_its_problem() -> None:
    rules = {"pacing_behind", "kpi_drop", "feed_silent", "bot_clicks", "leaked_code",
             "budget_ahead"}  # notes/alerts.md ("kpi_spike" needs no planting: launches)
    assert {kind.alert for kind in PROBLEMS.values()} == rules


def test_problems_go_to_their_objectives_campaign_or_the_numbered_one() -> None:
    placed = {c.objective: {p.name for p in c.problems} for c in plan(TROUBLED)}
    assert placed == {
        "awareness": {"pacing-behind"},
        "engagement": {"feed-silent", "engagement-drop"},
        "conversion": {"bot-flood", "leaked-code", "budget-ahead"},
    }
    moved = plan(replace(CLEAN, problems=(Problem.parse("bot-flood@1"),)))
    assert [p.name for p in moved[0].problems] == ["bot-flood"]
    with pytest.raises(ValueError, match="no campaign 4"):
        plan(replace(CLEAN, problems=(Problem.parse("bot-flood@4"),)))
    assert "should fire bot_clicks" in describe(TROUBLED)


def test_a_problem_leaves_the_other_campaigns_plans_alone() -> None:
    clean, troubled = plan(CLEAN), plan(replace(CLEAN, problems=(Problem("bot-flood"),)))
    assert clean[:2] == troubled[:2]
    assert replace(troubled[2], problems=()) == clean[2]


def test_the_clean_run_plants_no_problem() -> None:
    assert all(not c.problems for c in plan(CLEAN))


def test_every_record_but_the_broken_ones_is_counted() -> None:
    kinds = [r.kind for r in sample(TROUBLED)]
    for kind, outcome in zip(kinds, applied(TROUBLED).outcomes, strict=True):
        assert (kind == INVALID) == (outcome not in {"counted", "duplicate", "late"})


# -- each problem's input


def test_bot_flood_makes_a_link_mostly_bots() -> None:
    campaign = _campaign(TROUBLED, "conversion")
    flood = campaign.planted("bot-flood")
    assert flood is not None
    assert flood.target in {link for inf in campaign.influencers for link in inf.link_ids.values()}
    clicks = [e for r in sample(TROUBLED) if r.topic == Topic.CLICKS and r.kind != INVALID
              and isinstance(e := decoded(r), Click) and e.link_id == flood.target]
    bots = [c for c in clicks if any(w in (c.user_agent or "").lower() for w in BOT_WORDS)]
    assert len(clicks) >= 150
    assert len(bots) / len(clicks) > 0.3  # the rule: above 15 % with at least 50 clicks
    during = [c for c in clicks if flood.starts_us <= c.occurred_at_us < flood.ends_us]
    assert len(during) >= 150
    # Without the problem the link stays below the threshold.
    clean = [e for r in sample(CLEAN) if r.topic == Topic.CLICKS and r.kind != INVALID
             and isinstance(e := decoded(r), Click) and e.link_id == flood.target]
    clean_bots = [c for c in clean if any(w in (c.user_agent or "").lower() for w in BOT_WORDS)]
    assert len(clean) < 50 or len(clean_bots) / len(clean) < 0.15


def test_leaked_code_has_orders_and_no_click() -> None:
    campaign = _campaign(TROUBLED, "conversion")
    leak = campaign.planted("leaked-code")
    assert leak is not None
    cid = campaign.campaign_id
    roster = {inf.influencer_id: inf for inf in campaign.influencers}
    assert leak.target in roster
    kpis = applied(TROUBLED).kpis(cid, "influencer", leak.target)
    assert kpis["orders_code"] >= 30
    assert kpis["clicks"] == 0
    assert kpis["posts"] == 0
    assert not any(isinstance(e := decoded(r), Click | PostPublished)
                   and e.influencer_id == leak.target
                   for r in sample(TROUBLED) if r.kind != INVALID and r.topic != Topic.ORDERS)
    # A redemption spike: most of the code's orders in the first hours.
    times = sorted(e.occurred_at_us for r in sample(TROUBLED)
                   if r.topic == Topic.ORDERS and r.kind != INVALID
                   and isinstance(e := decoded(r), Order) and e.promo_code is not None
                   and e.promo_code.casefold() == roster[leak.target].promo_code.casefold())
    assert sum(t < leak.starts_us + 6 * HOUR_US for t in times) > len(times) / 2


def test_feed_silent_sends_nothing_of_the_campaign_for_its_length() -> None:
    campaign = _campaign(TROUBLED, "engagement")
    silence = campaign.planted("feed-silent")
    assert silence is not None
    assert silence.ends_us - silence.starts_us == 2 * HOUR_US
    mine = [r.timestamp_ms * 1000 for r in sample(TROUBLED)
            if r.key.endswith(campaign.campaign_id.encode())]
    assert not [t for t in mine if silence.starts_us <= t < silence.ends_us]
    assert [t for t in mine if silence.starts_us - HOUR_US <= t < silence.starts_us]
    assert [t for t in mine if silence.ends_us <= t < silence.ends_us + HOUR_US]
    others = [r for r in sample(TROUBLED) if not r.key.endswith(campaign.campaign_id.encode())
              and silence.starts_us <= r.timestamp_ms * 1000 < silence.ends_us]
    assert others  # the other campaigns go on


# Enough engagement per hour for the rule ("enough events only"): the drop 26 h in, read
# against hours 2-26 of the launch wave.
DROP = SimConfig(seed=4, campaigns=2, influencers=6, max_tier="nano", days=2.0,
                 start_us=START_US, surveys="none")


def test_engagement_drop_collapses_the_hours_against_the_day_before() -> None:
    troubled = replace(DROP, problems=(Problem.parse("engagement-drop:26h+4h"),))
    campaign = _campaign(troubled, "engagement")
    drop = campaign.planted("engagement-drop")
    assert drop is not None
    assert drop.starts_us - campaign.starts_us == 26 * HOUR_US
    default = Problem("engagement-drop").window(campaign.starts_us, campaign.ends_us)
    assert default[0] - campaign.starts_us >= 25 * HOUR_US  # 24 h of history, always

    def ratios(config: SimConfig) -> list[float]:
        hours = applied(config).windows(campaign.campaign_id, "1h")
        found = []
        for start in range(drop.starts_us // 1_000_000, drop.ends_us // 1_000_000, 3600):
            before = [hours.get(start - 3600 * k, {}).get("engagements", 0)
                      for k in range(1, 25)]
            mean = sum(before) / 24
            assert mean > 30
            found.append(hours.get(start, {}).get("engagements", 0) / mean)
        return found

    # The natural decay alone gives an hour 0.3-0.5 of the 24 hours before it (second
    # pieces lift it); the drop takes it to 5 % of that.
    assert all(ratio < 0.15 for ratio in ratios(troubled))
    assert all(ratio > 0.2 for ratio in ratios(DROP))


def test_pacing_behind_keeps_the_targets_and_slips_every_post() -> None:
    campaign = _campaign(TROUBLED, "awareness")
    slip = campaign.planted("pacing-behind")
    assert slip is not None
    assert campaign.targets == _campaign(CLEAN, "awareness").targets
    assert min(p.published_us for p in campaign.posts) >= slip.starts_us
    # After 10 % of the schedule, before the slip: no progress at all (pace 0 < 0.8)...
    length = campaign.ends_us - campaign.starts_us
    at = campaign.starts_us + length // 5
    cid = campaign.campaign_id
    early = apply(_until(TROUBLED, at)).kpis(cid)
    assert all(share == 0 for name, share in early["target_progress"].items()
               if name != "cpm_minor")
    # ...while the clean run is well on pace (front-loaded by its launch wave).
    clean = apply(_until(CLEAN, at)).kpis(cid)
    assert all(share / 0.2 >= 0.8 for name, share in clean["target_progress"].items()
               if name != "cpm_minor")


def test_budget_ahead_spends_the_whole_budget_early() -> None:
    campaign = _campaign(TROUBLED, "conversion")
    boost = campaign.planted("budget-ahead")
    assert boost is not None
    cid = campaign.campaign_id
    at = boost.starts_us + HOUR_US
    elapsed = (at - campaign.starts_us) / (campaign.ends_us - campaign.starts_us)
    assert elapsed < 0.25
    assert apply(_until(TROUBLED, at)).kpis(cid)["budget_used"] >= 1.0
    assert apply(_until(CLEAN, at)).kpis(cid)["budget_used"] < 1.0
