"""Create the topics the worker reads and writes, co-partitioned, when they are missing."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.config import Settings
from streams.domain.events import LOGICAL_TOPICS

log = logging.getLogger(__name__)

# Journal chunks and reach sketches can exceed Kafka's 1 MB default record size.
STATE_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Inputs accept records somewhat over the contract's limits (1 MiB on campaigns), so that an
# oversized one reaches the worker and is dead-lettered as too_large instead of being refused
# to its producer by the broker.
INPUT_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
_COMPACTED = {"cleanup.policy": "compact"}
_METADATA_ATTEMPTS = 50


class TopicLayoutError(RuntimeError):
    """Existing topics whose partition counts break co-partitioning."""


def wanted_topics(settings: Settings) -> list[NewTopic]:
    """Every topic with its partition count and configuration."""
    count, replicas = settings.partitions, settings.replication_factor
    topics = [
        NewTopic(
            settings.topic(logical),
            count,
            replicas,
            topic_configs={"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES)},
        )
        for logical in LOGICAL_TOPICS
    ]
    topics.append(
        NewTopic(
            settings.state_topic_name,
            count,
            replicas,
            topic_configs={**_COMPACTED, "max.message.bytes": str(STATE_MAX_MESSAGE_BYTES)},
        )
    )
    topics.append(NewTopic(settings.kpi_topic_name, count, replicas, topic_configs=_COMPACTED))
    topics.append(NewTopic(settings.dlq_topic_name, count, replicas))
    return topics


async def ensure_topics(settings: Settings) -> None:
    """Create missing topics; fail clearly when existing inputs are not co-partitioned."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
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
        inputs = [settings.topic(logical) for logical in LOGICAL_TOPICS]
        inputs.append(settings.state_topic_name)
        counts = await _partition_counts(admin, inputs)
        if len(set(counts.values())) != 1:
            raise TopicLayoutError(
                "the input topics and the state topic must have the same partition count "
                f"(a campaign's records of every topic share a partition); found {counts}"
            )
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each topic, waiting for new topics' metadata to spread."""
    for _ in range(_METADATA_ATTEMPTS):
        described = await admin.describe_topics(names)
        counts = {topic["topic"]: len(topic["partitions"]) for topic in described}
        if all(counts.get(name) for name in names):
            break
        await asyncio.sleep(0.2)
    return counts
