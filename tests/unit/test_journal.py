"""The journal (streams.journal): restore + the rest of the input equals one uninterrupted run.

The state store is modelled as a compacted topic: the latest value per key, a tombstone
(``None``) removing the key. Flushes follow the worker: take the engine's changes, publish
the changed KPI sets, write the journal's cells.
"""

from __future__ import annotations

import base64
import json
import random
import struct
from collections.abc import Callable

import pytest

from streams import codec
from streams.domain.engine import Engine
from streams.domain.events import AnyEvent, Interaction
from streams.domain.reach import REGISTERS
from streams.domain.vocabulary import Topic
from streams.journal import MAX_CELL_BYTES, Journal, Meta, NewerFormatError

from .journal_worker import PARTITION, Worker
from .kpi_factories import (
    MINUTE,
    T0,
    answer,
    at,
    campaign,
    click,
    conversion,
    interaction,
    order,
    post,
    refund,
    review,
    roster_entry,
    snapshot,
    topic_of,
)
from .v2_stream import Item, apply_all, by_key, final_sets, stream


def _state_after(*events: AnyEvent) -> list[Item]:
    return [(topic_of(event), event) for event in events]


def run(items: list[Item], flush_every: int, restart_at: set[int]) -> Worker:
    """Apply ``items`` flushing every ``flush_every``; restart after the flushes named."""
    worker = Worker()
    for number, start in enumerate(range(0, len(items), flush_every), start=1):
        worker.apply(items[start : start + flush_every])
        worker.flush()
        if number in restart_at:
            worker.restart()
    return worker


def uninterrupted(items: list[Item], flush_every: int) -> Worker:
    return run(items, flush_every, set())


@pytest.mark.parametrize(
    ("seed", "flush_every", "restart_at"),
    [
        (1, 7, {1}),
        (2, 50, {2, 3, 5}),
        (3, 13, set(range(1, 200))),  # restarted after every flush
        (4, 100, {4}),
        (5, 1, set(range(1, 900, 37))),
        (6, 333, {1, 2}),
    ],
)
def test_restore_then_continue_equals_one_uninterrupted_run(
    seed: int, flush_every: int, restart_at: set[int]
) -> None:
    items = stream(seed, 900)
    reference = uninterrupted(items, flush_every)
    resumed = run(items, flush_every, restart_at)
    # every flush after a restart publishes exactly what the uninterrupted run published
    assert len(resumed.published) == len(reference.published)
    for number, (got, expected) in enumerate(
        zip(resumed.published, reference.published, strict=True), start=1
    ):
        assert got == expected, f"flush {number}"
    assert by_key(resumed.engine.all_sets()) == final_sets(items)


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377])
def test_one_cut_anywhere(cut: int) -> None:
    items = stream(100 + cut, 400)
    resumed = run(items, 1, {cut})
    assert by_key(resumed.engine.all_sets()) == final_sets(items)


V2_STATE = _state_after(
    campaign(roster=[roster_entry("i1", codes=["ANNA"], links=["l1"], tier="micro")]),
    post(post_id="p1", influencer_id="i1"),
    snapshot("2026-11-02T10:05:00Z", post_id="p1", likes=10, reach=100, views=50),
    snapshot("2026-11-02T11:05:00Z", post_id="p1", likes=12),
    interaction(post_id="p2", action="impression", viewer_id="v1"),
    order(order_id="o1", amount_minor=1000, promo_code="anna"),
    refund(order_id="o1", refund_id="r1", amount_minor=400),
    conversion(conversion_id="k1", action="signup", link_id="l1", value_minor=5,
               currency="EUR"),
    click(visitor_id="x1"),
)
# After the cut: each record below depends on state from before it.
V2_CONTINUATION = _state_after(
    snapshot("2026-11-02T10:30:00Z", post_id="p1", likes=1),  # stale: 11:05 in force
    snapshot("2026-11-02T12:05:00Z", post_id="p1", views=70),  # likes kept at 12
    interaction(post_id="p1"),  # source_mismatch: rejected
    snapshot(post_id="p2", likes=3),  # source_mismatch: rejected
    refund(order_id="o1", refund_id="r2", amount_minor=601),  # would exceed: rejected
    refund(order_id="o1", refund_id="r3", amount_minor=600),  # exactly the rest
    refund(order_id="o1", refund_id="r1", amount_minor=1),  # refund_id counted: duplicate
    conversion(conversion_id="k1", action="lead"),  # conversion_id counted: duplicate
    click(at(T0, MINUTE), visitor_id="x1"),  # a repeat of the valid click before the cut
    post(post_id="p1", influencer_id="i9"),  # post_id counted: duplicate
    campaign("2026-11-01T02:00:00Z", roster=[roster_entry("i1", tier="mega")]),  # tier change
)


def test_v2_state_survives_a_restart() -> None:
    items = V2_STATE + V2_CONTINUATION
    worker = Worker()
    worker.apply(V2_STATE)
    worker.flush()
    worker.restart()
    worker.apply(V2_CONTINUATION)
    worker.flush()
    final = by_key(worker.engine.all_sets())
    assert final == final_sets(items)
    campaign_all = final["c1|campaign|c1|all|all"]
    assert campaign_all["stale_snapshots"] == 1
    assert campaign_all["refunded_minor"] == 1000
    assert campaign_all["duplicate_events"] == 3
    assert campaign_all["clicks_repeat"] == 1
    assert final["c1|post|p1|all|all"]["likes"] == 12
    assert final["c1|post|p1|all|all"]["metrics_source"] == "platform"
    assert final["c1|influencer|i1|all|all"]["tier"] == "mega"


def test_reviews_and_answers_in_force_survive_a_restart() -> None:
    before = _state_after(
        review("2026-11-02T11:00:00Z", reviewer_id="rv", scores={"tone": 5}),
        answer("2026-11-02T11:00:00Z", respondent_id="u1", group="exposed", positive=True),
        answer("2026-11-02T11:00:00Z", respondent_id="u2", group="control", positive=False),
    )
    after = _state_after(
        review("2026-11-02T10:00:00Z", reviewer_id="rv", scores={"tone": 1}),  # older
        answer("2026-11-02T10:00:00Z", respondent_id="u1", positive=False),  # older
        answer("2026-11-02T12:00:00Z", respondent_id="u2", group="exposed"),  # moves group
    )
    worker = Worker()
    worker.apply(before)
    worker.flush()
    worker.restart()
    worker.apply(after)
    assert by_key(worker.engine.all_sets()) == final_sets(before + after)


def test_meta_comes_back_as_written() -> None:
    worker = Worker()
    worker.apply(stream(9, 30))
    worker.flush()
    worker.flush()
    meta = worker.restart()
    assert meta == Meta({"interactions": 31}, 2, 5)  # 2 definitions + 30 records


def test_sums_beyond_64_bits_survive_a_restart() -> None:
    items = _state_after(
        *(post(post_id=f"p{i}", followers=10**15, cost_minor=10**15) for i in range(20_000))
    )
    worker = Worker()
    worker.apply(items)
    worker.flush()
    worker.restart()
    values = {s.key: s.kpis for s in worker.engine.all_sets()}["c1|campaign|c1|all|all"]
    assert values["spend_minor"] == 20_000 * 10**15
    assert values["potential_reach"] == 20_000 * 10**15


# -- bounded state: chunks of expired ids are deleted -------------------------------------------


def _ids_in_store(store: dict[str, bytes], ids: set[str]) -> set[str]:
    text = b"".join(store.values()).decode("utf-8", "replace")
    return {event_id for event_id in ids if json.dumps(event_id) in text}


def test_event_ids_past_the_horizon_leave_the_store() -> None:
    worker = Worker()
    first = [interaction(at(T0, i), event_id=f"old-{i}") for i in range(5)]
    worker.apply(_state_after(*first))
    worker.flush()
    old_ids = {e.event_id for e in first}
    assert _ids_in_store(worker.store, old_ids) == old_ids
    # 9 minutes later: still within the 10-minute horizon, the ids stay
    worker.apply(_state_after(interaction(at(T0, 9 * MINUTE), event_id="mid")))
    worker.flush()
    assert _ids_in_store(worker.store, old_ids) == old_ids
    # past the horizon: the chunk holding them is deleted (a tombstone)
    later = interaction(at(T0, 11 * MINUTE), event_id="new")
    worker.apply(_state_after(later))
    cells = worker.flush()
    assert any(value is None for _, value in cells)
    assert _ids_in_store(worker.store, old_ids) == set()
    assert _ids_in_store(worker.store, {"mid", "new"}) == {"mid", "new"}
    # after a restart, copies behave as in an uninterrupted run
    worker.restart()
    copies: list[Interaction] = [first[0], later]
    outcomes = [worker.engine.apply(Topic.INTERACTIONS, e) for e in copies]
    reference = Engine()
    for e in (*first, interaction(at(T0, 9 * MINUTE), event_id="mid"), later):
        reference.apply(Topic.INTERACTIONS, e)
    assert outcomes == [reference.apply(Topic.INTERACTIONS, e) for e in copies]
    assert outcomes == ["counted", "duplicate"]


def test_unbounded_topics_keep_their_ids() -> None:
    worker = Worker()
    worker.apply(_state_after(order(at(T0), event_id="ord-old", order_id="o1")))
    worker.flush()
    worker.apply(_state_after(order(at(T0, 5 * 60 * MINUTE), event_id="ord-new")))
    worker.flush()
    assert _ids_in_store(worker.store, {"ord-old"}) == {"ord-old"}


def test_the_store_stays_bounded_while_time_moves_on() -> None:
    # Ten thousand interactions, 100 per flush, one minute apart from flush to flush: the
    # ids left in the store are those of the last 10 minutes only.
    worker = Worker()
    ids: list[str] = []
    for flush in range(100):
        batch = [interaction(at(T0, flush * MINUTE), event_id=f"n{flush}-{i}") for i in range(100)]
        ids.extend(event.event_id for event in batch)
        worker.apply(_state_after(*batch))
        worker.flush()
    live = _ids_in_store(worker.store, set(ids))
    # ids of flushes 89..99 (within 10 minutes of the greatest time, 99 min) at most
    assert live <= {f"n{f}-{i}" for f in range(88, 100) for i in range(100)}
    assert {f"n{f}-{i}" for f in range(89, 100) for i in range(100)} <= live


# -- large cells ------------------------------------------------------------------------------


def _big_definition(t: str, n: int, tier: str) -> Item:
    roster = [roster_entry(f"influencer-{i:05d}", codes=[f"{'C' * 50}-{i:05d}"],
                           links=[f"link-{i:05d}"], tier=tier) for i in range(n)]
    return Topic.CAMPAIGNS, campaign(t, roster=roster)


def test_cells_larger_than_256_kib_are_split_and_joined() -> None:
    worker = Worker()
    worker.apply([_big_definition("2026-11-01T00:00:00Z", 10_000, "nano")])
    worker.flush()
    assert sum(worker.raw_sizes) > 2 * MAX_CELL_BYTES  # the definition alone is > 512 KiB
    assert max(worker.raw_sizes) <= MAX_CELL_BYTES
    worker.restart()
    last = "influencer-09999"
    apply_all(worker.engine, _state_after(
        order(promo_code=f"{'c' * 50}-09999", amount_minor=7), post(influencer_id=last),
    ))
    sets = by_key(worker.engine.all_sets())
    assert sets[f"c1|influencer|{last}|all|all"]["orders_code"] == 1
    assert sets[f"c1|influencer|{last}|all|all"]["tier"] == "nano"


def test_a_split_cell_that_shrinks_leaves_no_parts_behind() -> None:
    worker = Worker()
    worker.apply([_big_definition("2026-11-01T00:00:00Z", 10_000, "nano")])
    worker.flush()
    big = sum(len(v) for v in worker.store.values())
    worker.apply([_big_definition("2026-11-01T01:00:00Z", 3, "mega")])
    worker.flush()
    small = sum(len(v) for v in worker.store.values())
    assert small < big / 50
    worker.restart()
    apply_all(worker.engine, _state_after(post(influencer_id="influencer-00002")))
    sets = by_key(worker.engine.all_sets())
    assert sets["c1|influencer|influencer-00002|all|all"]["tier"] == "mega"
    # and growing again after the restart splits again
    worker.apply([_big_definition("2026-11-01T02:00:00Z", 6_000, "mid")])
    worker.flush()
    assert max(worker.raw_sizes) <= MAX_CELL_BYTES
    worker.restart()
    apply_all(worker.engine, _state_after(post(post_id="p2", influencer_id="influencer-05999")))
    assert by_key(worker.engine.all_sets())["c1|influencer|influencer-05999|all|all"]["tier"] == (
        "mid"
    )
    # shrinking after a restart: the parts written before it are deleted too
    grown = sum(len(v) for v in worker.store.values())
    worker.apply([_big_definition("2026-11-01T03:00:00Z", 2, "micro")])
    worker.flush()
    assert sum(len(v) for v in worker.store.values()) < grown / 50
    worker.restart()
    assert by_key(worker.engine.all_sets())["c1|influencer|influencer-00002|all|all"].get(
        "tier"
    ) is None  # no longer on the roster


# -- formats ------------------------------------------------------------------------------


def test_a_cell_of_an_unknown_newer_format_is_refused() -> None:
    worker = Worker()
    worker.apply(stream(7, 50))
    worker.flush()
    assert all(value[:1] == b"\x03" for value in worker.store.values())  # format 3 today
    key = sorted(worker.store)[len(worker.store) // 2]
    newer = dict(worker.store)
    newer[key] = b"\x04" + worker.store[key][1:]
    with pytest.raises(NewerFormatError):
        Journal.restore(worker.rules, newer, PARTITION)


def _map_sketches(value: object, change: Callable[[bytes], bytes]) -> object:
    """A cell's JSON with each serialised reach count (field ``r``) passed through change."""
    if isinstance(value, dict):
        out = {key: _map_sketches(item, change) for key, item in value.items()}
        reach = out.get("r")
        if isinstance(reach, str):
            out["r"] = base64.b64encode(change(base64.b64decode(reach))).decode()
        return out
    if isinstance(value, list):
        return [_map_sketches(item, change) for item in value]
    return value


def _dense(serialised: bytes) -> bytes:
    """A reach count as format 2 wrote it: a sketch as its dense registers (tag ``S``)."""
    if serialised[:1] != b"P":
        return serialised
    registers = bytearray(REGISTERS)
    for (entry,) in struct.iter_unpack(">I", serialised[1:]):
        registers[entry >> 6] = entry & 63
    return b"S" + bytes(registers)


def _reach_tags(store: dict[str, bytes]) -> set[bytes]:
    tags: set[bytes] = set()

    def note(serialised: bytes) -> bytes:
        tags.add(serialised[:1])
        return serialised

    for value in store.values():
        _map_sketches(codec.loads(value[1:]), note)
    return tags


def test_cells_of_format_2_with_dense_sketches_restore_the_same_state() -> None:
    worker = Worker()
    _hours_of_viewers(worker, range(3))  # 900 viewers: hour and all sets hold sketches
    assert b"P" in _reach_tags(worker.store)
    earlier = {
        key: b"\x02" + codec.dumps(_map_sketches(codec.loads(value[1:]), _dense))
        for key, value in worker.store.items()
    }
    assert b"S" in _reach_tags(earlier)
    assert b"P" not in _reach_tags(earlier)
    _, from_earlier, _ = Journal.restore(worker.rules, earlier, PARTITION)
    assert by_key(from_earlier.all_sets()) == by_key(worker.engine.all_sets())
    # Continuing on the restored state counts as continuing on the original one.
    more = _state_after(*(
        interaction(at(T0, 4 * 60 * MINUTE + i * 100_000), action="impression",
                    viewer_id=f"late-viewer-{i}")
        for i in range(50)
    ))
    apply_all(from_earlier, more)
    worker.apply(more)
    assert by_key(from_earlier.all_sets()) == by_key(worker.engine.all_sets())


def test_flushing_nothing_writes_only_the_meta_cell() -> None:
    worker = Worker()
    worker.apply(stream(8, 20))
    worker.flush()
    cells = worker.flush()
    assert len(cells) == 1
    assert cells[0][1] is not None
    assert worker.published[-1] == {}


def test_random_restarts_agree_with_the_reference() -> None:
    rng = random.Random(42)
    for trial in range(5):
        items = stream(1000 + trial, 300)
        flush_every = rng.randint(1, 40)
        restarts = {rng.randint(1, 300 // flush_every + 1) for _ in range(3)}
        resumed = run(items, flush_every, restarts)
        assert by_key(resumed.engine.all_sets()) == final_sets(items), (trial, restarts)


# -- erasure --------------------------------------------------------------------------------


def test_a_forgotten_campaign_stays_forgotten_after_a_restart() -> None:
    # Engine.forget(campaign_id) drops everything about a campaign (its erasure); the journal
    # must delete its cells, or a restart brings the erased campaign back.
    worker = Worker()
    worker.apply(_state_after(
        campaign(), post(), order(order_id="o1"), interaction(), refund(order_id="o1"),
        campaign(campaign_id="c2"), interaction(campaign_id="c2"),
    ))
    worker.flush()
    assert worker.engine.forget("c1")
    worker.flush()
    assert {s.campaign_id for s in worker.engine.all_sets()} == {"c2"}
    worker.restart()
    assert {s.campaign_id for s in worker.engine.all_sets()} == {"c2"}


def test_a_campaign_forgotten_twice_between_two_flushes_stays_forgotten() -> None:
    # Forgotten, fed again, forgotten again, all before one flush: the cells to delete are
    # the first state's (what was written), not the second's (never written).
    worker = Worker()
    worker.apply(_state_after(campaign(), post(), interaction()))
    worker.flush()
    assert worker.engine.forget("c1")
    worker.apply(_state_after(campaign(event_id="again")))
    assert worker.engine.forget("c1")
    worker.flush()
    assert not [key for key in worker.store if key.split("|")[1] == "c1"]
    worker.restart()
    assert "c1" not in worker.engine.campaigns


# -- bounded state (contract 3, v2) -----------------------------------------------------------


def _store_bytes(worker: Worker) -> int:
    return sum(len(key) + len(value) for key, value in worker.store.items())


def _hours_of_viewers(worker: Worker, hours: range) -> None:
    # Each hour, 300 new viewers (more than an exact count keeps: a sketch) in one minute.
    for hour in hours:
        worker.apply(_state_after(*(
            interaction(at(T0, hour * 60 * MINUTE + i * 100_000), action="impression",
                        viewer_id=f"viewer-{hour}-{i}")
            for i in range(300)
        )))
        worker.flush()


def test_final_windows_keep_numbers_not_reach_sketches() -> None:
    # "A final part keeps its values and drops what only served to compute them — above all
    # the reach sketch": past the 6-hour grace, an hour window costs a few numbers, so 24
    # more hours of input must not add 24 more pairs of sketches (2 x 16 KiB each and hour).
    worker = Worker()
    _hours_of_viewers(worker, range(24))
    day_one = _store_bytes(worker)
    _hours_of_viewers(worker, range(24, 48))
    growth_per_hour = (_store_bytes(worker) - day_one) / 24
    assert growth_per_hour < 8 * 1024
    worker.restart()
    hour = kpis_of(worker.engine, "c1|campaign|c1|1h|1793613600")
    assert abs(int(hour["reach"]) - 300) <= 12  # type: ignore[call-overload]


def kpis_of(engine: Engine, key: str) -> dict[str, object]:
    return {s.key: s.kpis for s in engine.all_sets()}[key]


def test_valid_clicks_too_old_to_make_a_repeat_leave_the_state() -> None:
    # "A valid click older than the clicks' greatest occurred_at less the grace and 30
    # minutes can no longer make a click a repeat": the state need not, and must not grow
    # to, keep them all. Visitors are stored pseudonymised (Rules.pseudonym).
    worker = Worker()
    for hour in range(24):
        worker.apply(_state_after(*(
            click(at(T0, hour * 60 * MINUTE + i * MINUTE), visitor_id=f"visitor-{hour}-{i}")
            for i in range(20)
        )))
        worker.flush()
    pseudonyms = {worker.rules.pseudonym(f"visitor-{hour}-{i}"): hour
                  for hour in range(24) for i in range(20)}
    text = b"".join(worker.store.values()).decode("utf-8", "replace")
    kept_hours = {hour for pseudonym, hour in pseudonyms.items() if pseudonym in text}
    # greatest time: hour 23 + 19 min; anything before hour 16 is older than 6 h 30 before it
    assert kept_hours <= set(range(16, 24))
    assert set(range(17, 24)) <= kept_hours  # recent ones stay: they still make repeats
