"""State written by the release before journal versioning (format 1), read by this release.

tests/fixtures/state_v1 (see its README): the cells of a journaled engine after the first 3405
records of an input, and that engine's KPI sets (contract v1 values). Restoring them must keep
every v1 value, give the v2 KPIs their contract values, and continue by the v2 rules.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from streams import codec
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.events import PostMetrics, PostPublished
from streams.domain.vocabulary import Topic
from streams.journal import Journal
from streams.processing import apply_record
from streams.replay import BadLine, parse_line

from ..contract.support import validator

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "state_v1"
CUT = 3405  # input lines applied before the cells were written
PARTITION = 0  # the partition whose meta cell the fixture holds
# Contract 2, v2 counters: a v1 state has counted none of what feeds them (but reach_sum).
V2_COUNTERS = {
    "stale_snapshots", "refunds", "refunded_minor", "refunds_unmatched", "conversions",
    "conversions_code", "conversions_link", "conversions_unattributed",
    "conversion_value_minor", "conversions_out_of_window", "survey_responses",
}
INTERACTION_COUNTERS = ("impressions", "views", "likes", "comments", "shares", "saves", "replies")


@cache
def cells() -> dict[str, bytes]:
    with gzip.open(FIXTURE / "cells.jsonl.gz", "rt", encoding="utf-8") as lines:
        return {cell["key"]: cell["value"].encode() for cell in map(json.loads, lines)}


@cache
def v1_sets() -> dict[str, dict[str, Any]]:
    with gzip.open(FIXTURE / "kpis_at_cut.json.gz", "rt", encoding="utf-8") as text:
        values = json.load(text)
    return {
        "|".join((v["campaign_id"], v["scope"], v["scope_id"], v["window"],
                  "all" if v["window_start"] is None else str(v["window_start"]))): v["kpis"]
        for v in values
    }


@cache
def input_lines() -> tuple[bytes, ...]:
    with gzip.open(FIXTURE / "input.jsonl.gz", "rb") as data:
        return tuple(data.read().splitlines())


def restored() -> Engine:
    _, engine, _ = Journal.restore(Settings().rules(), cells(), PARTITION)
    return engine


def continue_input(engine: Engine) -> None:
    settings = Settings()
    logical = settings.logical_topics()
    for number, line in enumerate(input_lines()[CUT:], start=CUT + 1):
        try:
            record = parse_line(number, line, settings)
        except BadLine:
            continue
        apply_record(engine, logical[record.topic], record.key, record.value,
                     record.timestamp_ms)


def published_posts() -> dict[tuple[str, str], PostPublished]:
    """The counted post_published of each post before the cut (the first valid one)."""
    settings = Settings()
    seen_ids: set[tuple[str, str]] = set()
    posts: dict[tuple[str, str], PostPublished] = {}
    for number, line in enumerate(input_lines()[:CUT], start=1):
        try:
            record = parse_line(number, line, settings)
            event = codec.decode(settings.logical_topics()[record.topic], record.key,
                                 record.value, record.timestamp_ms)
        except (BadLine, InvalidRecord):
            continue
        if not isinstance(event, PostPublished):
            continue
        if (event.campaign_id, event.event_id) in seen_ids:
            continue
        seen_ids.add((event.campaign_id, event.event_id))
        posts.setdefault((event.campaign_id, event.post_id), event)
    return posts


def test_every_v1_kpi_keeps_its_value() -> None:
    sets = {s.key: s.kpis for s in restored().all_sets()}
    assert sets.keys() == v1_sets().keys()
    changed = [
        (key, name) for key, kpis in v1_sets().items() for name, value in kpis.items()
        if sets[key].get(name) != value
    ]
    assert changed == []


def test_v2_counters_start_at_zero_where_the_contract_places_them() -> None:
    for kpi_set in restored().all_sets():
        for name in V2_COUNTERS & set(kpi_set.kpis):
            assert kpi_set.kpis[name] == 0, (kpi_set.key, name)
        if "conversions" in kpi_set.kpis:
            assert kpi_set.kpis["conversions_by_action"] == {}, kpi_set.key


def test_reach_sum_after_a_restore_is_the_sum_of_the_post_reaches() -> None:
    # contract 2: at campaign scope, every post with a post-scope reach
    sets = list(restored().all_sets())
    for campaign_all in (s for s in sets if (s.scope, s.window) == ("campaign", "all")):
        post_reach = sum(
            int(s.kpis.get("reach", 0))  # type: ignore[call-overload]
            for s in sets if s.campaign_id == campaign_all.campaign_id and s.scope == "post"
        )
        assert campaign_all.kpis["reach_sum"] == post_reach, campaign_all.campaign_id


def test_restored_post_attributes_are_absent_or_the_posts_own() -> None:
    # contract 2: attributes come from the post's counted post_published, "present once
    # known"; a value the state does not know must not be made up
    truth = published_posts()
    for kpi_set in restored().all_sets():
        if kpi_set.scope != "post":
            continue
        published = truth.get((kpi_set.campaign_id, kpi_set.scope_id))
        expected = {} if published is None else {
            "influencer_id": published.influencer_id, "platform": published.platform,
            "format": published.format, "published_at": published.occurred_at_us // 1_000_000,
        }
        for name in ("influencer_id", "platform", "format", "published_at"):
            if name in kpi_set.kpis:
                assert kpi_set.kpis[name] == expected.get(name), (kpi_set.key, name)


def test_restored_kpi_sets_are_valid_v2_snapshots() -> None:
    schema = validator("kpi_snapshot")
    invalid = [s.key for s in restored().all_sets() if not schema.is_valid(s.to_value(0))]
    assert invalid == []


def posts_with_interactions() -> list[tuple[str, str]]:
    return sorted(
        (key.split("|")[0], key.split("|")[2]) for key, kpis in v1_sets().items()
        if key.split("|")[1] == "post" and any(kpis.get(n, 0) for n in INTERACTION_COUNTERS)
    )


def test_posts_with_v1_interactions_keep_events_as_their_source() -> None:
    # contract 1.4.1: the first counted interaction fixed the post's source
    posts = posts_with_interactions()
    assert posts
    engine = restored()
    sets = {s.key: s.kpis for s in engine.all_sets()}
    for cid, post_id in posts[:20]:
        assert sets[f"{cid}|post|{post_id}|all|all"].get("metrics_source") == "events"
        snapshot = PostMetrics(f"snap-{post_id}", 1_717_400_000_000_000, cid, post_id, "i",
                               (("likes", 1),))
        with pytest.raises(InvalidRecord) as caught:
            engine.apply(Topic.INTERACTIONS, snapshot)
        assert caught.value.reason is Reason.SOURCE_MISMATCH


def test_continuing_after_a_restore_publishes_only_valid_snapshots() -> None:
    engine = restored()
    continue_input(engine)
    schema = validator("kpi_snapshot")
    assert [s.key for s in engine.all_sets() if s.scope_id == ""] == []
    invalid = [s.key for s in engine.all_sets() if not schema.is_valid(s.to_value(0))]
    assert invalid == []


def test_the_first_flush_rewrites_the_state_in_the_current_format() -> None:
    from streams.journal import Meta

    journal, engine, meta = Journal.restore(Settings().rules(), cells(), PARTITION)
    assert journal.rewrite_pending
    assert meta.flush_seq == 14
    store = dict(cells())
    written = journal.cells(engine, engine.take_changes(), meta.flush_seq + 1,
                            Meta(dict(meta.offsets), meta.flush_seq + 1), PARTITION)
    for key, value in written:
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
    assert not journal.rewrite_pending
    assert all(value[:1] == b"\x03" for value in store.values())  # no format-1 cell is left
    _, again, _ = Journal.restore(Settings().rules(), store, PARTITION)
    assert {s.key: s.kpis for s in again.all_sets()} == {s.key: s.kpis for s in
                                                          engine.all_sets()}
