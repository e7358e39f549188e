"""streams.records: every builder makes an event the codec accepts, every breakage its reason."""

from __future__ import annotations

from typing import Any

import pytest

from streams import codec, records
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.events import (
    CampaignDefined,
    Click,
    Conversion,
    Interaction,
    Order,
    OrderRefund,
    PostMetrics,
    PostPublished,
    SurveyResponse,
)
from streams.domain.vocabulary import TOPIC_TYPES, Topic
from streams.processing import apply_record
from streams.replay import parse_line

from .support import DAY_US, START_US

AT = START_US + 3_600_123_456  # 01:00:00.123456
CID = "c-1"
COMMON = ("e-1", AT, CID)


def _every_event() -> list[dict[str, Any]]:
    return [
        records.campaign(
            *COMMON, name="Launch", objective="conversion", starts_us=START_US,
            ends_us=START_US + 5 * DAY_US, currency="EUR", brand="Brand", budget_minor=10_000,
            attribution_window_days=7, targets={"orders": 10},
            influencers=[records.roster_entry("i-1", tier="micro", promo_codes=["LEA10"],
                                              link_ids=["l-1"])],
        ),
        records.post_published(*COMMON, post_id="p-1", influencer_id="i-1",
                               platform="instagram", format_="reel", followers=12_000,
                               cost_minor=50_000),
        records.interaction(*COMMON, post_id="p-1", influencer_id="i-1", action="view",
                            viewer_id="v-1", count=3),
        records.post_metrics(*COMMON, post_id="p-2", influencer_id="i-1",
                             metrics={"likes": 40, "impressions": 1_000, "reach": 800}),
        records.click(*COMMON, link_id="l-1", influencer_id="i-1", channel="swipe_up",
                      post_id="p-1", visitor_id="vis-1", user_agent="Mozilla/5.0"),
        records.order(*COMMON, order_id="o-1", amount_minor=4_200, currency="EUR",
                      promo_code="lea10", customer_id="cu-1"),
        records.order_refund(*COMMON, refund_id="r-1", order_id="o-1", amount_minor=1_000,
                             currency="EUR"),
        records.content_review(*COMMON, post_id="p-1", influencer_id="i-1",
                               reviewer_id="rev-1", scores={"tone": 4, "brand_fit": 5},
                               comment="On brief."),
        records.conversion(*COMMON, conversion_id="cv-1", action="signup", link_id="l-1",
                           value_minor=400, currency="EUR"),
        records.survey_response(*COMMON, respondent_id="resp-1", group="exposed",
                                question="recall", positive=True),
    ]


def test_every_builder_makes_a_valid_event_of_its_topic() -> None:
    events = _every_event()
    assert {e["type"] for e in events} == {t for types in TOPIC_TYPES.values() for t in types}
    for event in events:
        record = records.record(event, AT // 1000)
        assert record.topic in TOPIC_TYPES
        assert event["type"] in TOPIC_TYPES[Topic(record.topic)]
        assert record.key == CID.encode()
        assert record.kind == records.VALID
        decoded = codec.decode(record.topic, record.key, record.value, record.timestamp_ms)
        assert decoded.occurred_at_us == AT // 1000 * 1000  # milliseconds, rounded down
        assert decoded.event_id == "e-1"


def test_the_fields_arrive_as_given() -> None:
    got = [codec.decode(r.topic, r.key, r.value, None)
           for r in (records.record(e, AT // 1000) for e in _every_event())]
    definition, post, view, snapshot, click, order, refund, _review, conversion, answer = got
    assert isinstance(definition, CampaignDefined)
    assert definition.code_owners == {"lea10": "i-1"}
    assert definition.targets == {"orders": 10}
    assert isinstance(post, PostPublished)
    assert (post.format, post.cost_minor) == ("reel", 50_000)
    assert isinstance(view, Interaction)
    assert view.count == 3
    assert isinstance(snapshot, PostMetrics)
    assert snapshot.metrics == (("impressions", 1_000), ("reach", 800), ("likes", 40))
    assert isinstance(click, Click)
    assert click.channel == "swipe_up"
    assert isinstance(order, Order)
    assert isinstance(refund, OrderRefund)
    assert isinstance(conversion, Conversion)
    assert (conversion.value_minor, conversion.currency) == (400, "EUR")
    assert isinstance(answer, SurveyResponse)
    assert answer.positive is True


def test_absent_options_are_left_out() -> None:
    event = records.interaction(*COMMON, post_id="p", influencer_id="i", action="like")
    assert set(event) == {"event_id", "type", "occurred_at", "campaign_id", "post_id",
                          "influencer_id", "action"}
    click = records.click(*COMMON, link_id="l", influencer_id="i", channel="qr")
    assert "post_id" not in click
    assert "user_agent" not in click
    definition = records.campaign(*COMMON, name="n", objective="awareness", starts_us=AT,
                                  ends_us=AT + DAY_US, currency="EUR")
    assert not {"brand", "budget_minor", "targets", "influencers"} & set(definition)


def test_builders_refuse_what_the_contract_refuses() -> None:
    with pytest.raises(ValueError, match="needs metrics"):
        records.post_metrics(*COMMON, post_id="p", influencer_id="i", metrics={})
    with pytest.raises(ValueError, match="needs metrics"):
        records.post_metrics(*COMMON, post_id="p", influencer_id="i", metrics={"plays": 3})
    with pytest.raises(ValueError, match="currency"):
        records.conversion(*COMMON, conversion_id="cv", action="lead", value_minor=100)


def test_times() -> None:
    assert records.iso(AT) == "2026-01-01T01:00:00.123Z"
    assert records.iso_s(AT) == "2026-01-01T01:00:00Z"
    assert codec.parse_time(records.iso(AT)) == AT - 456
    assert records.iso(0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize("how", list(records.BROKEN_REASONS))
def test_each_breakage_gets_its_reason(how: str) -> None:
    engine = Engine()
    definition = _every_event()[0]
    ok = records.record(definition, AT // 1000)
    apply_record(engine, Topic(ok.topic), ok.key, ok.value, ok.timestamp_ms)
    for event in _every_event()[1:]:
        bad = records.broken(event, AT // 1000, how, "bad-1")
        assert bad.kind == records.INVALID
        outcome, result = apply_record(engine, Topic(bad.topic), bad.key, bad.value,
                                       bad.timestamp_ms)
        assert isinstance(result, InvalidRecord), (how, event["type"], outcome)
        assert result.reason == records.BROKEN_REASONS[how]


def test_the_replay_line_reads_back_as_the_record() -> None:
    for event in _every_event():
        record = records.record(event, AT // 1000)
        line = records.replay_line(record)
        parsed = parse_line(7, line, Settings())
        assert (parsed.topic, parsed.key, parsed.value, parsed.timestamp_ms) == (
            record.topic, record.key, record.value, record.timestamp_ms)
