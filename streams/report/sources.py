"""Where the report's figures come from: Redis (live), and Kafka for what Redis does not hold.

* Redis (contract 5.1), through :mod:`streams.kpi_view`: the campaign, influencer and post
  ``all`` sets, the campaign's ``1d`` and ``1h`` windows, the campaigns of its objective.
* The campaign definition (the brief: dates, currency, budget, targets, roster) is an input,
  not an output: it is read from the ``campaigns`` topic (the partition of the campaign's key,
  the definition in force chosen by the engine's own rule) or from a file (``--definition``).
  Without either, the objective, the budget and the targets are derived from the KPI set
  (``objective``, ``spend_minor / budget_used``, ``value / target_progress``).
* Dead letters by reason: the dead-letter topic ``kpi-dlq``, the partition of the campaign's
  key, counting the records whose key is the campaign id (a record with a wrong or missing
  key cannot be attributed to a campaign; the worker keys dead letters by the input key).
* History beyond Redis TTLs: the KPI topic (compacted, every windowed set's last value).
* Alerts: the worker's records in ``kpi:{<campaign_id>}:alerts`` (open and resolved), through
  :func:`streams.kpi_view.read_alerts`.

Kafka reads are bounded in time; when Kafka is away the report says what it could not read.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from redis.asyncio import Redis

from streams import codec
from streams.config import Settings
from streams.connections import kafka_options
from streams.domain.engine import Engine, KpiSet
from streams.domain.errors import InvalidRecord
from streams.domain.events import CampaignDefined
from streams.domain.vocabulary import Scope, Topic
from streams.kpi_view import (
    Alert,
    StoredKpis,
    alerts_key,
    campaigns_of,
    read_alerts,
    read_scope_sets,
    read_series,
    read_stored,
    scope_ids,
)
from streams.replay import BadLine, parse_line
from streams.sinks.redis import redis_key

__all__ = [
    "CampaignData",
    "DeadLetters",
    "Definition",
    "ReportSettings",
    "SourceError",
    "alerts_key",
    "gather",
    "read_definition_file",
    "read_definitions_kafka",
    "topic_partitions",
]


_OFFSET: Final = re.compile(r"([+-]\d\d:\d\d|[zZ])$")


class SourceError(Exception):
    """A source the user named cannot be read (a missing file, for instance)."""


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """How the report reads its sources (see the README's settings table)."""

    kafka_timeout_s: float = 20.0  # REPORT_KAFKA_TIMEOUT_S: bound of each Kafka read
    history: str = "auto"  # REPORT_HISTORY: auto | redis | topic
    launch_hours: int = 48  # REPORT_LAUNCH_HOURS: hours of the hourly launch series
    time_zone: str | None = None  # REPORT_TZ: IANA name overriding the definition's offset
    locale: str = "en"  # REPORT_LOCALE: number and money formatting (Babel locale)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReportSettings:
        """Read ``REPORT_*`` variables; absent ones keep their defaults."""
        default = cls()
        history = env.get("REPORT_HISTORY", default.history)
        if history not in ("auto", "redis", "topic"):
            raise ValueError(f"REPORT_HISTORY must be auto, redis or topic, not {history!r}")
        return cls(
            kafka_timeout_s=float(env.get("REPORT_KAFKA_TIMEOUT_S", default.kafka_timeout_s)),
            history=history,
            launch_hours=int(env.get("REPORT_LAUNCH_HOURS", default.launch_hours)),
            time_zone=env.get("REPORT_TZ") or None,
            locale=env.get("REPORT_LOCALE", default.locale),
        )


@dataclass(frozen=True, slots=True)
class Definition:
    """The campaign definition in force, where it was read, and its ``starts_at`` offset."""

    event: CampaignDefined
    source: str
    utc_offset: str | None  # "+02:00", "Z", as ``starts_at`` was written


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """Dead-letter records of one campaign, by reason and by input topic."""

    source: str
    by_reason: dict[str, int]
    by_topic: dict[str, int]

    @property
    def total(self) -> int:
        """All of them."""
        return sum(self.by_reason.values())


@dataclass(slots=True)
class CampaignData:
    """Everything read for one campaign's report, and what could not be read."""

    campaign_id: str
    campaign: StoredKpis | None
    influencers: list[StoredKpis] = field(default_factory=list)
    posts: list[StoredKpis] = field(default_factory=list)
    daily: list[StoredKpis] = field(default_factory=list)
    hourly: list[StoredKpis] = field(default_factory=list)
    definition: Definition | None = None
    dead_letters: DeadLetters | None = None
    peers: list[StoredKpis] = field(default_factory=list)  # same objective, self excluded
    peer_definitions: dict[str, Definition] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)  # open first, then resolved
    unreadable_alerts: int = 0  # fields of the alerts hash not of the documented shape
    history_source: str = "Redis"
    problems: list[str] = field(default_factory=list)  # sources that could not be read
    read_at_s: float = 0.0


# --------------------------------------------------------------------------------------------
# The definition


def _offset_of(value: bytes) -> str | None:
    try:
        obj = codec.loads(value)
    except ValueError:
        return None
    starts = obj.get("starts_at") if isinstance(obj, dict) else None
    match = _OFFSET.search(starts) if isinstance(starts, str) else None
    return None if match is None else match.group(1).upper()


def _definitions_in_force(
    records: Iterable[tuple[bytes | None, bytes | None, int | None]], source: str,
    wanted: set[str] | None,
) -> dict[str, Definition]:
    """Run campaign records through the engine: its rule picks the definition in force."""
    engine = Engine()
    raw_by_event: dict[tuple[str, str], bytes] = {}
    for key, value, timestamp_ms in records:
        if key is None or value is None:
            continue
        if wanted is not None and key.decode("utf-8", "replace") not in wanted:
            continue
        try:
            event = codec.decode(Topic.CAMPAIGNS, key, value, timestamp_ms)
            engine.apply(Topic.CAMPAIGNS, event)
        except InvalidRecord:
            continue  # the worker dead-letters it: it never was a definition
        raw_by_event[event.campaign_id, event.event_id] = value
    found = {}
    for campaign_id, state in engine.campaigns.items():
        in_force = state.definition
        if in_force is None:
            continue
        raw = raw_by_event.get((campaign_id, in_force.event_id), b"")
        found[campaign_id] = Definition(in_force, source, _offset_of(raw))
    return found


def read_definition_file(path: str, campaign_id: str, settings: Settings) -> Definition | None:
    """The definition in force of ``campaign_id`` in a file.

    The file is one JSON ``campaign`` event, or JSON Lines in the replay format (such as
    ``campaign-kpi simulate --to FILE``), whose ``campaigns`` records are taken in file order.
    """
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise SourceError(f"cannot read the definition file {path}: {error}") from None
    records: list[tuple[bytes | None, bytes | None, int | None]] = []
    # The topic as these settings name it, or its contract name (a file simulated without
    # the prefix): either way it is the campaigns topic.
    campaigns_topics = {settings.topic(Topic.CAMPAIGNS), Topic.CAMPAIGNS}
    try:
        whole = codec.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and whole.get("type") == "campaign":
        key = whole.get("campaign_id")
        records.append((key.encode() if isinstance(key, str) else None, text.strip(), None))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = parse_line(number, line, settings, campaigns_topics)
            except BadLine:
                continue
            if record.topic in campaigns_topics:
                records.append((record.key, record.value, record.timestamp_ms))
    found = _definitions_in_force(records, f"file {path}", {campaign_id})
    return found.get(campaign_id)


def _partition_for(key: bytes, partitions: Sequence[int]) -> int:
    # Kafka's default partitioner (murmur2), as the producers and the worker use it.
    from aiokafka.partitioner import DefaultPartitioner  # noqa: PLC0415

    ordered = sorted(partitions)
    return int(DefaultPartitioner()(key, ordered, ordered))


async def topic_partitions(settings: Settings, topic: str, timeout_s: float) -> list[int]:
    """The partition numbers of a topic (LookupError when it does not exist)."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    admin = AIOKafkaAdminClient(
        **kafka_options(settings), request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        # Listing first: describing a missing topic would make a broker that auto-creates
        # topics create it, and a report must not write to Kafka.
        if topic not in await asyncio.wait_for(admin.list_topics(), timeout_s):
            raise LookupError(f"topic {topic} does not exist")
        described = await asyncio.wait_for(admin.describe_topics([topic]), timeout_s)
    finally:
        await admin.close()
    for entry in described:
        if entry["topic"] == topic and entry["error_code"] == 0 and entry["partitions"]:
            return sorted(p["partition"] for p in entry["partitions"])
    raise LookupError(f"topic {topic} does not exist")


async def _read_partitions(
    settings: Settings, topic: str, keys: Sequence[bytes] | None, timeout_s: float
) -> list[Any]:
    """Every record of ``topic`` up to its end now, in the partitions of ``keys`` (None: all).

    Read uncommitted records are skipped (``read_committed``): the worker writes its outputs
    in transactions.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    deadline = time.monotonic() + timeout_s
    partitions = await topic_partitions(settings, topic, timeout_s)
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
        # A seek_to_beginning still pending when the first fetch starts can lose to the
        # default reset ("latest") in aiokafka 0.14: no group, so earliest is the only reset.
        auto_offset_reset="earliest",
        request_timeout_ms=int(timeout_s * 1000),
    )
    await asyncio.wait_for(consumer.start(), max(deadline - time.monotonic(), 0.1))
    try:
        chosen = (
            sorted(partitions) if keys is None
            else sorted({_partition_for(key, list(partitions)) for key in keys})
        )
        assigned = [TopicPartition(topic, p) for p in chosen]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        for tp in assigned:
            await consumer.position(tp)  # resolve the seek before fetching
        records: list[Any] = []
        pending = {tp for tp in assigned if ends[tp] > 0}
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"reading {topic} took more than {timeout_s:g} s")
            batch = await consumer.getmany(*pending, timeout_ms=int(min(left, 1.0) * 1000))
            for messages in batch.values():
                records.extend(messages)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


async def read_definitions_kafka(
    settings: Settings, campaign_ids: Sequence[str], timeout_s: float
) -> dict[str, Definition]:
    """The definitions in force of these campaigns on the ``campaigns`` topic."""
    topic = settings.topic(Topic.CAMPAIGNS)
    keys = [cid.encode() for cid in campaign_ids]
    messages = await _read_partitions(settings, topic, keys, timeout_s)
    return _definitions_in_force(
        ((m.key, m.value, m.timestamp) for m in messages), f"Kafka topic {topic}",
        set(campaign_ids),
    )


async def read_dead_letters(settings: Settings, campaign_id: str, timeout_s: float) -> DeadLetters:
    """Dead-letter records keyed by the campaign id, by reason and by topic."""
    topic = settings.dlq_topic_name
    key = campaign_id.encode()
    messages = await _read_partitions(settings, topic, [key], timeout_s)
    by_reason: Counter[str] = Counter()
    by_topic: Counter[str] = Counter()
    for message in messages:
        if message.key != key or message.value is None:
            continue
        try:
            record = codec.loads(message.value)
        except ValueError:
            continue
        if isinstance(record, dict):
            by_reason[str(record.get("reason"))] += 1
            by_topic[str(record.get("topic"))] += 1
    return DeadLetters(
        f"Kafka topic {topic} (records keyed {campaign_id})",
        dict(sorted(by_reason.items())),
        dict(sorted(by_topic.items())),
    )


async def read_topic_history(
    settings: Settings, campaign_id: str, windows: Sequence[str], timeout_s: float
) -> dict[str, list[StoredKpis]]:
    """The campaign-scope windowed sets of the KPI topic (the last value of each key)."""
    topic = settings.kpi_topic_name
    prefixes = {
        window: f"{campaign_id}|{Scope.CAMPAIGN}|{campaign_id}|{window}|" for window in windows
    }
    messages = await _read_partitions(settings, topic, None, timeout_s)
    last: dict[str, StoredKpis] = {}
    for message in messages:
        if message.key is None or message.value is None:
            continue
        key = message.key.decode("utf-8", "replace")
        if not any(key.startswith(prefix) for prefix in prefixes.values()):
            continue
        value = codec.loads(message.value)
        kpi_set = KpiSet(
            campaign_id, Scope.CAMPAIGN, campaign_id, value["window"], value["window_start"],
            value["window_end"], dict(value["kpis"]),
        )
        last[key] = StoredKpis(redis_key(kpi_set), kpi_set, value.get("updated_at"))
    result: dict[str, list[StoredKpis]] = {}
    for window, prefix in prefixes.items():
        sets = [stored for key, stored in last.items() if key.startswith(prefix)]
        result[window] = sorted(sets, key=lambda s: s.window_start or 0)
    return result


# --------------------------------------------------------------------------------------------
# Gathering


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if str(error) else text


def _merge(redis_sets: list[StoredKpis], topic_sets: list[StoredKpis]) -> list[StoredKpis]:
    """Windows from both; Redis wins where both have one (it is written after the topic)."""
    by_start = {s.window_start: s for s in topic_sets}
    by_start.update({s.window_start: s for s in redis_sets})
    return [by_start[start] for start in sorted(by_start, key=lambda s: s or 0)]


async def gather(
    client: Redis,
    settings: Settings,
    report: ReportSettings,
    campaign_id: str,
    *,
    definition_file: str | None = None,
    peers_named: Sequence[str] | None = None,
    now_s: float | None = None,
) -> CampaignData:
    """Read everything the report of one campaign shows (see the module docstring)."""
    now = time.time() if now_s is None else now_s
    data = CampaignData(campaign_id, await read_stored(client, campaign_id), read_at_s=now)
    influencers = await scope_ids(client, campaign_id, Scope.INFLUENCER)
    data.influencers = await read_scope_sets(client, campaign_id, Scope.INFLUENCER, influencers)
    data.posts = await read_scope_sets(
        client, campaign_id, Scope.POST, await scope_ids(client, campaign_id, Scope.POST)
    )
    data.daily = await read_series(client, campaign_id, window="1d")
    data.hourly = await read_series(client, campaign_id, window="1h")
    objective = data.campaign.kpis.get("objective") if data.campaign is not None else None
    if isinstance(objective, str) or peers_named is not None:
        names = list(peers_named) if peers_named is not None else [
            cid for cid in await campaigns_of(client, str(objective)) if cid != campaign_id
        ]
        for cid in names:
            stored = await read_stored(client, cid)
            if stored is not None:
                data.peers.append(stored)
    peer_ids = [stored.kpi_set.campaign_id for stored in data.peers]
    if definition_file is not None:
        data.definition = read_definition_file(definition_file, campaign_id, settings)
        if data.definition is None:
            data.problems.append(f"no definition of {campaign_id} in {definition_file}")
    try:
        found = await read_definitions_kafka(
            settings,
            peer_ids if definition_file is not None else [campaign_id, *peer_ids],
            report.kafka_timeout_s,
        ) if peer_ids or definition_file is None else {}
        if definition_file is None:
            data.definition = found.pop(campaign_id, None)
        data.peer_definitions = found
    except Exception as error:  # aiokafka's errors are not OSError
        data.problems.append(
            f"campaign definitions: cannot read Kafka topic {settings.topic(Topic.CAMPAIGNS)} "
            f"at {settings.kafka_bootstrap} ({_describe(error)})"
        )
    try:
        data.dead_letters = await read_dead_letters(settings, campaign_id, report.kafka_timeout_s)
    except Exception as error:
        data.problems.append(
            f"dead letters: cannot read Kafka topic {settings.dlq_topic_name} "
            f"({_describe(error)})"
        )
    await _history(data, settings, report, now)
    data.alerts, data.unreadable_alerts = await read_alerts(client, campaign_id)
    return data


async def _history(
    data: CampaignData, settings: Settings, report: ReportSettings, now_s: float
) -> None:
    """Complete the windowed series from the KPI topic where Redis TTLs lost them.

    ``auto`` reads the topic when part of the campaign's schedule lies further back than a
    window's TTL (the definition tells the schedule), ``topic`` always, ``redis`` never.
    """
    windows: list[str] = []
    if report.history == "topic":
        windows = ["1d", "1h"]
    elif report.history == "auto" and data.definition is not None:
        starts_s = data.definition.event.starts_at_us / 1_000_000
        windows = [w for w in ("1d", "1h") if now_s - starts_s > settings.ttl_s[w]]
    if not windows:
        return
    try:
        found = await read_topic_history(
            settings, data.campaign_id, windows, report.kafka_timeout_s
        )
    except Exception as error:
        data.problems.append(
            f"history beyond Redis TTLs ({', '.join(windows)} windows): cannot read the KPI "
            f"topic {settings.kpi_topic_name} ({_describe(error)})"
        )
        return
    data.history_source = f"Redis and the KPI topic {settings.kpi_topic_name}"
    if "1d" in found:
        data.daily = _merge(data.daily, found["1d"])
    if "1h" in found:
        data.hourly = _merge(data.hourly, found["1h"])


async def gather_portfolio(
    client: Redis, settings: Settings, report: ReportSettings, objective: str
) -> tuple[list[StoredKpis], dict[str, Definition], list[str]]:
    """The ``all`` sets of the campaigns of one objective, their definitions, and problems."""
    sets = []
    for cid in await campaigns_of(client, objective):
        stored = await read_stored(client, cid)
        # A campaign moved to another objective between the two reads is left out.
        if stored is not None and stored.kpis.get("objective") == objective:
            sets.append(stored)
    problems: list[str] = []
    definitions: dict[str, Definition] = {}
    if sets:
        try:
            definitions = await read_definitions_kafka(
                settings, [s.kpi_set.campaign_id for s in sets], report.kafka_timeout_s
            )
        except Exception as error:
            problems.append(
                f"campaign definitions: cannot read Kafka topic {settings.topic(Topic.CAMPAIGNS)} "
                f"({_describe(error)})"
            )
    return sets, definitions, problems

