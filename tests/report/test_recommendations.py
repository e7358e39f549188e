"""The recommendation rules, each at its threshold (streams.domain.recommendations)."""

from __future__ import annotations

import dataclasses

import pytest

from streams.domain.objectives import pacing
from streams.domain.recommendations import (
    BOT_MIN_CLICKS,
    BOT_SHARE_MAX,
    COSTLY_RATIO,
    EXTEND_MIN_BUDGET_LEFT,
    LIFT_MIN_GROUP,
    MIN_EVENTS,
    REUSE_MIN_REUSABILITY,
    RULES,
    CampaignFacts,
    ScopeFigures,
    brand_lift_sample,
    check_bot_clicks,
    extend_campaign,
    read_brand_lift,
    reallocate_budget,
    recommend,
    reuse_as_paid_media,
    too_few_events,
)


def _influencers(*cpes: float, engagements: int = MIN_EVENTS) -> list[ScopeFigures]:
    return [
        ScopeFigures(f"inf{i}", {"cpe_minor": cpe, "engagements": engagements})
        for i, cpe in enumerate(cpes)
    ]


def test_every_rule_has_a_name_thresholds_and_a_summary() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert rule.summary
        assert rule.thresholds


def test_no_rule_can_see_another_campaign() -> None:
    # The rules' only input is one campaign's figures: nothing to compare objectives with.
    fields = {f.name for f in dataclasses.fields(CampaignFacts)}
    assert fields == {"objective", "campaign", "influencers", "posts", "pacing", "elapsed"}


def test_reallocate_above_twice_the_median() -> None:
    facts = CampaignFacts("engagement", {}, _influencers(10, 10, 11, 10.5 * COSTLY_RATIO + 0.1))
    [finding] = reallocate_budget(facts)
    assert finding.rule == "reallocate_budget"
    assert finding.subject == "influencer inf3"
    assert finding.figures["campaign median cpe_minor"] == 10.5
    assert "inf0" in finding.action


def test_reallocate_not_at_exactly_twice_nor_without_enough_data() -> None:
    assert reallocate_budget(CampaignFacts("engagement", {}, _influencers(10, 10, 20))) == []
    assert reallocate_budget(CampaignFacts("engagement", {}, _influencers(10, 10, 21))) != []
    few = _influencers(10, 10, 50, engagements=MIN_EVENTS - 1)
    assert reallocate_budget(CampaignFacts("engagement", {}, few)) == []
    two = _influencers(10, 50)
    assert reallocate_budget(CampaignFacts("engagement", {}, two)) == []


def test_reallocate_uses_the_objectives_cost() -> None:
    rows = [ScopeFigures(f"i{n}", {"cpa_minor": cpa, "orders": 40}) for n, cpa in
            enumerate((100, 100, 100, 500))]
    [finding] = reallocate_budget(CampaignFacts("conversion", {}, rows))
    assert "cpa_minor" in finding.figures
    assert reallocate_budget(CampaignFacts("awareness", {}, rows)) == []


def _post(**scores: float) -> ScopeFigures:
    kpis: dict[str, object] = {
        "reviews": 2, "content_score": 4.2, "content_score_reusability": REUSE_MIN_REUSABILITY,
        "content_score_compliance": 4.0,
    }
    kpis.update(scores)
    return ScopeFigures("p1", kpis)


def test_reuse_as_paid_media() -> None:
    [finding] = reuse_as_paid_media(CampaignFacts("awareness", {}, posts=[_post()]))
    assert finding.subject == "post p1"
    assert reuse_as_paid_media(CampaignFacts(None, {}, posts=[_post(reviews=1)])) == []
    assert reuse_as_paid_media(CampaignFacts(None, {}, posts=[_post(content_score=3.99)])) == []
    low = _post(content_score_reusability=REUSE_MIN_REUSABILITY - 0.01)
    assert reuse_as_paid_media(CampaignFacts(None, {}, posts=[low])) == []
    unsafe = _post(content_score_compliance=3.5)
    assert reuse_as_paid_media(CampaignFacts(None, {}, posts=[unsafe])) == []


def test_check_bot_clicks() -> None:
    bots = int(BOT_SHARE_MAX * 100) + 1
    high = ScopeFigures("inf1", {"clicks": 100, "clicks_bot": bots})
    [finding] = check_bot_clicks(CampaignFacts(None, {}, influencers=[high]))
    assert finding.subject == "influencer inf1"
    at = ScopeFigures("inf1", {"clicks": 100, "clicks_bot": int(BOT_SHARE_MAX * 100)})
    assert check_bot_clicks(CampaignFacts(None, {}, influencers=[at])) == []
    few = {"clicks": BOT_MIN_CLICKS - 1, "clicks_bot": BOT_MIN_CLICKS - 1}
    assert check_bot_clicks(CampaignFacts(None, few)) == []


def test_extend_campaign_when_ahead_with_budget_left() -> None:
    kpis = {"budget_used": 1 - EXTEND_MIN_BUDGET_LEFT}
    ahead = [pacing("reach", 0.7, 0.5), pacing("impressions", 0.5, 0.5)]
    [finding] = extend_campaign(CampaignFacts("awareness", kpis, pacing=ahead, elapsed=0.5))
    assert finding.figures["pace reach"] == pytest.approx(1.4)
    # Not when a headline target is behind, the budget is spent, too early or over.
    behind = [*ahead, pacing("cpm_minor", 4.0, 0.5)]
    assert extend_campaign(CampaignFacts("awareness", kpis, pacing=behind, elapsed=0.5)) == []
    spent = {"budget_used": 0.9}
    assert extend_campaign(CampaignFacts("awareness", spent, pacing=ahead, elapsed=0.5)) == []
    assert extend_campaign(CampaignFacts("awareness", kpis, pacing=ahead, elapsed=0.2)) == []
    assert extend_campaign(CampaignFacts("awareness", kpis, pacing=ahead, elapsed=1.0)) == []
    on_track = [pacing("reach", 0.5, 0.5)]
    assert extend_campaign(CampaignFacts("awareness", kpis, pacing=on_track, elapsed=0.5)) == []


def test_too_few_events_groups_kpis_by_their_count() -> None:
    kpis = {"orders": MIN_EVENTS - 1, "cpa_minor": 10.0, "roas": 1.0, "clicks_valid": 500,
            "ctr": 0.01}
    [finding] = too_few_events(CampaignFacts("conversion", kpis))
    assert finding.figures["orders"] == MIN_EVENTS - 1
    assert finding.figures["KPIs"] == "orders, cpa_minor, roas"
    enough = {**kpis, "orders": MIN_EVENTS}
    assert too_few_events(CampaignFacts("conversion", enough)) == []


LIFT = {
    "recall": {"exposed": 400, "exposed_positive": 200, "control": 400, "control_positive": 140,
               "lift": 0.15, "relative_lift": 0.4286, "z": 4.3},
    "awareness": {"exposed": 50, "exposed_positive": 20, "control": 400,
                  "control_positive": 120, "lift": 0.1, "relative_lift": 0.33, "z": 1.4},
    "intent": {"exposed": 10, "exposed_positive": 0, "control": 0, "control_positive": 0},
}


def test_read_brand_lift() -> None:
    readings = read_brand_lift(LIFT)
    assert [r.question for r in readings] == ["awareness", "recall", "intent"]
    awareness, recall, intent = readings
    assert recall.significant
    assert not recall.too_small
    assert not awareness.significant
    assert awareness.too_small
    assert intent.lift is None
    assert intent.control_rate is None
    assert recall.exposed_rate == 0.5
    assert read_brand_lift(None) == []


def test_brand_lift_sample_rule() -> None:
    findings = brand_lift_sample(CampaignFacts(None, {"brand_lift": LIFT}))
    assert [f.subject for f in findings] == [
        "brand lift question awareness", "brand lift question intent"
    ]
    for finding in findings:
        exposed, control = finding.figures["exposed"], finding.figures["control"]
        assert isinstance(exposed, int)
        assert isinstance(control, int)
        assert min(exposed, control) < LIFT_MIN_GROUP


def test_recommend_runs_every_rule_in_order() -> None:
    facts = CampaignFacts(
        "engagement", {"engagements": 3, "cpe_minor": 5.0, "brand_lift": LIFT},
        posts=[_post()],
    )
    assert [f.rule for f in recommend(facts)] == [
        "reuse_as_paid_media", "too_few_events", "brand_lift_sample", "brand_lift_sample"
    ]
