"""Time parsing, size limits, decoded values, dead-letter records and the JSON helpers."""

from __future__ import annotations

import base64
import dataclasses
import json
from calendar import timegm
from typing import Any

import pytest

from streams import codec, processing
from streams.domain.errors import InvalidRecord
from streams.domain.events import (
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

from .support import SCHEMA_ID, load_case, valid_examples, validator

US = 1_000_000


def utc(text: str) -> int:
    """Microseconds of a 'YYYY-MM-DD HH:MM:SS' UTC wall time, by the standard library."""
    date, time = text.split(" ")
    y, mo, d = (int(part) for part in date.split("-"))
    h, mi, s = (int(part) for part in time.split(":"))
    return timegm((y, mo, d, h, mi, s, 0, 0, 0)) * US


TIMES = [
    ("2026-03-01T01:30:00+02:00", utc("2026-02-28 23:30:00")),
    ("2026-02-28T23:30:00Z", utc("2026-02-28 23:30:00")),
    ("2026-12-31T22:00:00-03:00", utc("2027-01-01 01:00:00")),
    ("2024-03-01T00:59:59+01:00", utc("2024-02-29 23:59:59")),
    ("2026-03-10T12:00:00.5Z", utc("2026-03-10 12:00:00") + 500_000),
    ("2026-03-10T12:00:00.123456Z", utc("2026-03-10 12:00:00") + 123_456),
    ("2026-03-10T12:00:00.1234567Z", utc("2026-03-10 12:00:00") + 123_456),
    ("2026-03-10T12:00:00.999999999Z", utc("2026-03-10 12:00:00") + 999_999),
    ("2026-03-10T12:00:00.000000999+00:00", utc("2026-03-10 12:00:00")),
    ("2026-03-10t12:00:00z", utc("2026-03-10 12:00:00")),
    ("2026-03-10T12:00:00-00:00", utc("2026-03-10 12:00:00")),
    ("2026-03-10T12:00:00+23:59", utc("2026-03-10 12:00:00") - (23 * 3600 + 59 * 60) * US),
    ("1970-01-01T00:00:00Z", 0),
    ("1970-01-01T00:00:00.000001Z", 1),
    ("1970-01-01T00:30:00+01:00", -1800 * US),
    ("2100-12-31T23:59:59Z", utc("2100-12-31 23:59:59")),
    ("2100-12-31T23:59:59-23:59", utc("2101-01-01 23:58:59")),
    ("2000-02-29T12:00:00Z", utc("2000-02-29 12:00:00")),
]


@pytest.mark.parametrize(("text", "expected"), TIMES, ids=[text for text, _ in TIMES])
def test_parse_time(text: str, expected: int) -> None:
    assert codec.parse_time(text) == expected
    assert codec.parse_time(text) == expected  # the cached path gives the same answer
    assert validator("common").evolve(
        schema={"$ref": SCHEMA_ID + "common.schema.json#/$defs/time"}
    ).is_valid(text)


BAD_TIMES = [
    "1969-12-31T23:59:59Z", "2101-01-01T00:00:00Z", "2026-03-10T12:00:60Z",
    "2026-03-10T24:00:00Z", "2026-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z", "2026-06-31T00:00:00Z", "2026-03-10T12:00:00", "2026-03-10T12:00Z",
    "2026-03-10 12:00:00Z", "2026-03-10T12:00:00.Z", "2026-03-10T12:00:00+2:00",
    "2026-03-10T12:00:00+02", "2026-03-10T12:00:00+24:00", "2026-03-10T12:00:00Z ",
    " 2026-03-10T12:00:00Z", "2026-3-10T12:00:00Z", "26-03-10T12:00:00Z", "", "Z",
    "2026-03-10T12:00:00z\n", "2026-03-10T12:00:00UTC", "2026-03-10T12:00:00+02:00:00",
    "\uff12026-03-10T12:00:00Z",  # a fullwidth digit
]


@pytest.mark.parametrize("text", BAD_TIMES)
def test_parse_time_rejects(text: str) -> None:
    assert codec.parse_time(text) is None


def test_parse_time_rejects_non_strings() -> None:
    for value in (None, 0, 1.5, True, ["2026-03-10T12:00:00Z"], {"t": 1}):
        assert codec.parse_time(value) is None


def test_ids() -> None:
    assert codec.is_id("a")
    assert codec.is_id("x" * 128)
    assert codec.is_id("zoë\u200b✓")  # U+200B is a format character, not White_Space
    for bad in ("", "x" * 129, "a b", "a|b", "a{", "}", "a\u1680", "a\u205f", "\x00", "a\u009f"):
        assert not codec.is_id(bad), bad
    assert not codec.is_id(5)


def interaction(**changes: Any) -> bytes:
    event: dict[str, Any] = {
        "event_id": "e1", "type": "interaction", "occurred_at": "2026-03-10T12:00:00Z",
        "campaign_id": "c1", "post_id": "p1", "influencer_id": "i1", "action": "view",
    }
    event.update(changes)
    return json.dumps(event).encode()


def reason(topic: str, key: bytes | None, value: bytes, timestamp: int | None) -> str:
    with pytest.raises(InvalidRecord) as caught:
        codec.decode(topic, key, value, timestamp)
    return caught.value.reason


def test_size_limits_are_inclusive_and_per_topic() -> None:
    decoded = codec.decode("interactions", b"c1", interaction().ljust(65536), None)
    assert isinstance(decoded, Interaction)
    assert reason("interactions", b"c1", interaction().ljust(65537), None) == "too_large"
    campaign = load_case(_case_path("too_large_campaign")).value.rstrip()
    assert codec.decode("campaigns", b"cmp-spring-2026", campaign.ljust(1_048_576), None)
    assert codec.decode("campaigns", b"cmp-spring-2026", campaign.ljust(200_000), None)
    assert reason("campaigns", b"cmp-spring-2026", campaign.ljust(1_048_577), None) == "too_large"


def _case_path(name: str) -> Any:
    from .support import EXAMPLES

    return EXAMPLES / "invalid" / f"{name}.json"


def test_future_timestamp_boundary() -> None:
    at = codec.parse_time("2026-03-10T12:00:00Z")
    assert at is not None
    ts = at // 1000 - 3_600_000
    assert codec.decode("interactions", b"c1", interaction(), ts)
    late = interaction(occurred_at="2026-03-10T12:00:00.000001Z")
    assert reason("interactions", b"c1", late, ts) == "future_timestamp"
    assert codec.decode("interactions", b"c1", late, None)  # no timestamp: no check


def test_roster_size_limit() -> None:
    def campaign(n: int) -> bytes:
        return json.dumps({
            "event_id": "e", "type": "campaign", "occurred_at": "2026-03-01T00:00:00Z",
            "campaign_id": "c1", "name": "n", "objective": "awareness",
            "starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-04-01T00:00:00Z",
            "currency": "USD",
            "influencers": [{"influencer_id": f"i{i}"} for i in range(n)],
        }).encode()

    event = codec.decode("campaigns", b"c1", campaign(10_000), None)
    assert isinstance(event, CampaignDefined)
    assert len(event.influencers) == 10_000
    assert reason("campaigns", b"c1", campaign(10_001), None) == "schema_violation"
    assert not validator("campaign").is_valid(json.loads(campaign(10_001)))


def test_decoded_values() -> None:
    examples = {name: event for name, event in valid_examples("campaign")}
    event = codec.decode(
        "campaigns", b"cmp-spring-2026", json.dumps(examples["campaign/full"]).encode(), None
    )
    assert isinstance(event, CampaignDefined)
    assert event.targets == {"orders": 500.0, "roas": 3.5, "cpa_minor": 1200.0}
    assert all(type(value) is float for value in event.targets.values())
    assert event.influencers[0] == RosterEntry(
        "inf-001", "macro", ("SPRING10", "ACME-ANNA"), ("lnk-001", "lnk-002")
    )
    assert event.code_owners == {"spring10": "inf-001", "acme-anna": "inf-001", "bob5": "inf-002"}
    assert event.link_owners == {"lnk-001": "inf-001", "lnk-002": "inf-001"}
    assert event.attribution_window_days == 7
    assert event.ends_at_us - event.starts_at_us == (31 * 86400 - 1) * US

    nulls = examples["campaign/nulls_as_absent"]
    event = codec.decode("campaigns", b"cmp-spring-2026", json.dumps(nulls).encode(), None)
    assert isinstance(event, CampaignDefined)
    assert (event.brand, event.budget_minor, event.attribution_window_days) == (None, None, 7)
    assert event.targets == {"roas": 2.0}
    assert event.influencers == (RosterEntry("inf-001"),)

    inter = codec.decode("interactions", b"c1", interaction(count=None, viewer_id=None), None)
    assert inter == Interaction("e1", utc("2026-03-10 12:00:00"), "c1", "p1", "i1", "view")
    assert type(inter) is Interaction

    review = {name: event for name, event in valid_examples("content_review")}
    decoded = codec.decode(
        "content-reviews", b"cmp-spring-2026",
        json.dumps(review["content_review/all_criteria"]).encode(), None,
    )
    assert isinstance(decoded, ContentReview)
    assert decoded.scores == (
        ("brand_fit", 5), ("tone", 4), ("storytelling", 3), ("creativity", 4),
        ("reusability", 2), ("compliance", 5),
    )
    decoded = codec.decode(
        "content-reviews", b"cmp-spring-2026",
        json.dumps(review["content_review/one_score_others_null"]).encode(), None,
    )
    assert isinstance(decoded, ContentReview)
    assert decoded.scores == (("tone", 1),)
    assert decoded.comment is None

    for kind, cls, topic in (
        ("post_published", PostPublished, "posts"), ("click", Click, "clicks"),
        ("order", Order, "orders"),
    ):
        for _, example in valid_examples(kind):
            decoded_event = codec.decode(
                topic, example["campaign_id"].encode(), json.dumps(example).encode(), None
            )
            assert type(decoded_event) is cls
            for field, value in example.items():
                if hasattr(decoded_event, field) and value is not None:
                    assert getattr(decoded_event, field) == value, field


def test_post_defaults() -> None:
    posts = dict(valid_examples("post_published"))
    post = posts["post_published/no_cost"]
    event = codec.decode("posts", b"cmp-spring-2026", json.dumps(post).encode(), None)
    assert isinstance(event, PostPublished)
    assert event.cost_minor == 0


def test_unknown_topic_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown logical topic"):
        codec.decode("kpi-dlq", b"c1", interaction(), None)


def test_tombstone_is_malformed() -> None:
    assert reason("interactions", b"c1", None, None) == "malformed_json"  # type: ignore[arg-type]


def test_details_name_the_field() -> None:
    with pytest.raises(InvalidRecord) as caught:
        codec.decode("interactions", b"c1", interaction(count=0), None)
    assert caught.value.detail == "field 'count' must be an integer in 1..1000000, got 0"
    with pytest.raises(InvalidRecord) as caught:
        codec.decode("interactions", b"c1", interaction(post_id=None), None)
    assert caught.value.detail == "field 'post_id' is required"


def test_deep_nesting_is_rejected_without_crashing() -> None:
    deep = b'{"type": "interaction", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert reason("interactions", b"c1", deep, None) == "schema_violation"


# --- dead-letter records ------------------------------------------------------------------


def dlq(key: bytes | None, value: bytes | None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "reason": "schema_violation", "detail": "d", "topic": "interactions", "partition": 0,
        "offset": 7, "timestamp": 1_773_144_000_000,
    }
    args.update(kw)
    record: dict[str, Any] = json.loads(codec.encode_dead_letter(key=key, value=value, **args))
    validator("dead_letter").validate(record)
    fields = [
        "reason", "detail", "topic", "partition", "offset", "timestamp", "key", "key_encoding",
        "value", "value_encoding", "truncated",
    ]
    # v2: "key_truncated": true is added only when a key over 64 KiB was cut
    assert list(record) in (fields, [*fields, "key_truncated"])
    return record


def test_dead_letter_utf8() -> None:
    record = dlq("cmp-é".encode(), '{"a": "ü"}'.encode())
    assert (record["key"], record["key_encoding"]) == ("cmp-é", "utf-8")
    assert (record["value"], record["value_encoding"]) == ('{"a": "ü"}', "utf-8")
    assert record["truncated"] is False
    assert (record["partition"], record["offset"]) == (0, 7)


def test_dead_letter_base64_and_null_key() -> None:
    record = dlq(None, b"\xff\xfe\x00", partition=None, timestamp=None)
    assert (record["key"], record["key_encoding"]) == (None, None)
    assert record["value_encoding"] == "base64"
    assert base64.b64decode(record["value"]) == b"\xff\xfe\x00"
    record = dlq(b"\xc3", b"")
    assert record["key_encoding"] == "base64"
    assert base64.b64decode(record["key"]) == b"\xc3"
    assert (record["value"], record["value_encoding"]) == ("", "utf-8")


def test_dead_letter_truncation() -> None:
    exact = dlq(b"k", b"a" * 65536)
    assert exact["truncated"] is False
    assert len(exact["value"]) == 65536
    long = dlq(b"k", b"a" * 65536 + b"tail")
    assert long["truncated"] is True
    assert long["value"] == "a" * 65536
    assert long["value_encoding"] == "utf-8"
    # The cut splits a two-byte character: the kept bytes are not UTF-8, so base64.
    split = dlq(b"k", b"a" * 65535 + "é".encode() + b"zz")
    assert split["truncated"] is True
    assert split["value_encoding"] == "base64"
    assert base64.b64decode(split["value"]) == b"a" * 65535 + b"\xc3"
    huge = dlq(b"k", b"\xff" * 1_048_577)
    assert huge["truncated"] is True
    assert len(base64.b64decode(huge["value"])) == 65536


def test_dead_letter_for_every_invalid_example() -> None:
    from .support import invalid_cases, verdict

    for case in invalid_cases():
        rejection = verdict(case)  # the codec's, or the engine's after the case's records
        assert rejection is not None, case.name
        key, value = processing.dead_letter(
            rejection, case.topic, 0, 7, case.timestamp, case.key, case.value
        )
        assert key == case.key
        record = dlq(
            case.key, case.value, reason=rejection.reason, detail=rejection.detail,
            topic=case.topic, timestamp=case.timestamp,
        )
        assert json.loads(value) == record
        if not record["truncated"]:
            original = (
                record["value"].encode()
                if record["value_encoding"] == "utf-8"
                else base64.b64decode(record["value"])
            )
            assert original == case.value, case.name


# --- JSON helpers --------------------------------------------------------------------------


def test_dumps_loads() -> None:
    data = {"b": 1, "a": [0.1, 1e-7, 1 / 3, 2.0, 12345678901234567890], "z": None, "é": "ü"}
    text = codec.dumps(data)
    assert isinstance(text, bytes)
    assert text.startswith(b'{"b":1,"a":[0.1,1e-7,0.3333333333333333,2.0,')
    assert codec.loads(text) == data
    assert codec.loads(text.decode()) == data
    with pytest.raises(ValueError, match=r"."):
        codec.loads(b"NaN")


def test_decoded_events_are_plain_frozen_values() -> None:
    # However the codec builds them, decoded events are the domain's frozen dataclasses:
    # equal (and hashing equal) to the same event built by keywords, and immutable.
    click = codec.decode("clicks", b"c", json.dumps({
        "event_id": "e", "type": "click", "occurred_at": "1970-01-01T00:00:00.000001Z",
        "campaign_id": "c", "link_id": "l", "influencer_id": "i", "channel": "qr",
        "visitor_id": "v",
    }).encode(), None)
    expected = Click("e", 1, "c", "l", "i", "qr", visitor_id="v")
    assert click == expected
    assert hash(click) == hash(expected)
    assert type(click) is Click
    with pytest.raises(dataclasses.FrozenInstanceError):
        click.link_id = "other"  # type: ignore[misc]
    order = codec.decode("orders", b"c", json.dumps({
        "event_id": "e", "type": "order", "occurred_at": "1970-01-01T00:00:01Z",
        "campaign_id": "c", "order_id": "o", "amount_minor": 0, "currency": "EUR",
    }).encode(), None)
    assert order == Order("e", US, "c", "o", 0, "EUR")
    assert dataclasses.replace(order, amount_minor=5).amount_minor == 5


# --- v2 types -----------------------------------------------------------------------------


def _decode_example(kind: str, name: str) -> Any:
    examples = dict(valid_examples(kind))
    event = examples[f"{kind}/{name}"]
    topic = {"post_metrics": "interactions", "order_refund": "orders",
             "conversion": "conversions", "survey_response": "surveys"}[kind]
    return codec.decode(topic, event["campaign_id"].encode(), json.dumps(event).encode(), None)


def test_decoded_post_metrics() -> None:
    event = _decode_example("post_metrics", "basic")
    assert event == PostMetrics(
        "evt-post_metrics-0001", utc("2026-03-10 12:00:00"), "cmp-spring-2026", "post-001",
        "inf-001", (("impressions", 1200), ("reach", 900), ("views", 640), ("likes", 80)),
    )
    event = _decode_example("post_metrics", "nulls_and_one_metric")
    assert isinstance(event, PostMetrics)
    assert event.metrics == (("likes", 3),)  # null metrics are absent, not 0
    event = _decode_example("post_metrics", "every_metric")
    assert isinstance(event, PostMetrics)
    assert [name for name, _ in event.metrics] == [
        "impressions", "reach", "views", "likes", "comments", "shares", "saves", "replies"
    ]


def test_decoded_order_refund() -> None:
    assert _decode_example("order_refund", "basic") == OrderRefund(
        "evt-order_refund-0001", utc("2026-03-10 12:00:00"), "cmp-spring-2026", "rfd-001",
        "ord-001", 1500, "EUR",
    )


def test_decoded_conversions() -> None:
    assert _decode_example("conversion", "full") == Conversion(
        "evt-conversion-0001", utc("2026-03-10 12:00:00"), "cmp-spring-2026", "cnv-001",
        "signup", "SPRING10", "lnk-001", "cus-9", 500, "EUR",
    )
    minimal = _decode_example("conversion", "minimal")
    assert isinstance(minimal, Conversion)
    assert (minimal.value_minor, minimal.currency, minimal.promo_code) == (None, None, None)
    no_value = _decode_example("conversion", "currency_without_value")
    assert isinstance(no_value, Conversion)
    assert (no_value.value_minor, no_value.currency) == (None, "USD")


def test_decoded_survey_responses() -> None:
    event = _decode_example("survey_response", "control_negative")
    assert event == SurveyResponse(
        "evt-survey_response-0001", utc("2026-03-10 12:00:00"), "cmp-spring-2026",
        "resp-0001", "control", "awareness", False,
    )
    assert _decode_example("survey_response", "exposed_positive").positive is True


def test_a_dead_letter_key_over_64_kib_is_cut_and_says_so() -> None:
    exact = dlq(b"k" * 65536, b"{}")
    assert "key_truncated" not in exact
    assert len(exact["key"]) == 65536
    long = dlq(b"k" * 65536 + b"tail", b"{}")
    assert long["key_truncated"] is True
    assert long["key"] == "k" * 65536
    assert long["key_encoding"] == "utf-8"
    assert long["truncated"] is False  # the value was not cut
    split = dlq(b"k" * 65535 + "é".encode(), b"{}")
    assert split["key_truncated"] is True
    assert split["key_encoding"] == "base64"
    assert base64.b64decode(split["key"]) == b"k" * 65535 + b"\xc3"
    # a short key never carries the field, whatever else was cut
    assert "key_truncated" not in dlq(b"k", b"a" * 70_000)
    assert "key_truncated" not in dlq(None, b"{}")


@pytest.mark.parametrize("reason", ["currency_mismatch", "source_mismatch", "refund_exceeds_order"])
def test_engine_rejections_make_valid_dead_letter_records(reason: str) -> None:
    record = dlq(b"cmp-1", b'{"type": "order_refund"}', reason=reason, topic="orders")
    assert record["reason"] == reason
