"""The engine's state as small key/value cells: written after each flush, read back on recovery.

A flush journals only what changed: the aggregates of the changed KPI sets, a changed
definition, the event ids registered since the previous flush (one chunk per campaign and
topic), the valid clicks registered, the reviews now in force and the per-topic maxima.
Chunks of bounded-horizon topics are deleted (tombstones) once every id in them is past the
horizon, so the journal of a compacted topic stays proportional to the live state.

Keys use ``|`` as separator, which ids cannot contain (contract 1.8). Values are JSON-ready
(lists, dicts, strings, numbers); ``None`` is a tombstone.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from streams.domain.aggregate import Aggregate
from streams.domain.engine import (
    CampaignState,
    Engine,
    KpiSet,
    ReviewInForce,
    SetKey,
)
from streams.domain.events import CampaignDefined, RosterEntry
from streams.domain.reach import Reach
from streams.domain.rules import Rules
from streams.domain.windows import ALL

Cell = tuple[str, Any]


def drain(engine: Engine, flush_seq: int) -> tuple[list[KpiSet], list[Cell]]:
    """The KPI sets changed since the last drain, and the cells that persist the change."""
    kpi_sets: list[KpiSet] = []
    cells: list[Cell] = []
    for state, key in engine.take_changed():
        kpi_sets.append(state.kpi_set(key))
        cells.append((_aggregate_key(state.campaign_id, key), _encode_aggregate(state.sets[key])))
    for state in engine.campaigns.values():
        cells.extend(_drain_state(state, flush_seq))
    return kpi_sets, cells


def _drain_state(state: CampaignState, flush_seq: int) -> Iterable[Cell]:
    cid = state.campaign_id
    if state.definition_changed and state.definition is not None:
        state.definition_changed = False
        yield f"d|{cid}", asdict(state.definition)
    registered = False
    for topic, ledger in state.ledgers.items():
        if ledger.pending:
            registered = True
            yield f"l|{cid}|{topic}|{flush_seq}", ledger.pending
            if ledger.horizon_us is not None:
                ledger.chunks[flush_seq] = max(t for _, t, _ in ledger.pending)
            ledger.pending = []
        if ledger.horizon_us is not None and ledger.max_us is not None:
            oldest = ledger.max_us - ledger.horizon_us
            for seq in [seq for seq, newest in ledger.chunks.items() if newest < oldest]:
                del ledger.chunks[seq]
                yield f"l|{cid}|{topic}|{seq}", None
    if registered:
        yield f"m|{cid}", {topic: ledger.max_us for topic, ledger in state.ledgers.items()}
    if state.pending_clicks:
        yield f"v|{cid}|{flush_seq}", state.pending_clicks
        state.pending_clicks = []
    for post_id, reviewer_id in sorted(state.changed_reviews):
        review = state.reviews[post_id, reviewer_id]
        yield (
            f"r|{cid}|{post_id}|{reviewer_id}",
            [review.occurred_at_us, review.influencer_id, review.scores],
        )
    state.changed_reviews.clear()


def restore(rules: Rules, cells: dict[str, Any]) -> Engine:
    """Rebuild a journaled engine from the latest value of every cell (tombstones dropped)."""
    engine = Engine(rules, journaled=True)
    # Chunks in flush order, so an id counted again past the horizon keeps its latest time.
    chunks = sorted(
        (int(key.rsplit("|", 1)[1]), key, value)
        for key, value in cells.items()
        if key.startswith("l|") and value is not None
    )
    for seq, key, entries in chunks:
        _, cid, topic, _ = key.split("|")
        state = engine.state(cid)
        ledger = state.ledgers[topic]
        for event_id, occurred_at_us, entity_id in entries:
            ledger.seen[event_id] = occurred_at_us
            if entity_id is not None:
                (state.post_ids if topic == "posts" else state.order_ids).add(entity_id)
        if ledger.horizon_us is not None:
            ledger.chunks[seq] = max(t for _, t, _ in entries)
    for key, value in cells.items():
        if value is None:
            continue
        kind, cid, *rest = key.split("|")
        state = engine.state(cid)
        if kind == "a":
            scope, scope_id, window, start = rest
            set_key: SetKey = (scope, scope_id, window, None if start == ALL else int(start))
            state.sets[set_key] = _decode_aggregate(value)
        elif kind == "d":
            state.definition = _decode_definition(value)
        elif kind == "m":
            for topic, max_us in value.items():
                state.ledgers[topic].max_us = max_us
        elif kind == "v":
            for visitor_id, link_id, occurred_at_us in value:
                state.valid_clicks.setdefault((visitor_id, link_id), []).append(occurred_at_us)
        elif kind == "r":
            post_id, reviewer_id = rest
            occurred_at_us, influencer_id, scores = value
            state.reviews[post_id, reviewer_id] = ReviewInForce(
                occurred_at_us, influencer_id, tuple((c, s) for c, s in scores)
            )
    for state in engine.campaigns.values():
        for ledger in state.ledgers.values():
            ledger.prune_at = max(1024, 2 * len(ledger.seen))
    return engine


def _aggregate_key(cid: str, key: SetKey) -> str:
    scope, scope_id, window, start = key
    return f"a|{cid}|{scope}|{scope_id}|{window}|{ALL if start is None else start}"


def _encode_aggregate(agg: Aggregate) -> dict[str, Any]:
    reach = None if agg.reach is None else base64.b64encode(agg.reach.to_bytes()).decode()
    influencers = None if agg.influencers is None else sorted(agg.influencers)
    return {"c": agg.counts, "r": reach, "i": influencers}


def _decode_aggregate(value: dict[str, Any]) -> Aggregate:
    agg = Aggregate()
    agg.counts = list(value["c"])
    if value["r"] is not None:
        agg.reach = Reach.from_bytes(base64.b64decode(value["r"]))
    if value["i"] is not None:
        agg.influencers = set(value["i"])
    return agg


def _decode_definition(value: dict[str, Any]) -> CampaignDefined:
    fields = dict(value)
    fields["influencers"] = tuple(
        RosterEntry(
            entry["influencer_id"],
            entry["tier"],
            tuple(entry["promo_codes"]),
            tuple(entry["link_ids"]),
        )
        for entry in value["influencers"]
    )
    return CampaignDefined(**fields)
