"""How every client connects to Kafka and Redis: the one place connection options are built."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from streams.config import Settings


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (consumer, producers, admin)."""
    return {"bootstrap_servers": settings.kafka_bootstrap}


def redis_client(settings: Settings, *, decode_responses: bool = False) -> Redis:
    """A Redis client for the settings (a Cluster client when KPI_REDIS_CLUSTER is set)."""
    from streams.sinks.redis import client_from_url  # noqa: PLC0415 (the sink imports this)

    return client_from_url(
        settings.redis_url, decode_responses=decode_responses, cluster=settings.redis_cluster
    )
