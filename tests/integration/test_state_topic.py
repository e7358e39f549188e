"""The state topic on the real broker: what a restore reads, and what the log cleaner leaves.

A worker opening a partition reads its state-topic partition from the start. The compaction
settings of ``streams.topics`` must make the broker's log cleaner drop the overwritten values,
so that a restore reads the live cells rather than their history
(``benchmarks/restore_bench.py`` measures it at scale).
"""

from __future__ import annotations

import asyncio
import time

from streams.config import Settings
from streams.journal import encode
from streams.kafka_store import KafkaPartitionStore, StateRead
from streams.storage import FlushRecords
from streams.topics import STATE_TOPIC_CONFIG

from .support import KafkaAdmin

# Kafka's smallest segment: the active segment is never cleaned, so the history must fill
# a few closed ones.
_SEGMENT_BYTES = 1 << 20
_VALUE_BYTES = 400
_CLEANER_WAIT_S = 120.0


def _settings(bootstrap: str, app_id: str) -> Settings:
    return Settings.from_env(
        {"KAFKA_BOOTSTRAP": bootstrap, "KPI_APP_ID": app_id, "KPI_PARTITIONS": "1"}
    )


async def _read(settings: Settings) -> tuple[dict[str, bytes], StateRead]:
    store = KafkaPartitionStore(settings, 0)
    try:
        cells = await store.open()
    finally:
        await store.close()
    assert store.last_read is not None
    return cells, store.last_read


async def test_opening_counts_every_record_read_beside_the_live_cells(
    kafka_bootstrap: str, unique_name: str, admin: KafkaAdmin
) -> None:
    settings = _settings(kafka_bootstrap, unique_name)
    await admin.create_topics(settings.state_topic_name, config=STATE_TOPIC_CONFIG)
    writer = KafkaPartitionStore(settings, 0)
    await writer.open()
    try:
        await writer.commit(FlushRecords([("a|x", b"1"), ("a|y", b"22")]))
        await writer.commit(FlushRecords([("a|x", b"333"), ("a|y", None)]))
    finally:
        await writer.close()

    cells, read = await _read(settings)

    # All in the active segment, which the cleaner never touches: every record is read.
    assert cells == {"a|x": b"333"}
    assert (read.records, read.bytes, read.cells) == (4, 4 * 3 + 1 + 2 + 3, 1)


async def test_a_restore_reads_the_live_cells_once_the_cleaner_ran(
    kafka_bootstrap: str, unique_name: str, admin: KafkaAdmin
) -> None:
    settings = _settings(kafka_bootstrap, unique_name)
    await admin.create_topics(
        settings.state_topic_name,
        config={**STATE_TOPIC_CONFIG, "segment.bytes": str(_SEGMENT_BYTES)},
    )
    keys = [f"a|c|campaign|c{i:03d}|all|all" for i in range(500)]
    rewrites = 20  # 10,000 records, ~4.5 MB: a few closed segments

    def value(rewrite: int) -> bytes:
        return encode({"rewrite": rewrite, "pad": "x" * _VALUE_BYTES})

    writer = KafkaPartitionStore(settings, 0)
    await writer.open()
    try:
        for rewrite in range(rewrites):
            await writer.commit(FlushRecords([(key, value(rewrite)) for key in keys]))
    finally:
        await writer.close()
    latest = {key: value(rewrites - 1) for key in keys}
    # Compacted: one record per key in the closed segments, and the active one's records.
    compacted = len(keys) + _SEGMENT_BYTES // _VALUE_BYTES

    # The cleaner looks for work every 15 s (log.cleaner.backoff.ms).
    deadline = time.monotonic() + _CLEANER_WAIT_S
    while True:
        cells, read = await _read(settings)
        assert cells == latest
        if read.records <= compacted or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    assert read.records <= compacted, (
        f"after {_CLEANER_WAIT_S:.0f} s a restore still reads {read.records} records for "
        f"{len(keys)} live cells ({rewrites * len(keys)} written): the cleaner did not compact"
    )
