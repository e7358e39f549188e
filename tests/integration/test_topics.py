"""The topics the worker creates carry the configuration streams/topics.py chooses."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.config import Settings
from streams.domain.vocabulary import Topic
from streams.topics import (
    CAMPAIGNS_TOPIC_CONFIG,
    DLQ_TOPIC_CONFIG,
    INPUT_MAX_MESSAGE_BYTES,
    KPI_TOPIC_CONFIG,
    STATE_TOPIC_CONFIG,
    ensure_topics,
)

from .support import KafkaAdmin


async def _configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await client.start()
    try:
        responses: Any = await client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await client.close()
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:  # (error, message, type, name, entries)
            if resource[0] == 0:
                found[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
    return found


async def test_created_topics_carry_their_configuration(
    kafka_bootstrap: str, admin: KafkaAdmin, unique_name: str
) -> None:
    settings = replace(Settings(), kafka_bootstrap=kafka_bootstrap,
                       topic_prefix=f"{unique_name}-", app_id=unique_name)
    await ensure_topics(settings)
    names = {
        "campaigns": settings.topic(Topic.CAMPAIGNS),
        "clicks": settings.topic(Topic.CLICKS),
        "state": settings.state_topic_name,
        "kpis": settings.kpi_topic_name,
        "dlq": settings.dlq_topic_name,
        "alerts": settings.alerts_topic_name,
    }
    admin.created.extend(sorted({*names.values(), *(settings.topic(t) for t in Topic)}))
    for _ in range(50):  # a topic created a moment ago may not be described yet
        configs = await _configs(kafka_bootstrap, list(names.values()))
        if all(configs.get(name) for name in names.values()):
            break
        await asyncio.sleep(0.2)
    wanted = {
        # Definitions are kept for good (the report reads a finished campaign's brief).
        "campaigns": {**CAMPAIGNS_TOPIC_CONFIG,
                      "max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES)},
        "clicks": {"max.message.bytes": str(INPUT_MAX_MESSAGE_BYTES), "cleanup.policy": "delete"},
        "state": STATE_TOPIC_CONFIG,
        "kpis": KPI_TOPIC_CONFIG,
        "dlq": DLQ_TOPIC_CONFIG,
        "alerts": KPI_TOPIC_CONFIG,
    }
    for kind, config in wanted.items():
        got = configs[names[kind]]
        assert {k: got.get(k) for k in config} == config, kind
    assert configs[names["clicks"]]["retention.ms"] != "-1"  # the broker's retention
