"""Contract-v2 input events and records built from typed arguments: the one event generator.

The simulator (:mod:`streams.simulate`), the benchmark workload (``benchmarks/workload.py``)
and tests build their input here, so that "a valid interaction, click or order" is written
once, next to the contract (docs/contract.md sections 1 and 5.4):

* one builder per event type (:func:`campaign`, :func:`post_published`, :func:`interaction`,
  :func:`post_metrics`, :func:`click`, :func:`order`, :func:`order_refund`,
  :func:`content_review`, :func:`conversion`, :func:`survey_response`) returning the event as
  a JSON-ready dict; optional fields given as None are left out, as producers do;
* contract times (:func:`iso`, :func:`iso_s`);
* the record a producer sends (:class:`Record`: topic, key, value, Kafka timestamp, and the
  kind of record its generator meant it to be), :func:`record` to make one from an event,
  :func:`broken` for the deliberately invalid kinds every generator plants;
* the replay's JSON Lines format (:func:`replay_line`).

Builders trust their arguments (they are called millions of times by the benchmark): the
values must already follow the contract's vocabularies and bounds. The tests feed everything
the generators make through the product's codec.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from streams import codec
from streams.domain.vocabulary import SNAPSHOT_METRICS, TYPE_TOPICS, Topic

__all__ = [
    "BOT",
    "BROKEN_REASONS",
    "DUPLICATE",
    "INVALID",
    "KINDS",
    "LATE",
    "STALE",
    "VALID",
    "Record",
    "broken",
    "campaign",
    "click",
    "content_review",
    "conversion",
    "interaction",
    "iso",
    "iso_s",
    "order",
    "order_refund",
    "post_metrics",
    "post_published",
    "record",
    "replay_line",
    "roster_entry",
    "survey_response",
]

SECOND_US: Final = 1_000_000
HOUR_US: Final = 3600 * SECOND_US

# Record kinds (Record.kind): what the generator meant a record to be, so that tests can hold
# the processor's outcomes to it.
VALID: Final = "valid"
DUPLICATE: Final = "duplicate"  # an exact re-send of an earlier record (a producer retrying)
LATE: Final = "late"  # a valid event sent more than the 6 h grace after it occurred
BOT: Final = "bot"  # a valid click from a bot or a link-preview fetcher
STALE: Final = "stale"  # a platform snapshot delivered after a newer poll of its post
INVALID: Final = "invalid"  # a broken record: the processor dead-letters it
KINDS: Final = (VALID, DUPLICATE, LATE, BOT, STALE, INVALID)


class Record(NamedTuple):
    """One record to send: logical topic, key, value, Kafka timestamp and what it stands for."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int
    kind: str = VALID


# --------------------------------------------------------------------------------------------
# Times

# Formatting a time is the costliest part of building an event (strftime); generators emit
# many events per second of event time, so the date-and-time part is cached per second.
_PREFIXES: dict[int, str] = {}
_PREFIXES_MAX: Final = 100_000


def _prefix(seconds: int) -> str:
    text = _PREFIXES.get(seconds)
    if text is None:
        if len(_PREFIXES) >= _PREFIXES_MAX:
            _PREFIXES.clear()
        text = _PREFIXES[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text


def iso(us: int) -> str:
    """A contract time in UTC with milliseconds (``2026-01-01T09:30:00.250Z``), rounded down."""
    seconds, rest = divmod(us, SECOND_US)
    prefix = _PREFIXES.get(seconds) or _prefix(seconds)
    return f"{prefix}.{rest // 1000:03d}Z"


def iso_s(us: int) -> str:
    """A contract time in UTC in whole seconds (``2026-01-01T09:30:00Z``), rounded down."""
    return _prefix(us // SECOND_US) + "Z"


# --------------------------------------------------------------------------------------------
# Events, one builder per type (contract 1.2-1.10)


def _event(type_: str, event_id: str, occurred_us: int, campaign_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "occurred_at": iso(occurred_us),
        "campaign_id": campaign_id,
    }


def _put(event: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """Add the optional fields that are not None (a producer leaves absent fields out)."""
    for name, value in optional.items():
        if value is not None:
            event[name] = value
    return event


def roster_entry(
    influencer_id: str,
    *,
    tier: str | None = None,
    promo_codes: Sequence[str] = (),
    link_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """One influencer of a campaign's roster (contract 1.2)."""
    entry: dict[str, Any] = {"influencer_id": influencer_id}
    if tier is not None:
        entry["tier"] = tier
    if promo_codes:
        entry["promo_codes"] = list(promo_codes)
    if link_ids:
        entry["link_ids"] = list(link_ids)
    return entry


def campaign(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    name: str,
    objective: str,
    starts_us: int,
    ends_us: int,
    currency: str,
    brand: str | None = None,
    budget_minor: int | None = None,
    attribution_window_days: int | None = None,
    targets: Mapping[str, float] | None = None,
    influencers: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A ``campaign`` definition (contract 1.2); ``influencers`` from :func:`roster_entry`."""
    event = _event("campaign", event_id, occurred_us, campaign_id)
    event["name"] = name
    _put(event, brand=brand)
    event.update(
        objective=objective, starts_at=iso_s(starts_us), ends_at=iso_s(ends_us),
        currency=currency,
    )
    _put(event, budget_minor=budget_minor, attribution_window_days=attribution_window_days)
    if targets:
        event["targets"] = dict(targets)
    if influencers:
        event["influencers"] = [dict(entry) for entry in influencers]
    return event


def post_published(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    post_id: str,
    influencer_id: str,
    platform: str,
    format_: str,
    followers: int,
    cost_minor: int | None = None,
) -> dict[str, Any]:
    """A ``post_published`` (contract 1.3)."""
    event = _event("post_published", event_id, occurred_us, campaign_id)
    event.update(post_id=post_id, influencer_id=influencer_id, platform=platform,
                 format=format_, followers=followers)
    return _put(event, cost_minor=cost_minor)


def interaction(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    post_id: str,
    influencer_id: str,
    action: str,
    viewer_id: str | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    """An ``interaction``: ``count`` identical actions on a post (contract 1.4)."""
    # The hottest builder (a benchmark makes millions): one literal, no generic helpers.
    event: dict[str, Any] = {
        "event_id": event_id, "type": "interaction", "occurred_at": iso(occurred_us),
        "campaign_id": campaign_id, "post_id": post_id, "influencer_id": influencer_id,
        "action": action,
    }
    if viewer_id is not None:
        event["viewer_id"] = viewer_id
    if count is not None:
        event["count"] = count
    return event


def post_metrics(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    post_id: str,
    influencer_id: str,
    metrics: Mapping[str, int],
) -> dict[str, Any]:
    """A ``post_metrics`` platform snapshot: a post's lifetime counters (contract 1.4.1).

    ``metrics`` maps metric names (``impressions``, ``reach``, ``views``, ``likes``, ...) to
    their lifetime values; written in the contract's order. At least one is required.
    """
    event = _event("post_metrics", event_id, occurred_us, campaign_id)
    event.update(post_id=post_id, influencer_id=influencer_id)
    unknown = set(metrics) - set(SNAPSHOT_METRICS)
    if unknown or not metrics:
        raise ValueError(f"a snapshot needs metrics among {list(SNAPSHOT_METRICS)}, "
                         f"got {sorted(metrics)}")
    for name in SNAPSHOT_METRICS:
        if name in metrics:
            event[name] = metrics[name]
    return event


def click(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    link_id: str,
    influencer_id: str,
    channel: str,
    post_id: str | None = None,
    visitor_id: str | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """A ``click`` on a tracked link, swipe-up or QR code (contract 1.5)."""
    event: dict[str, Any] = {
        "event_id": event_id, "type": "click", "occurred_at": iso(occurred_us),
        "campaign_id": campaign_id, "link_id": link_id, "influencer_id": influencer_id,
    }
    if post_id is not None:
        event["post_id"] = post_id
    event["channel"] = channel
    if visitor_id is not None:
        event["visitor_id"] = visitor_id
    if user_agent is not None:
        event["user_agent"] = user_agent
    return event


def order(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    order_id: str,
    amount_minor: int,
    currency: str,
    promo_code: str | None = None,
    link_id: str | None = None,
    customer_id: str | None = None,
) -> dict[str, Any]:
    """An ``order`` (contract 1.6)."""
    event = _event("order", event_id, occurred_us, campaign_id)
    event.update(order_id=order_id, amount_minor=amount_minor, currency=currency)
    return _put(event, promo_code=promo_code, link_id=link_id, customer_id=customer_id)


def order_refund(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    refund_id: str,
    order_id: str,
    amount_minor: int,
    currency: str,
) -> dict[str, Any]:
    """An ``order_refund`` of a counted order, on the orders topic (contract 1.6.1)."""
    event = _event("order_refund", event_id, occurred_us, campaign_id)
    event.update(refund_id=refund_id, order_id=order_id, amount_minor=amount_minor,
                 currency=currency)
    return event


def content_review(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    post_id: str,
    influencer_id: str,
    reviewer_id: str,
    scores: Mapping[str, int],
    comment: str | None = None,
) -> dict[str, Any]:
    """A ``content_review``: criterion scores 1..5 of one post by one reviewer (contract 1.7)."""
    event = _event("content_review", event_id, occurred_us, campaign_id)
    event.update(post_id=post_id, influencer_id=influencer_id, reviewer_id=reviewer_id,
                 scores=dict(scores))
    return _put(event, comment=comment)


def conversion(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    conversion_id: str,
    action: str,
    promo_code: str | None = None,
    link_id: str | None = None,
    customer_id: str | None = None,
    value_minor: int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """A ``conversion`` other than a purchase: a lead, a sign-up, an install (contract 1.9)."""
    if value_minor is not None and currency is None:
        raise ValueError("a conversion with value_minor needs its currency (contract 1.9)")
    event = _event("conversion", event_id, occurred_us, campaign_id)
    event.update(conversion_id=conversion_id, action=action)
    return _put(event, promo_code=promo_code, link_id=link_id, customer_id=customer_id,
                value_minor=value_minor, currency=currency)


def survey_response(
    event_id: str,
    occurred_us: int,
    campaign_id: str,
    *,
    respondent_id: str,
    group: str,
    question: str,
    positive: bool,
) -> dict[str, Any]:
    """A ``survey_response``: one brand-lift answer of an exposed or control respondent (1.10)."""
    event = _event("survey_response", event_id, occurred_us, campaign_id)
    event.update(respondent_id=respondent_id, group=group, question=question,
                 positive=positive)
    return event


# --------------------------------------------------------------------------------------------
# Records


def record(event: Mapping[str, Any], timestamp_ms: int, kind: str = VALID) -> Record:
    """The record a producer sends for ``event``: its type's topic, keyed by its campaign."""
    return Record(
        TYPE_TOPICS[event["type"]],
        event["campaign_id"].encode(),
        codec.dumps(event),
        timestamp_ms,
        kind,
    )


# How :func:`broken` can break a record, and the dead-letter reason each one gets.
BROKEN_REASONS: Final[dict[str, str]] = {
    "malformed_json": "malformed_json",  # cut short: a producer died mid-write
    "missing_field": "schema_violation",  # occurred_at left out
    "bad_time": "schema_violation",  # occurred_at as free text
    "type_mismatch": "type_mismatch",  # a type of another topic
    "key_mismatch": "key_mismatch",  # keyed by something else than its campaign
    "future_timestamp": "future_timestamp",  # occurred 2 h after its record's timestamp
    "too_large": "too_large",  # an attachment pasted in: a value over 64 KiB
}


def broken(event: Mapping[str, Any], timestamp_ms: int, how: str, event_id: str) -> Record:
    """An invalid record made from a valid ``event`` (given a new ``event_id``), kind INVALID.

    ``how`` is a key of :data:`BROKEN_REASONS`, which gives the dead-letter reason the
    processor must find. Not for campaign definitions (their size limit is 1 MiB).
    """
    bad = dict(event)
    bad["event_id"] = event_id
    topic = TYPE_TOPICS[bad["type"]]
    key = bad["campaign_id"].encode()
    if how == "malformed_json":
        text = codec.dumps(bad)
        return Record(topic, key, text[: len(text) // 2], timestamp_ms, INVALID)
    if how == "missing_field":
        del bad["occurred_at"]
    elif how == "bad_time":
        bad["occurred_at"] = "yesterday evening"
    elif how == "type_mismatch":
        bad["type"] = "click" if topic == Topic.POSTS else "post_published"
    elif how == "key_mismatch":
        key = b"not-" + key
    elif how == "future_timestamp":
        bad["occurred_at"] = iso(timestamp_ms * 1000 + 2 * HOUR_US)
    elif how == "too_large":
        bad["attachment"] = "iVBORw0KGgo" + "A" * 70_000  # a base64 screenshot, 70 KB
    else:
        raise ValueError(f"unknown way to break a record: {how!r}")
    return Record(topic, key, codec.dumps(bad), timestamp_ms, INVALID)


def replay_line(rec: Record, topic: str | None = None) -> bytes:
    """The record as one line of the replay's JSON Lines format (contract 5.4), no newline.

    ``topic`` is the topic name to write (default: the logical one, the name the replay
    reads without a topic prefix). Keys and values are text, as the format requires: every
    generator here writes UTF-8.
    """
    return codec.dumps({
        "topic": rec.topic if topic is None else topic,
        "key": rec.key.decode(),
        "value": rec.value.decode(),
        "timestamp": rec.timestamp_ms,
    })
