"""The engine's state as small key/value cells: written at each flush, read back on recovery.

A flush journals what its :class:`~streams.domain.engine.Changes` name: the aggregates of the
changed KPI sets, a changed definition, the event ids registered since the previous flush (one
chunk per campaign and topic), the posts, orders, valid clicks, reviews and survey answers
that changed, the per-topic lateness references, and the spans of windows dropped past their
retention (which an erasure still deletes from the KPI topic). Chunks of bounded-horizon topics are
deleted (tombstones) once every id in them is past the horizon, so a compacted state topic
stays proportional to the live state.

Format. Keys are text with ``|`` as separator (ids cannot contain it, contract 1.8). A value
is one format byte (:data:`FORMAT`) and the cell's JSON; ``None`` is a tombstone. Cells
written by the release before versioning (format 1) start with ``{`` or ``[`` and are still
read, as are format 2 cells (dense reach sketches only); a format this release does not know
is refused with :class:`NewerFormatError`. A value
larger than :data:`MAX_CELL_BYTES` is split into parts (keys ``#|<i>|<key>``) that the
reader joins again, so no record exceeds the broker's limit.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streams import codec
from streams.domain.alerts import AlertRecord
from streams.domain.archive import BlockKey
from streams.domain.attribution import index_roster
from streams.domain.engine import (
    AnswerInForce,
    CampaignState,
    Changes,
    Engine,
    OrderState,
    Publication,
    ReviewInForce,
    SetKey,
)
from streams.domain.events import CampaignDefined, RosterEntry
from streams.domain.kpis import SLOT, Aggregate, LiftCounts
from streams.domain.reach import Reach
from streams.domain.rules import REPEAT_CLICK_US, Rules
from streams.domain.vocabulary import Group, Scope, Source, Topic, Window

FORMAT: Final = 3
"""The cell format this release writes (3: reach sketches may be sparse, tag ``P``)."""
_READ_FORMATS: Final = frozenset({2, FORMAT})
"""Formats read besides format 1: format 2 differs only in holding dense sketches alone."""
MAX_CELL_BYTES: Final = 256 * 1024
"""Largest value written as one record; larger ones are split (brokers default to 1 MiB)."""

RawCell = tuple[str, bytes | None]
# Chunks of event ids a topic without a dedup horizon may have before they are merged.
_MAX_CHUNKS: Final = 32
_PART: Final = "#"


class NewerFormatError(RuntimeError):
    """State written by a newer release: this one must not read (and then overwrite) it."""


@dataclass(frozen=True, slots=True)
class Meta:
    """A partition's progress, committed with every flush (cell ``p|<partition>``)."""

    offsets: dict[str, int] = field(default_factory=dict)  # input topic -> last applied
    flush_seq: int = 0
    generation: int = -1  # consumer-group generation of the writer (-1: not recorded)

    def cell(self, partition: int) -> RawCell:
        """The meta cell."""
        value = {
            "offsets": self.offsets, "seq": self.flush_seq, "generation": self.generation,
        }
        return meta_key(partition), encode(value)


def meta_key(partition: int) -> str:
    """Key of a partition's meta cell."""
    return f"p|{partition}"


def encode(value: Any) -> bytes:
    """A cell value in the current format."""
    return bytes((FORMAT,)) + codec.dumps(value)


def decode(raw: bytes) -> tuple[int, Any]:
    """``(format, value)`` of a stored cell; NewerFormatError for an unknown format."""
    if raw[:1] in (b"{", b"["):
        return 1, codec.loads(raw)
    if raw[0] in _READ_FORMATS:
        return raw[0], codec.loads(raw[1:])
    raise NewerFormatError(
        f"a state cell has format {raw[0]}, newer than format {FORMAT} that this release "
        "reads: run the release that wrote it (or a newer one), or start from an empty "
        "state with another KPI_APP_ID"
    )


class Journal:
    """Turns each flush's changes into cells, and keeps what deleting old cells needs."""

    def __init__(self, rules: Rules) -> None:
        """A journal of an empty state."""
        self.rules = rules
        # Bounded-horizon ledger chunks and valid-click chunks still live:
        # (campaign, topic) -> flush seq -> greatest occurred_at in the chunk.
        self._chunks: dict[tuple[str, str], dict[int, int]] = {}
        # Keys split into parts -> how many parts were written last.
        self._parts: dict[str, int] = {}
        # Keys to delete at the next flush (cells of an older format, rewritten anew).
        self._obsolete: set[str] = set()
        self._rewrite: Engine | None = None

    @property
    def rewrite_pending(self) -> bool:
        """Whether the next flush rewrites the whole state (it was read in an older format)."""
        return self._rewrite is not None

    # -- writing ------------------------------------------------------------------------

    def cells(self, engine: Engine, changes: Changes, flush_seq: int, meta: Meta,
              partition: int) -> list[RawCell]:
        """The cells of one flush (meta cell last), values encoded and split to fit."""
        if self._rewrite is not None:
            changes = _everything(self._rewrite)
            self._rewrite = None
        logical = list(self._logical_cells(engine, changes, flush_seq))
        raw: list[RawCell] = [(key, None) for key in sorted(self._obsolete)]
        self._obsolete.clear()
        for key, value in logical:
            raw.extend(self._split(key, None if value is None else encode(value)))
        raw.append(meta.cell(partition))
        return raw

    def _split(self, key: str, value: bytes | None) -> Iterator[RawCell]:
        before = self._parts.pop(key, 0)
        parts = 0
        if value is not None and len(value) > MAX_CELL_BYTES:
            pieces = [value[i : i + MAX_CELL_BYTES] for i in range(0, len(value), MAX_CELL_BYTES)]
            parts = len(pieces)
            for i, piece in enumerate(pieces):
                yield f"{_PART}|{i}|{key}", piece
            self._parts[key] = parts
            yield key, encode({"parts": parts})
        else:
            yield key, value
        for i in range(parts, before):
            yield f"{_PART}|{i}|{key}", None

    def _logical_cells(
        self, engine: Engine, changes: Changes, flush_seq: int
    ) -> Iterator[tuple[str, Any]]:
        for _, erased in sorted(changes.forgotten.items()):
            yield from self._forget(erased)
        packed = changes.packed
        for agg, state in changes.sets.items():
            if agg not in packed:
                yield aggregate_key(state.campaign_id, agg.key), _aggregate_value(agg)
        for agg, state in packed.items():
            yield aggregate_key(state.campaign_id, agg.key), None
        for cid, block in sorted(changes.blocks):
            data = engine.campaigns[cid].archive.get(block)
            yield block_key(cid, block), None if not data else base64.b64encode(data).decode()
        for cid in sorted(changes.definitions):
            definition = engine.campaigns[cid].definition
            if definition is not None:
                yield f"d|{cid}", _definition_value(definition)
        for (cid, topic), entries in changes.registered.items():
            yield f"l|{cid}|{topic}|{flush_seq}", entries
            times = [t for _, t, _ in entries if t is not None]
            self._chunks.setdefault((cid, topic), {})[flush_seq] = max(times, default=0)
            if engine.rules.horizon_us(Topic(topic)) is None:
                yield from self._consolidate(engine, cid, Topic(topic))
        for cid in sorted(changes.maxima):
            state = engine.campaigns[cid]
            yield f"m|{cid}", {
                str(topic): ledger.max_us for topic, ledger in state.ledgers.items()
                if ledger.max_us is not None
            }
            yield from self._expired_chunks(state)
        for cid, clicks in changes.valid_clicks.items():
            yield f"v|{cid}|{flush_seq}", clicks
            self._chunks.setdefault((cid, "v"), {})[flush_seq] = max(t for _, _, t in clicks)
        for cid, post_id in sorted(changes.posts):
            post = engine.campaigns[cid].posts[post_id]
            published = post.published
            yield f"P|{cid}|{post_id}", {
                "c": post.counted,
                "pub": None if published is None else [
                    published.influencer_id, published.platform, published.format,
                    published.published_at_s,
                ],
                "src": post.source,
                "at": post.snapshot_at_us,
                "m": post.metrics,
            }
        for cid, order_id in sorted(changes.orders):
            order = engine.campaigns[cid].orders[order_id]
            yield f"o|{cid}|{order_id}", [] if order is None else [
                order.amount_minor, order.influencer_id, order.refunded_minor,
            ]
        for cid, post_id, reviewer in sorted(changes.reviews):
            review = engine.campaigns[cid].reviews[post_id, reviewer]
            yield f"r|{cid}|{post_id}|{reviewer}", [
                review.occurred_at_us, review.influencer_id, review.scores,
            ]
        for cid, link_id in sorted(changes.links):
            yield f"L|{cid}|{link_id}", engine.campaigns[cid].links[link_id]
        for cid in sorted(changes.hourly):
            hourly = engine.campaigns[cid].hourly
            yield f"H|{cid}", {str(start): value for start, value in sorted(hourly.items())}
        for record in changes.alerts:
            yield alert_key(record), record.to_value()
        for cid in sorted(changes.dropped):
            yield f"x|{cid}", [
                [scope, scope_id, window, first, last]
                for (scope, scope_id, window), (first, last)
                in sorted(engine.campaigns[cid].dropped.items())
            ]
        for cid, respondent, question in sorted(changes.answers):
            answer = engine.campaigns[cid].answers[respondent, question]
            yield f"s|{cid}|{respondent}|{question}", [
                answer.occurred_at_us, answer.group, answer.positive,
            ]

    def _expired_chunks(self, state: CampaignState) -> Iterator[tuple[str, None]]:
        """Tombstones for the chunks whose ids are all past their horizon, or stale clicks.

        A valid click older than the clicks' lateness reference less 30 minutes can no
        longer make a click a repeat (contract 3).
        """
        cid = state.campaign_id
        clicks = self._chunks.get((cid, "v"))
        reference = state.final_before_us(Topic.CLICKS, self.rules.grace_us[Topic.CLICKS])
        if clicks and reference is not None:
            oldest = reference - REPEAT_CLICK_US
            for seq in [seq for seq, newest in clicks.items() if newest <= oldest]:
                del clicks[seq]
                yield f"v|{cid}|{seq}", None
        for topic, ledger in state.ledgers.items():
            chunks = self._chunks.get((cid, topic))
            if not chunks or ledger.horizon_us is None or ledger.max_us is None:
                continue
            oldest = ledger.max_us - ledger.horizon_us
            for seq in [seq for seq, newest in chunks.items() if newest < oldest]:
                del chunks[seq]
                yield f"l|{cid}|{topic}|{seq}", None

    def _forget(self, state: CampaignState) -> Iterator[tuple[str, None]]:
        """Tombstones for every cell of an erased campaign."""
        cid = state.campaign_id
        for key in state.sets:
            yield aggregate_key(cid, key), None
        for block in state.archive:
            yield block_key(cid, block), None
        yield f"d|{cid}", None
        yield f"m|{cid}", None
        for post_id in state.posts:
            yield f"P|{cid}|{post_id}", None
        for order_id in state.orders:
            yield f"o|{cid}|{order_id}", None
        for post_id, reviewer in state.reviews:
            yield f"r|{cid}|{post_id}|{reviewer}", None
        for respondent, question in state.answers:
            yield f"s|{cid}|{respondent}|{question}", None
        for link_id in state.links:
            yield f"L|{cid}|{link_id}", None
        yield f"H|{cid}", None
        yield f"x|{cid}", None
        for record in state.alerts.values():
            yield alert_key(record), None
        for (chunk_cid, topic), chunks in list(self._chunks.items()):
            if chunk_cid == cid:
                for seq in chunks:
                    yield (f"v|{cid}|{seq}" if topic == "v" else f"l|{cid}|{topic}|{seq}"), None
                del self._chunks[chunk_cid, topic]

    def _consolidate(self, engine: Engine, cid: str, topic: Topic) -> Iterator[tuple[str, Any]]:
        """One chunk instead of many for a topic whose ids are kept for ever.

        Every flush that registers ids writes a chunk; on topics without a horizon they would
        pile up (each a cell a restore reads). Past a few dozen, they are rewritten as one
        chunk (seq 0) and the others deleted.
        """
        chunks = self._chunks.get((cid, topic))
        if chunks is None or len(chunks) <= _MAX_CHUNKS:
            return
        state = engine.campaigns[cid]
        entries: list[Any] = [(eid, t, None) for eid, t in state.ledgers[topic].seen.items()]
        if topic is Topic.ORDERS:
            entries += [(None, None, refund_id) for refund_id in sorted(state.refund_ids)]
        elif topic is Topic.CONVERSIONS:
            entries += [(None, None, cid_) for cid_ in sorted(state.conversion_ids)]
        for seq in chunks:
            if seq != 0:
                yield f"l|{cid}|{topic}|{seq}", None
        yield f"l|{cid}|{topic}|0", entries
        self._chunks[cid, topic] = {0: 0}

    # -- reading ------------------------------------------------------------------------

    @classmethod
    def restore(
        cls, rules: Rules, raw: Mapping[str, bytes], partition: int
    ) -> tuple[Journal, Engine, Meta]:
        """Rebuild a partition's journal, engine and progress from its live cells.

        ``raw`` holds the latest value of every key of the partition (tombstones dropped).
        """
        journal = cls(rules)
        values, legacy = journal._join(raw)
        meta_value = values.pop(meta_key(partition), None) or {}
        meta = Meta(
            dict(meta_value.get("offsets", {})),
            int(meta_value.get("seq", 0)),
            int(meta_value.get("generation", -1)),
        )
        engine = Engine(rules)
        states = _States(engine)
        chunks = sorted(
            (int(key.rsplit("|", 1)[1]), key, value)
            for key, value in values.items()
            if key.startswith(("l|", "v|"))
        )
        for seq, key, entries in chunks:
            journal._restore_chunk(states, seq, key, entries, key in legacy)
        for key, value in values.items():
            kind, cid, *rest = key.split("|")
            if kind in ("l", "v"):
                continue
            states.restore_cell(kind, states.get(cid), rest, value, key in legacy)
        engine.restore(states.done(legacy=bool(legacy)))
        if legacy:
            # Written by the release before versioning: rewrite everything in this format
            # (reviewer and visitor ids pseudonymised) and drop the old cells.
            journal._obsolete = set(legacy) - {meta_key(partition)}
            journal._rewrite = engine
        return journal, engine, meta

    def _join(self, raw: Mapping[str, bytes]) -> tuple[dict[str, Any], set[str]]:
        """Decoded cells by key, parts joined; and the keys stored in the legacy format."""
        parts: dict[str, dict[int, bytes]] = {}
        values: dict[str, Any] = {}
        legacy: set[str] = set()
        for key, value in raw.items():
            if key.startswith(_PART + "|"):
                _, index, whole = key.split("|", 2)
                parts.setdefault(whole, {})[int(index)] = value
                continue
            version, decoded = decode(value)
            if version == 1:
                legacy.add(key)
            values[key] = decoded
        for key, value in list(values.items()):
            if isinstance(value, dict) and set(value) == {"parts"} and key in parts:
                pieces = parts[key]
                count = int(value["parts"])
                joined = b"".join(pieces[i] for i in range(count))
                values[key] = decode(joined)[1]
                self._parts[key] = count
        return values, legacy

    def _restore_chunk(
        self, states: _States, seq: int, key: str, entries: list[Any], legacy: bool
    ) -> None:
        kind, cid, *rest = key.split("|")
        state = states.get(cid)
        if kind == "v":
            newest = None
            for visitor, link_id, occurred_at_us in entries:
                person = self.rules.pseudonym(visitor) if legacy else visitor
                state.valid_clicks.setdefault((person, link_id), []).append(occurred_at_us)
                newest = occurred_at_us if newest is None else max(newest, occurred_at_us)
            if newest is not None:
                self._chunks.setdefault((cid, "v"), {})[seq] = newest
            return
        topic = Topic(rest[0])
        ledger = state.ledgers[topic]
        for event_id, occurred_at_us, entity in entries:
            if event_id is not None:
                ledger.seen[event_id] = occurred_at_us
            if entity is None:
                continue
            if legacy and topic is Topic.POSTS:
                states.legacy_post(state, entity)
            elif legacy and topic is Topic.ORDERS:
                state.orders.setdefault(entity, None)
            elif topic is Topic.ORDERS:
                state.refund_ids.add(entity)
            elif topic is Topic.CONVERSIONS:
                state.conversion_ids.add(entity)
        times = [t for _, t, _ in entries if t is not None]
        self._chunks.setdefault((cid, topic), {})[seq] = max(times, default=0)


class _States:
    """Campaign states being rebuilt from cells."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._states: dict[str, CampaignState] = {}

    def get(self, cid: str) -> CampaignState:
        state = self._states.get(cid)
        if state is None:
            state = self._states[cid] = self._engine.new_state(cid)
        return state

    def done(self, legacy: bool) -> Iterable[CampaignState]:
        for state in self._states.values():
            state.lift = lift_of(state.answers)
            if legacy:
                _upgrade(state)
        return self._states.values()

    @staticmethod
    def legacy_post(state: CampaignState, post_id: str) -> None:
        # Format 1 kept only the ids of published posts: the post counts as published, with
        # no attributes known (see docs/contract-decisions.md, "State from version 1").
        state.post(post_id).counted = True

    def restore_cell(
        self, kind: str, state: CampaignState, rest: list[str], value: Any, legacy: bool
    ) -> None:
        rules = self._engine.rules
        if kind == "a":
            scope, scope_id, window, start = rest
            key: SetKey = (
                Scope(scope), scope_id, Window(window), None if start == Window.ALL else int(start)
            )
            state.sets[key] = _decode_aggregate(key, value, legacy)
        elif kind == "w":
            scope, scope_id, window, start = rest
            block: BlockKey = (Scope(scope), scope_id, Window(window), int(start))
            state.archive[block] = base64.b64decode(value)
        elif kind == "d":
            state.definition = _decode_definition(value)
        elif kind == "m":
            for topic, max_us in value.items():
                state.ledgers[Topic(topic)].max_us = max_us
        elif kind == "P":
            (post_id,) = rest
            post = state.post(post_id)
            if value["pub"] is not None:
                influencer_id, platform, format_, published_at_s = value["pub"]
                post.published = Publication(influencer_id, platform, format_, published_at_s)
            post.counted = value.get("pub") is not None or bool(value.get("c"))
            post.source = None if value["src"] is None else Source(value["src"])
            post.snapshot_at_us = value["at"]
            post.metrics = dict(value["m"])
        elif kind == "o":
            (order_id,) = rest
            state.orders[order_id] = (
                OrderState(value[0], value[1], value[2]) if value else None
            )
        elif kind == "r":
            post_id, reviewer = rest
            if legacy:
                reviewer = rules.pseudonym(reviewer)
            occurred_at_us, influencer_id, scores = value
            state.reviews[post_id, reviewer] = ReviewInForce(
                occurred_at_us, influencer_id, tuple((c, s) for c, s in scores)
            )
        elif kind == "L":
            (link_id,) = rest
            state.links[link_id] = [int(value[0]), int(value[1])]
        elif kind == "H":
            state.hourly = {int(start): int(count) for start, count in value.items()}
        elif kind == "x":
            state.dropped = {
                (Scope(scope), scope_id, Window(window)): [int(first), int(last)]
                for scope, scope_id, window, first, last in value
            }
        elif kind == "A":
            record = AlertRecord(**value)
            state.alerts[record.key] = record
        elif kind == "s":
            respondent, question = rest
            occurred_at_us, group, positive = value
            state.answers[respondent, question] = AnswerInForce(occurred_at_us, group, positive)


_INTERACTION_SLOTS: Final = tuple(
    SLOT[name] for name in ("impressions", "views", "likes", "comments", "shares", "saves",
                            "replies")
)


def _upgrade(state: CampaignState) -> None:
    """What format 1 can tell of version 2's state: post sources and the campaign reach_sum.

    Format 1 had interactions only, so a post with interactions counted has source
    ``events``; the campaign's ``reach_sum`` adds its posts' reach. (Format 1 did not record
    a post's influencer: those posts cannot count in an influencer's ``reach_sum``.)
    """
    reach_sum = 0
    for key, agg in state.sets.items():
        scope, post_id, window, _ = key
        if scope is not Scope.POST or window is not Window.ALL:
            continue
        if any(agg.counts[slot] for slot in _INTERACTION_SLOTS):
            state.post(post_id).source = Source.EVENTS
        reach_sum += agg.reach_value()
    campaign_all = state.sets.get((Scope.CAMPAIGN, state.campaign_id, Window.ALL, None))
    if campaign_all is not None:
        campaign_all.counts[SLOT["reach_sum"]] = reach_sum


def cell_campaign(key: str) -> str | None:
    """The campaign a cell belongs to (a part's, its whole cell's); None for a meta cell."""
    if key.startswith(_PART + "|"):
        key = key.split("|", 2)[2]
    kind, _, rest = key.partition("|")
    return None if kind == "p" else rest.split("|", 1)[0]


def alert_key(record: AlertRecord) -> str:
    """Key of an alert's cell."""
    return f"A|{record.campaign_id}|{record.rule}|{record.scope}|{record.scope_id}"


def block_key(cid: str, block: BlockKey) -> str:
    """Key of a block of packed windows."""
    scope, scope_id, window, start = block
    return f"w|{cid}|{scope}|{scope_id}|{window}|{start}"


def aggregate_key(cid: str, key: SetKey) -> str:
    """Key of an aggregate's cell."""
    scope, scope_id, window, start = key
    return f"a|{cid}|{scope}|{scope_id}|{window}|{Window.ALL if start is None else start}"


def _aggregate_value(agg: Aggregate) -> dict[str, Any]:
    reach = agg.reach
    influencers = agg.influencers
    return {
        "c": agg.counts,
        "r": base64.b64encode(reach.to_bytes()).decode() if isinstance(reach, Reach) else reach,
        "i": sorted(influencers) if isinstance(influencers, set) else influencers,
        "b": agg.by_action,
    }


# The slots of format 1, in its order (its counts list was indexed by these).
_LEGACY_SLOTS: Final[tuple[str, ...]] = (
    "posts", "potential_reach", "spend_minor", "impressions", "views", "likes", "comments",
    "shares", "saves", "replies", "clicks_valid", "clicks_bot", "clicks_repeat", "orders_code",
    "orders_link", "orders_unattributed", "revenue_minor", "orders_out_of_window",
    "duplicate_events", "late_events", "reviews",
    *(f"score_sum_{c}" for c in ("brand_fit", "tone", "storytelling", "creativity",
                                 "reusability", "compliance")),
    *(f"score_count_{c}" for c in ("brand_fit", "tone", "storytelling", "creativity",
                                   "reusability", "compliance")),
)


def _decode_aggregate(key: SetKey, value: dict[str, Any], legacy: bool) -> Aggregate:
    agg = Aggregate(key)
    if legacy:
        for name, count in zip(_LEGACY_SLOTS, value["c"], strict=True):
            agg.counts[SLOT[name]] = count
    else:
        agg.counts = list(value["c"])
    reach = value["r"]
    if isinstance(reach, str):
        agg.reach = Reach.from_bytes(base64.b64decode(reach))
    else:
        agg.reach = reach
    influencers = value["i"]
    agg.influencers = set(influencers) if isinstance(influencers, list) else influencers
    agg.by_action = value.get("b")
    return agg


def _definition_value(definition: CampaignDefined) -> dict[str, Any]:
    return {
        "event_id": definition.event_id,
        "occurred_at_us": definition.occurred_at_us,
        "campaign_id": definition.campaign_id,
        "name": definition.name,
        "objective": definition.objective,
        "starts_at_us": definition.starts_at_us,
        "ends_at_us": definition.ends_at_us,
        "currency": definition.currency,
        "brand": definition.brand,
        "budget_minor": definition.budget_minor,
        "attribution_window_days": definition.attribution_window_days,
        "targets": definition.targets,
        "influencers": [
            [e.influencer_id, e.tier, list(e.promo_codes), list(e.link_ids)]
            for e in definition.influencers
        ],
    }


def _decode_definition(value: dict[str, Any]) -> CampaignDefined:
    fields = {k: v for k, v in value.items() if k not in ("code_owners", "link_owners")}
    roster = []
    for entry in value["influencers"]:
        if isinstance(entry, dict):  # format 1
            influencer_id, tier = entry["influencer_id"], entry["tier"]
            codes, links = entry["promo_codes"], entry["link_ids"]
        else:
            influencer_id, tier, codes, links = entry
        roster.append(RosterEntry(influencer_id, tier, tuple(codes), tuple(links)))
    fields["influencers"] = tuple(roster)
    code_owners, link_owners = index_roster(roster)
    return CampaignDefined(**fields, code_owners=code_owners, link_owners=link_owners)


def lift_of(answers: Mapping[tuple[str, str], AnswerInForce]) -> dict[str, LiftCounts]:
    """Per question: exposed, exposed positive, control, control positive."""
    lift: dict[str, LiftCounts] = {}
    for (_, question), answer in answers.items():
        counts = lift.setdefault(question, [0, 0, 0, 0])
        at = 0 if answer.group == Group.EXPOSED else 2
        counts[at] += 1
        counts[at + 1] += answer.positive
    return lift


def _everything(engine: Engine) -> Changes:
    """A change record naming every piece of an engine's state (to write it whole)."""
    changes = Changes()
    for cid, state in engine.campaigns.items():
        for agg in state.sets.values():
            changes.sets[agg] = state
        if state.definition is not None:
            changes.definitions.add(cid)
        changes.maxima.add(cid)
        for topic, ledger in state.ledgers.items():
            if ledger.seen:
                changes.registered[cid, topic] = [
                    (event_id, t, None) for event_id, t in ledger.seen.items()
                ]
        # The refund and conversion ids counted once, without the event that counted them.
        for topic, ids in ((Topic.ORDERS, state.refund_ids), (Topic.CONVERSIONS,
                                                              state.conversion_ids)):
            for entity in sorted(ids):
                changes.register(cid, topic, (None, None, entity))
        changes.posts.update((cid, post_id) for post_id in state.posts)
        changes.orders.update((cid, order_id) for order_id in state.orders)
        for (visitor, link_id), times in state.valid_clicks.items():
            changes.valid_clicks.setdefault(cid, []).extend((visitor, link_id, t) for t in times)
        changes.reviews.update((cid, *pair) for pair in state.reviews)
        changes.answers.update((cid, *pair) for pair in state.answers)
        if state.dropped:
            changes.dropped.add(cid)
    return changes
