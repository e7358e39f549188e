"""One frozen Settings object, built once from the environment and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from streams.domain.events import LOGICAL_TOPICS
from streams.domain.rules import Rules

_S_TO_US: Final = 1_000_000


def _topic_env_suffix(topic: str) -> str:
    return topic.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker, the replay and the CLI can be told.

    Each field names the environment variable that sets it (see the README's table).
    """

    kafka_bootstrap: str = "127.0.0.1:19092"  # KAFKA_BOOTSTRAP
    redis_url: str = "redis://127.0.0.1:16379/0"  # REDIS_URL (database number included)
    app_id: str = "campaign-kpi"  # KPI_APP_ID: the consumer group and the state topics' stem
    topic_prefix: str = ""  # KPI_TOPIC_PREFIX: prefixes every topic, inputs and outputs
    # KPI_TOPIC_<NAME> (e.g. KPI_TOPIC_CONTENT_REVIEWS): input topic names before the prefix.
    input_topics: Mapping[str, str] = field(
        default_factory=lambda: {topic: topic for topic in LOGICAL_TOPICS}
    )
    kpi_topic: str = "campaign-kpis"  # KPI_TOPIC_KPIS
    dlq_topic: str = "kpi-dlq"  # KPI_TOPIC_DLQ
    partitions: int = 4  # KPI_PARTITIONS: partition count of topics the worker creates
    replication_factor: int = 1  # KPI_REPLICATION_FACTOR
    # KPI_FLUSH_INTERVAL_S: the longest a processed record waits for its flush (the worker
    # flushes sooner, as soon as it has caught up with its input).
    flush_interval_s: float = 1.0
    batch_max: int = 20_000  # KPI_BATCH_MAX: most records applied between two flushes
    # KPI_SESSION_TIMEOUT_S: how long the group waits for a silent (crashed) worker before
    # its partitions move; heartbeats go every third of it.
    session_timeout_s: float = 30.0
    dedup_horizon_s: int = 600  # KPI_DEDUP_HORIZON_S (interactions and clicks)
    # KPI_GRACE_S for every topic, KPI_GRACE_S_<TOPIC> for one (e.g. KPI_GRACE_S_ORDERS).
    grace_s: Mapping[str, int] = field(
        default_factory=lambda: dict.fromkeys(LOGICAL_TOPICS, 6 * 3600)
    )
    # KPI_TTL_1M_S, KPI_TTL_1H_S, KPI_TTL_1D_S: expiry of windowed Redis keys.
    ttl_s: Mapping[str, int] = field(
        default_factory=lambda: {"1m": 2 * 86_400, "1h": 14 * 86_400, "1d": 180 * 86_400}
    )
    metrics_campaigns: int = 200  # KPI_METRICS_CAMPAIGNS: campaigns with KPI series
    web_port: int = 16066  # KPI_WEB_PORT: Faust web server, serving /metrics
    web_bind: str = "127.0.0.1"  # KPI_WEB_BIND: its address (0.0.0.0 in a container)
    data_dir: str = ".local/worker"  # KPI_DATA_DIR: the worker's local state

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment; absent variables keep their defaults."""
        env = os.environ if env is None else env
        default = cls()
        grace_all = int(env.get("KPI_GRACE_S", default.grace_s[LOGICAL_TOPICS[0]]))
        return cls(
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP", default.kafka_bootstrap),
            redis_url=env.get("REDIS_URL", default.redis_url),
            app_id=env.get("KPI_APP_ID", default.app_id),
            topic_prefix=env.get("KPI_TOPIC_PREFIX", default.topic_prefix),
            input_topics={
                topic: env.get(f"KPI_TOPIC_{_topic_env_suffix(topic)}", topic)
                for topic in LOGICAL_TOPICS
            },
            kpi_topic=env.get("KPI_TOPIC_KPIS", default.kpi_topic),
            dlq_topic=env.get("KPI_TOPIC_DLQ", default.dlq_topic),
            partitions=int(env.get("KPI_PARTITIONS", default.partitions)),
            replication_factor=int(
                env.get("KPI_REPLICATION_FACTOR", default.replication_factor)
            ),
            flush_interval_s=float(env.get("KPI_FLUSH_INTERVAL_S", default.flush_interval_s)),
            batch_max=int(env.get("KPI_BATCH_MAX", default.batch_max)),
            session_timeout_s=float(
                env.get("KPI_SESSION_TIMEOUT_S", default.session_timeout_s)
            ),
            dedup_horizon_s=int(env.get("KPI_DEDUP_HORIZON_S", default.dedup_horizon_s)),
            grace_s={
                topic: int(env.get(f"KPI_GRACE_S_{_topic_env_suffix(topic)}", grace_all))
                for topic in LOGICAL_TOPICS
            },
            ttl_s={
                window: int(env.get(f"KPI_TTL_{window.upper()}_S", ttl))
                for window, ttl in default.ttl_s.items()
            },
            metrics_campaigns=int(env.get("KPI_METRICS_CAMPAIGNS", default.metrics_campaigns)),
            web_port=int(env.get("KPI_WEB_PORT", default.web_port)),
            web_bind=env.get("KPI_WEB_BIND", default.web_bind),
            data_dir=env.get("KPI_DATA_DIR", default.data_dir),
        )

    def topic(self, logical: str) -> str:
        """The full name of an input topic."""
        return self.topic_prefix + self.input_topics[logical]

    @property
    def kpi_topic_name(self) -> str:
        """The full name of the KPI topic."""
        return self.topic_prefix + self.kpi_topic

    @property
    def dlq_topic_name(self) -> str:
        """The full name of the dead-letter topic."""
        return self.topic_prefix + self.dlq_topic

    @property
    def state_topic_name(self) -> str:
        """The compacted topic journaling the worker's state (one partition per input one)."""
        return f"{self.topic_prefix}{self.app_id}-state"

    def logical_topics(self) -> dict[str, str]:
        """Full input topic name -> logical topic."""
        return {self.topic(logical): logical for logical in LOGICAL_TOPICS}

    def rules(self) -> Rules:
        """The domain's rules under these settings."""
        return Rules(
            dedup_horizon_us=self.dedup_horizon_s * _S_TO_US,
            grace_us={topic: grace * _S_TO_US for topic, grace in self.grace_s.items()},
        )
