"""Create the topics the worker reads and writes, co-partitioned, when they are missing.

The state topic's compaction settings decide how much a restore reads: a worker opening a
partition reads its state-topic partition from the start, so it must hold the live cells and
little history (docs/architecture.md, "State topic compaction", has the reasoning and costs):

* ``min.compaction.lag.ms=0`` — a cell's older values are never needed (the journal only
  reads the latest), so the cleaner may drop them as soon as they are overwritten;
* ``min.cleanable.dirty.ratio=0.1`` — compact once a tenth of the closed segments is
  overwritten values, so a restore reads at most about 1.11 times the live cells plus the
  active segment (the price: each cleaning copies the whole log, ~10 times what is written);
* ``segment.ms`` 10 minutes and ``segment.bytes`` 32 MiB — the active segment is never
  compacted, so it rolls often and stays small;
* ``max.compaction.lag.ms`` 1 hour — a quiet partition is compacted within the hour even
  below the dirty ratio;
* ``delete.retention.ms`` 1 hour — a tombstone (a deleted chunk of event ids, a forgotten
  campaign) stays that long after compaction: far longer than any restore takes to read
  (a slower reader could miss it and keep the deleted cell), and short, since tombstones
  are many (a chunk per campaign and topic per flush);
* ``max.message.bytes`` 1 MiB — cells are split below 256 KiB (streams.journal).

tests/integration/test_state_topic.py checks that the broker's cleaner compacts with these
settings; benchmarks/restore_bench.py measures restore time and memory with them.

The KPI and alerts topics are compacted with ``max.compaction.lag.ms`` 7 days: a value
overwritten, or deleted by ``campaign-kpi forget``, is gone from the log within about a week
of the write however little else changes (README, "Personal data and erasure").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.config import Settings
from streams.connections import kafka_options
from streams.domain.vocabulary import Topic

log = logging.getLogger(__name__)

# Inputs accept records somewhat over the contract's limits (1 MiB on campaigns), so that an
# oversized one reaches the worker and is dead-lettered as too_large instead of being refused
# to its producer by the broker.
INPUT_MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024
OUTPUT_MAX_MESSAGE_BYTES: Final = 1024 * 1024
STATE_TOPIC_CONFIG: Final[dict[str, str]] = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "0",
    "min.cleanable.dirty.ratio": "0.1",
    "segment.ms": str(10 * 60 * 1000),
    "segment.bytes": str(32 * 1024 * 1024),
    "max.compaction.lag.ms": str(60 * 60 * 1000),
    "delete.retention.ms": str(60 * 60 * 1000),
    "max.message.bytes": str(OUTPUT_MAX_MESSAGE_BYTES),
}
KPI_TOPIC_CONFIG: Final[dict[str, str]] = {
    "cleanup.policy": "compact",
    "max.compaction.lag.ms": str(7 * 86_400 * 1000),
    "max.message.bytes": str(OUTPUT_MAX_MESSAGE_BYTES),
}
DLQ_TOPIC_CONFIG: Final[dict[str, str]] = {"max.message.bytes": str(OUTPUT_MAX_MESSAGE_BYTES)}
# Campaign definitions are kept for good: the report and the web view read a campaign's brief
# (dates, currency, targets, roster) from this topic long after the campaign, and a record's
# Kafka timestamp is when it was produced, so a time-based retention would take the brief of a
# finished campaign away. Not compacted: the definition in force is chosen by `occurred_at`
# (contract 1.2), which compaction by offset could drop. They are few and small.
CAMPAIGNS_TOPIC_CONFIG: Final[dict[str, str]] = {"retention.ms": "-1", "retention.bytes": "-1"}
# Forget requests: a campaign id and a request id each (streams.control).
CONTROL_TOPIC_CONFIG: Final[dict[str, str]] = {"max.message.bytes": str(64 * 1024)}
_METADATA_ATTEMPTS: Final = 50


class TopicLayoutError(RuntimeError):
    """Existing topics whose partition counts break co-partitioning."""


def wanted_topics(settings: Settings) -> list[NewTopic]:
    """Every topic with its partition count and configuration."""
    count, replicas = settings.partitions, settings.replication_factor
    common = (
        {} if settings.min_insync_replicas is None
        else {"min.insync.replicas": str(settings.min_insync_replicas)}
    )

    def topic(name: str, config: dict[str, str]) -> NewTopic:
        return NewTopic(name, count, replicas, topic_configs={**common, **config})

    topics = [
        topic(
            settings.topic(logical),
            {"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES),
             **(CAMPAIGNS_TOPIC_CONFIG if logical is Topic.CAMPAIGNS else {})},
        )
        for logical in Topic
    ]
    topics.append(topic(settings.state_topic_name, STATE_TOPIC_CONFIG))
    topics.append(topic(settings.kpi_topic_name, KPI_TOPIC_CONFIG))
    topics.append(topic(settings.dlq_topic_name, DLQ_TOPIC_CONFIG))
    topics.append(topic(settings.alerts_topic_name, KPI_TOPIC_CONFIG))
    topics.append(topic(settings.control_topic_name, CONTROL_TOPIC_CONFIG))
    return topics


async def ensure_topics(settings: Settings) -> None:
    """Create missing topics; fail clearly when existing inputs are not co-partitioned."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted_topics(settings) if topic.name not in existing]
        for topic in missing:
            try:
                await admin.create_topics([topic])
                log.info("created topic %s (%d partitions)", topic.name, topic.num_partitions)
            except TopicAlreadyExistsError:
                pass  # another worker created it meanwhile
        inputs = [*settings.consumed_topics(), settings.state_topic_name]
        counts = await _partition_counts(admin, inputs)
        if len(set(counts.values())) != 1:
            raise TopicLayoutError(
                "the input topics, the control topic and the state topic must have the same "
                "partition count (a campaign's records of every topic share a partition); "
                f"found {counts}"
            )
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each topic, waiting for new topics' metadata to spread."""
    counts: dict[str, int] = {}
    for _ in range(_METADATA_ATTEMPTS):
        described = await admin.describe_topics(names)
        counts = {topic["topic"]: len(topic["partitions"]) for topic in described}
        if all(counts.get(name) for name in names):
            break
        await asyncio.sleep(0.2)
    return counts
