"""The state topic's meta cells over time: the smoking gun of a partition going back in time.

Each committed flush of partition P writes the cell ``p|P`` (offsets, seq, generation) to the
state topic. Read ``read_committed`` in log order, per partition, the flush sequence numbers
must grow and the applied offsets of each input topic must never decrease: a backward jump
means a flush built from older state was committed after a newer one, so whatever the newer
ones applied is forgotten by the state (and, if no consumer seeks back, never applied again).

Run as a script on a live run's topics::

    python tests/faults/state_audit.py BOOTSTRAP STATE_TOPIC [PARTITIONS]
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.journal import decode
from streams.kafka_store import MAX_REQUEST_BYTES


@dataclass(frozen=True)
class MetaEntry:
    """One committed meta cell: where it is in the log, its flush seq and applied offsets."""

    offset: int  # in the state topic partition
    timestamp_ms: int
    seq: int
    offsets: dict[str, int]  # input topic -> last applied offset


async def read_meta_cells(
    bootstrap: str, state_topic: str, partitions: int
) -> dict[int, list[MetaEntry]]:
    """Every committed ``p|P`` cell of each partition, in log order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
    )
    await consumer.start()
    meta: dict[int, list[MetaEntry]] = {p: [] for p in range(partitions)}
    try:
        tps = [TopicPartition(state_topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                key = f"p|{tp.partition}".encode()
                for record in records:
                    if record.key == key and record.value is not None:
                        _, value = decode(record.value)
                        meta[tp.partition].append(
                            MetaEntry(
                                record.offset,
                                record.timestamp,
                                int(value["seq"]),
                                {t: int(o) for t, o in value["offsets"].items()},
                            )
                        )
            # The last offsets may be transaction markers: stop at the end, not at a record.
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return meta


def regressions(meta: dict[int, list[MetaEntry]]) -> list[str]:
    """A line per backward jump of a partition's flush seq or of an applied offset."""
    found = []
    for partition, entries in sorted(meta.items()):
        for before, after in itertools.pairwise(entries):
            lower = {
                topic: (before.offsets[topic], offset)
                for topic, offset in after.offsets.items()
                if offset < before.offsets.get(topic, -1)
            }
            if after.seq <= before.seq or lower:
                found.append(
                    f"partition {partition}: state offset {before.offset} seq {before.seq} -> "
                    f"state offset {after.offset} seq {after.seq}; applied offsets going back: "
                    + (
                        ", ".join(
                            f"{_short(t)} {old}->{new}" for t, (old, new) in sorted(lower.items())
                        )
                        or "none"
                    )
                )
    return found


def format_timeline(meta: dict[int, list[MetaEntry]]) -> str:
    """Every meta cell, one line each: partition, state offset, time, seq, applied offsets."""
    lines = []
    for partition, entries in sorted(meta.items()):
        for entry in entries:
            offsets = " ".join(f"{_short(t)}={o}" for t, o in sorted(entry.offsets.items()))
            lines.append(
                f"p{partition} @{entry.offset} t={entry.timestamp_ms} seq={entry.seq} {offsets}"
            )
    return "\n".join(lines)


def _short(topic: str) -> str:
    for logical in ("content-reviews", "interactions", "campaigns", "clicks", "orders", "posts",
                    "conversions", "surveys"):
        if topic.endswith(logical):
            return logical
    return topic


def main(argv: list[str]) -> None:
    """Print the timeline and the backward jumps of a state topic."""
    bootstrap, topic = argv[0], argv[1]
    partitions = int(argv[2]) if len(argv) > 2 else 4
    meta = asyncio.run(read_meta_cells(bootstrap, topic, partitions))
    print(format_timeline(meta))
    print("\n".join(regressions(meta)) or "no backward jump")


if __name__ == "__main__":
    main(sys.argv[1:])
