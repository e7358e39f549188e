"""The streaming pipeline: records in, per-partition engines, transactional flushes, sinks out.

Independent of Faust: a consumer (streams.faust_compat) only feeds it fetched records, tells
it the partitions assigned, and carries out what it asks (seek an input back, commit the
group's offsets). The pipeline decides everything else: when to flush, what to commit.

Per input partition number it keeps one engine (the domain core the batch replay runs too),
the offsets it has applied and a journal. A flush commits each changed partition as one
atomic write of its state cells, KPI records and dead letters (streams.storage), then hands
the changed KPI sets to the sinks, whose writes overlap with applying the next records.

Exactly once rests on three rules:

* a partition is opened (its previous writer fenced, its state restored) before any write,
  and its inputs are sought back to the restored offsets, so no record is skipped;
* a flush that is not surely committed loses the partition (its in-memory state is dropped
  and restored again before the next write): nothing is ever written from a state that
  might be stale;
* records at or below a partition's applied offsets were applied before and are skipped.

Sinks are written with each campaign's flush sequence, which Redis uses to refuse a write
older than the one it holds (a frozen worker's late write can never win). Whatever a sink
reports lost (Redis flushed or restarted) is written again from the engine's state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from streams.config import Settings
from streams.control import BadRequest, ForgetRequest, parse_request
from streams.domain.engine import Changes, Engine, KpiSet
from streams.domain.errors import InvalidRecord
from streams.domain.events import CampaignDefined
from streams.domain.vocabulary import Outcome
from streams.faults import fault_point
from streams.journal import Journal, Meta, RawCell, cell_campaign
from streams.metrics import PipelineMetrics, StateHeld
from streams.processing import apply_record, dead_letter
from streams.sinks import Erasure, Flush, Sink
from streams.sinks.kpi_topic import alert_records, erased_records, kpi_records
from streams.storage import FlushRecords, PartitionLost, PartitionStore, Record, StoreFactory

log = logging.getLogger(__name__)

# How often the sinks are asked whether they lost what was written (Redis flushed or
# restarted while nothing changed).
SINK_CHECK_INTERVAL_S: Final = 1.0


class InputRecord(Protocol):
    """One consumed Kafka record of an input topic (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str:
        """The full topic name."""

    @property
    def partition(self) -> int:
        """The partition number."""

    @property
    def offset(self) -> int:
        """The record's offset."""

    @property
    def timestamp(self) -> int:
        """The record timestamp, milliseconds since the epoch."""

    @property
    def key(self) -> bytes | None:
        """The key."""

    @property
    def value(self) -> bytes | None:
        """The value (None: a tombstone)."""


class InputControl(Protocol):
    """What the pipeline asks of the consumer that feeds it."""

    @property
    def generation(self) -> int:
        """The consumer group generation this consumer belongs to (-1: unknown)."""

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Fetch these (topic, partition)s from these offsets next."""

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit the group's offsets (where fetching resumes after a restart)."""


class NoInputControl:
    """For a pipeline fed by hand (tests): nothing to seek or commit."""

    generation = -1

    async def seek(self, positions: Mapping[tuple[str, int], int]) -> None:
        """Nothing to seek."""

    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Nothing to commit."""


@dataclass(slots=True)
class _Partition:
    number: int
    store: PartitionStore
    journal: Journal
    engine: Engine
    offsets: dict[str, int]  # input topic name -> last applied offset
    flush_seq: int
    dead_letters: list[Record] = field(default_factory=list)
    changed: bool = False
    # Campaigns whose every KPI set the sinks must get again (restored, or lost by a sink).
    republish: set[str] = field(default_factory=set)
    # Campaign -> when (monotonic seconds) its last record was counted, for feed_silent.
    last_event: dict[str, float] = field(default_factory=dict)
    # Forget requests applied since the last flush, with whether the campaign was held.
    forgets: list[tuple[ForgetRequest, bool]] = field(default_factory=list)


class Pipeline:
    """Applies input records and flushes their effects, exactly once."""

    def __init__(
        self,
        settings: Settings,
        stores: StoreFactory,
        sinks: Sequence[Sink],
        metrics: PipelineMetrics,
        *,
        clock: Callable[[], float] = time.time,
        sink_check_interval_s: float = SINK_CHECK_INTERVAL_S,
    ) -> None:
        """Own no partition until they are assigned (or records of one arrive)."""
        self.settings = settings
        self.sinks = sinks
        self.metrics = metrics
        self.clock = clock
        self.control: InputControl = NoInputControl()
        self._stores = stores
        self._logical = settings.logical_topics()
        self._control_topic = settings.control_topic_name
        self._partitions: dict[int, _Partition] = {}
        # The latest assignment the consumer reported, and the one acted on (None: not told;
        # a pipeline fed by hand opens what it is fed).
        self._assignment: frozenset[int] | None = None
        self._assigned: frozenset[int] | None = None
        # Partitions whose state a newer group generation wrote: not ours until reassigned.
        self._stale: set[int] = set()
        # Still assigned, released after a flush that failed: to open at the next feed or idle.
        self._reopen: set[int] = set()
        # Records applied since the last flush, and since when something waits to be flushed.
        self._unflushed = 0
        self._waiting_since: float | None = None
        self._flushes = 0
        # The last flush's sink writes, running while the next records are applied, and the
        # campaigns the sinks reported lost (to write whole again).
        self._sinking: asyncio.Task[None] | None = None
        self._lost: set[str] = set()
        self._check_interval_s = sink_check_interval_s
        self._checked_at = 0.0

    async def start(self) -> None:
        """Connect the sinks."""
        for sink in self.sinks:
            await sink.start()

    async def stop(self) -> None:
        """Finish the last sink writes, then release every partition and the sinks."""
        await self.settle()
        for number in list(self._partitions):
            await self._release(number)
        for sink in self.sinks:
            await sink.stop()

    @property
    def partitions(self) -> dict[int, dict[str, int]]:
        """Owned partition -> input topic -> last applied offset."""
        return {number: dict(part.offsets) for number, part in self._partitions.items()}

    def assigned(self, partitions: Iterable[int]) -> None:
        """The consumer's new assignment; acted on at the next feed or idle call.

        Only remembered here: the rebalance callback that calls this may run while a flush
        is under way, and a partition must not change hands in the middle of one.
        """
        self._assignment = frozenset(partitions)

    async def feed(self, records: Iterable[InputRecord], *, caught_up: bool) -> None:
        """Apply fetched records in order; flush when due.

        ``caught_up``: the fetch reached the end of every partition it read. Rejected records
        become dead letters; control records are applied as requests. A partition opened
        during this call was sought back to its restored offsets, so the rest of its records
        in this fetch are dropped (they come again).
        """
        # Opened now means sought back: this fetch's records of those partitions come again.
        reopened = await self._follow_assignment()
        await fault_point(self.settings, "fetched")
        metrics = self.metrics
        outcomes = metrics.event_outcome
        batch_max = self.settings.batch_max
        control_topic = self._control_topic
        now_us = int(self.clock() * 1_000_000)
        for record in records:
            number = record.partition
            if number in reopened or number in self._stale:
                continue
            if self._unflushed >= batch_max:
                await self.flush()
            part = self._partitions.get(number)
            if part is None:
                if self._assigned is not None and number not in self._assigned:
                    # Revoked while this fetch was under way: its new owner reads it. Opening
                    # it here would fence that owner.
                    continue
                await self._open(number)
                reopened.add(number)
                continue
            topic = record.topic
            if record.offset <= part.offsets.get(topic, -1):
                if topic != control_topic:
                    outcomes[self._logical[topic], Outcome.SKIPPED].inc()
                continue
            part.offsets[topic] = record.offset
            part.changed = True
            self._waiting()
            self._unflushed += 1
            if topic == control_topic:
                self._apply_request(part, record)
                continue
            logical = self._logical[topic]
            outcome, result = apply_record(
                part.engine, logical, record.key, record.value, record.timestamp
            )
            outcomes[logical, outcome].inc()
            if isinstance(result, InvalidRecord):
                metrics.invalid.labels(logical, result.reason).inc()
                part.dead_letters.append(
                    dead_letter(
                        result, record.topic, record.partition, record.offset,
                        record.timestamp, record.key, record.value,
                    )
                )
            else:
                part.last_event[result.campaign_id] = time.monotonic()
                if outcome is Outcome.COUNTED:
                    metrics.event_lag.observe(
                        max(0, now_us - result.occurred_at_us) / 1_000_000
                    )
        if self._flush_due(caught_up):
            await self.flush()
        await self._check_sinks()

    async def idle(self) -> None:
        """Nothing was fetched: follow the assignment, flush what waits, check the sinks."""
        await self._follow_assignment()
        if self._flush_due(caught_up=True):
            await self.flush()
        await self._check_sinks()
        await self.settle()

    @staticmethod
    def _apply_request(part: _Partition, record: InputRecord) -> None:
        """A control record: forget its campaign (what follows of it starts anew)."""
        try:
            request = parse_request(record.key, record.value)
        except BadRequest as error:
            log.warning(
                "partition %d: control record at offset %d ignored: %s",
                part.number, record.offset, error,
            )
            return
        cid = request.campaign_id
        part.forgets.append((request, part.engine.forget(cid)))
        part.republish.discard(cid)
        part.last_event.pop(cid, None)

    def _flush_due(self, caught_up: bool) -> bool:
        """Whether to flush now: something waits, and the input is drained or time is up.

        Flushing as soon as the input is drained keeps KPIs fresh under a light load; under a
        heavy one, records pile up while a flush runs, so flushes grow and stay efficient.
        """
        self._schedule_lost()
        if any(part.republish for part in self._partitions.values()):
            return True
        since = self._waiting_since
        return since is not None and (
            caught_up or time.monotonic() - since >= self.settings.flush_interval_s
        )

    def _waiting(self) -> None:
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()

    async def flush(self) -> None:
        """Commit every changed partition, then start writing its KPI sets to the sinks.

        The sinks are written in the background, one flush after the other, while the next
        records are applied: the worker's CPU does not sit idle while Redis works.
        """
        self._waiting_since = None
        self._unflushed = 0
        self._flushes += 1
        updated_at_ms = int(self.clock() * 1000)
        for_sinks: list[KpiSet] = []
        whole: set[str] = set()
        sequences: dict[str, int] = {}
        definitions: dict[str, CampaignDefined] = {}
        committed: dict[tuple[str, int], int] = {}
        alert_rules = self.settings.alert_rules()
        changed_alerts = []
        erasures: list[Erasure] = []
        for number, part in list(self._partitions.items()):
            if not part.changed and not part.republish:
                continue
            part.engine.evaluate_alerts(alert_rules)
            changes = part.engine.take_changes()
            changed_sets = part.engine.kpi_sets(changes)
            if part.changed:
                seq = part.flush_seq + 1
                meta = Meta(dict(part.offsets), seq, self.control.generation)
                cells = part.journal.cells(part.engine, changes, seq, meta, number)
                # An erased campaign's tombstones go first: a set of the same key later in the
                # flush comes from records that followed the erasure.
                erased_kpis, erased_alerts = erased_records(changes.forgotten.values())
                try:
                    await part.store.commit(
                        FlushRecords(
                            cells,
                            erased_kpis + kpi_records(
                                changed_sets, updated_at_ms, self._encoding_failed
                            ),
                            part.dead_letters,
                            erased_alerts + alert_records(changes.alerts),
                        )
                    )
                except PartitionLost as lost:
                    log.warning("%s; dropping its state", lost)
                    await self._release(number)
                    if not lost.fenced:
                        # Its records of this flush were fetched already: nothing may come
                        # to open it again, so it is opened (and sought back) at once.
                        self._reopen.add(number)
                    continue
                part.flush_seq = seq
                part.dead_letters = []
                part.changed = False
                for erasure in _erasures(part, changes, cells):
                    erasures.append(erasure)
                    sequences[erasure.campaign_id] = seq
                committed.update(
                    ((topic, number), offset + 1) for topic, offset in part.offsets.items()
                )
            sets = changed_sets
            if part.republish:
                written = {kpi_set.key for kpi_set in changed_sets}
                sets = changed_sets + [
                    kpi_set for kpi_set in part.engine.all_sets()
                    if kpi_set.campaign_id in part.republish and kpi_set.key not in written
                ]
                whole |= part.republish
                part.republish = set()
            for_sinks.extend(sets)
            changed_alerts.extend(changes.alerts)
            for cid in {kpi_set.campaign_id for kpi_set in sets} | {
                record.campaign_id for record in changes.alerts
            }:
                sequences[cid] = part.flush_seq
                definition = part.engine.campaigns[cid].definition
                if definition is not None:
                    definitions[cid] = definition
        if committed:
            await self.control.commit(committed)
        if not for_sinks and not changed_alerts and not erasures:
            return
        await fault_point(self.settings, "committed")
        await self.settle()
        # Committed: the sinks are written while the next records are applied.
        flush = Flush(
            for_sinks, updated_at_ms, definitions, sequences, frozenset(whole), changed_alerts,
            erasures,
        )
        self._sinking = asyncio.create_task(self._write_sinks(flush, self._flushes))

    async def settle(self) -> None:
        """Wait until the last flush is in the sinks (raising the error of its write)."""
        sinking, self._sinking = self._sinking, None
        if sinking is not None:
            await sinking

    async def _write_sinks(self, flush: Flush, number: int) -> None:
        for sink in self.sinks:
            started = time.perf_counter()
            try:
                lost = await sink.write(flush)
            except Exception as error:
                raise SinkFailed(
                    f"flush {number} ({len(flush.kpi_sets)} KPI sets of "
                    f"{len(flush.sequences)} campaigns) could not be written to {sink.name}: "
                    f"{error!r}"
                ) from error
            self._lost.update(lost)
            self.metrics.sink_write.labels(sink.name).observe(time.perf_counter() - started)
        self.metrics.flushes.inc()
        self.metrics.kpi_sets_written.inc(len(flush.kpi_sets))

    def _encoding_failed(self, kpi_set: KpiSet, error: Exception) -> None:
        log.error("KPI set %s could not be encoded (%r); it is not written", kpi_set.key, error)
        self.metrics.set_errors.labels("kpi-topic").inc()

    async def _check_sinks(self) -> None:
        """Every second or so, ask the sinks whether they lost what they were given."""
        now = time.monotonic()
        if now - self._checked_at < self._check_interval_s or not self._partitions:
            return
        self._checked_at = now
        campaigns = [cid for part in self._partitions.values() for cid in part.engine.campaigns]
        for sink in self.sinks:
            self._lost.update(await sink.lost(campaigns))
        self._check_silence(now)

    def _check_silence(self, now: float) -> None:
        """Judge feed_silent (processing time): campaigns in flight with no recent event."""
        rules = self.settings.alert_rules()
        wall_us = int(self.clock() * 1_000_000)
        now_ms = wall_us // 1000
        for part in self._partitions.values():
            silent: dict[str, float] = {}
            flying = []
            for cid, state in part.engine.campaigns.items():
                definition = state.definition
                if definition is None:
                    continue
                silent[cid] = now - part.last_event.get(cid, now)
                if definition.starts_at_us <= wall_us <= definition.ends_at_us:
                    flying.append(cid)
            if not silent:
                continue
            before = len(part.engine.changes.alerts)
            part.engine.evaluate_alerts(
                rules, silent, silent_s=silent, in_flight=flying, now_ms=now_ms
            )
            if len(part.engine.changes.alerts) != before:
                part.changed = True
                self._waiting()

    def _schedule_lost(self) -> None:
        """Move the campaigns the sinks lost into their partitions' republish sets."""
        if not self._lost:
            return
        lost, self._lost = self._lost, set()
        for part in self._partitions.values():
            found = lost & part.engine.campaigns.keys()
            if found:
                log.warning(
                    "partition %d: a sink lost %d campaigns' KPI sets; writing them again",
                    part.number, len(found),
                )
                part.republish |= found

    async def _follow_assignment(self) -> set[int]:
        """Release the partitions no longer assigned and open the new ones (returned).

        Partitions released after a failed flush are opened again here too.
        """
        assignment, self._assignment = self._assignment, None
        reopen, self._reopen = self._reopen, set()
        if assignment is not None:
            self._assigned = assignment
            self._stale.clear()
            for number in list(self._partitions):
                if number not in assignment:
                    await self._release(number)
            opened = set(assignment - self._partitions.keys())
        else:
            opened = reopen - self._partitions.keys()
        if self._assigned is not None:
            opened &= self._assigned
        for number in sorted(opened):
            await self._open(number)
        return opened

    async def _release(self, number: int) -> None:
        """Forget a partition: its unflushed work is redone by whoever opens it next."""
        part = self._partitions.pop(number, None)
        if part is not None:
            await part.store.close()
            for sink in self.sinks:
                sink.forget(part.engine.campaigns)
        self.metrics.partitions_owned.set(len(self._partitions))

    async def _open(self, number: int) -> None:
        """Fence the partition's previous writer, restore its state, seek its inputs back."""
        store = self._stores(number)
        raw = await store.open()
        journal, engine, meta = Journal.restore(self.settings.rules(), raw, number)
        generation = self.control.generation
        if 0 <= generation < meta.generation:
            # A newer member of the group wrote it: this worker fell behind (frozen past the
            # session timeout?). Leave the partition to its owner until a rebalance says.
            log.warning(
                "partition %d: committed by consumer generation %d, newer than ours (%d); "
                "leaving it until the next rebalance", number, meta.generation, generation,
            )
            await store.close()
            self._stale.add(number)
            return
        part = _Partition(number, store, journal, engine, dict(meta.offsets), meta.flush_seq)
        part.republish = set(engine.campaigns)
        started = time.monotonic()
        part.last_event = dict.fromkeys(engine.campaigns, started)
        part.changed = journal.rewrite_pending
        self._partitions[number] = part
        self.metrics.partitions_owned.set(len(self._partitions))
        await self.control.seek(
            {
                (topic, number): meta.offsets.get(topic, -1) + 1
                for topic in self.settings.consumed_topics()
            }
        )
        log.info(
            "partition %d: opened at flush %d (%d campaigns, %d cells); inputs from %s",
            number, meta.flush_seq, len(engine.campaigns), len(raw),
            {str(self._logical.get(t, t)): o + 1 for t, o in sorted(meta.offsets.items())},
        )

    def consumer_lag(
        self, highwater: Callable[[str, int], int | None]
    ) -> Iterator[tuple[str, int, int]]:
        """(logical topic, partition, records not yet applied) of the owned partitions."""
        for number, part in list(self._partitions.items()):
            for topic, logical in self._logical.items():
                end = highwater(topic, number)
                if end is not None:
                    yield logical, number, max(0, end - part.offsets.get(topic, -1) - 1)

    def state_held(self) -> Iterator[StateHeld]:
        """What each owned partition holds (a pass over its live sets: read at scrape time)."""
        for number, part in list(self._partitions.items()):
            states = list(part.engine.campaigns.values())
            yield StateHeld(
                number,
                len(states),
                sum(len(state.sets) for state in states),
                sum(1 for state in states for key in state.sets if key[3] is not None),
                sum(len(state.archive) for state in states),
            )


def _erasures(part: _Partition, changes: Changes, cells: Sequence[RawCell]) -> list[Erasure]:
    """The erasures a committed flush of a partition carried out, one per forget request."""
    tombstones = Counter(cell_campaign(key) for key, value in cells if value is None)
    erasures = []
    for request, known in part.forgets:
        cid = request.campaign_id
        state = changes.forgotten.get(cid) if known else None
        if state is None:
            erasure = Erasure(cid, request.request_id, known=False)
        else:
            keys = state.set_keys()
            erasure = Erasure(
                cid, request.request_id, known=True, set_keys=keys,
                state_cells=tombstones[cid], alert_keys=len(state.alerts),
                past_retention=sum(1 for _ in state.dropped_keys(set(keys))),
            )
        log.info(
            "partition %d: campaign %s forgotten (request %s): %s", part.number, cid,
            request.request_id,
            f"{erasure.state_cells} state cells, {len(erasure.set_keys)} KPI sets and "
            f"{erasure.alert_keys} alerts deleted" if known else "nothing held",
        )
        erasures.append(erasure)
    part.forgets = []
    return erasures


class SinkFailed(RuntimeError):
    """A sink could not store a flush for a reason retrying cannot fix."""


__all__ = [
    "InputControl",
    "InputRecord",
    "NoInputControl",
    "Pipeline",
    "SinkFailed",
]
