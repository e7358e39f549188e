"""The Quix Streams peer: the core job of the worker, written as Quix Streams suggests.

What a Python user would pick instead of our worker (Quix Streams 3.28.1, pinned in
pyproject.toml). Per campaign (the record key) and per 1-minute and 1-hour tumbling window
of event time: ``impressions``, ``engagements``, ``clicks_valid``, ``orders`` and
``revenue_minor``, as contract sections 1.3, 1.5, 1.6 and 2 define them, with event-id
dedup. The pipeline, in Quix's own terms:

* one ``StreamingDataFrame`` per input topic it needs (``interactions``, ``clicks``,
  ``orders``: the five KPIs come from those three), JSON values, event time from
  ``occurred_at`` (a ``timestamp_extractor``), not the record timestamp;
* per topic a stateful ``filter`` drops records without an ``event_id`` (the worker
  dead-letters them) and duplicates: the ids live in the topic's RocksDB state (so per
  campaign and topic, as the contract's dedup) with an event-time TTL of the worker's
  horizon (``KPI_DEDUP_HORIZON_S``, 600 s) on interactions and clicks and none on orders,
  whose ``order_id`` is deduplicated too (contract 3: unbounded horizon). Quix expires an id
  600 s of event time after its record, measured on the partition's event-time high-water
  mark, where the contract measures from the campaign's greatest ``occurred_at``: a re-send
  about 600 s after its original may be judged differently (the bench's comparison of the
  windows shows it when it happens);
* clicks are classed in a stateful ``apply``: bot by user agent (1.5's markers), repeat when
  a valid click of the same visitor and link happened in the 30 minutes before (the last
  valid click per visitor and link is kept, with a 30-minute event-time TTL);
* each record becomes its contribution to the five KPIs; the three dataframes are merged
  with ``concat`` (co-partitioned by campaign id, so one window state per campaign) and
  branch into two tumbling windows (``tumbling_window(60 s)`` and ``(3600 s)``, grace 6 h
  like the worker's ``KPI_GRACE_S``) aggregated with ``agg(... = Sum(...))``;
* ``.current()`` emits every update of a window (the live value, as the worker keeps live
  values in Redis; ``QUIX_EMIT=final`` emits closed windows only) to an output topic with
  ``to_topic``.

``processing_guarantee="exactly-once"`` (``QUIX_GUARANTEE``): input offsets, state changelogs
and outputs in one Kafka transaction per checkpoint; ``commit_interval=1.0`` s, the worker's
``KPI_FLUSH_INTERVAL_S``. What it does not do, beside the worker: definitions (targets,
attribution, the out-of-window check of orders), posts, reviews, reach, influencer and post
scopes, lateness counters, dead letters, Redis, Prometheus.

Run by :mod:`benchmarks.bench` as a subprocess, configured by the environment:
``QUIX_BOOTSTRAP``, ``QUIX_TOPIC_PREFIX`` (input topics ``<prefix><logical name>``, output
``<prefix>quix-kpis``), ``QUIX_APP_ID`` (consumer group), ``QUIX_STATE_DIR``,
``QUIX_GUARANTEE``, ``QUIX_EMIT`` and ``QUIX_REPORT``: a file that gets one JSON line per
second with the wall time, the input records processed so far, the process's CPU seconds
and its peak RSS.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast

import orjson
from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.dataframe.windows import Sum
from quixstreams.models.timestamps import TimestampType

from benchmarks.kafka_io import peak_rss

INPUT_TOPICS: Final = ("interactions", "clicks", "orders")
KPIS: Final = ("impressions", "engagements", "clicks_valid", "orders", "revenue_minor")
ENGAGEMENT_ACTIONS: Final = frozenset({"like", "comment", "share", "save", "reply"})
# Contract 1.5: a click whose user agent holds one of these, ignoring case, is a bot.
BOT_MARKERS: Final = (
    "bot", "crawler", "spider", "facebookexternalhit", "slackbot", "whatsapp", "telegrambot",
    "discord", "headlesschrome", "curl/", "python-requests", "wget/",
)
DEDUP_HORIZON: Final = timedelta(seconds=600)  # KPI_DEDUP_HORIZON_S
REPEAT_WINDOW: Final = timedelta(minutes=30)  # contract 1.5
REPEAT_MS: Final = int(REPEAT_WINDOW.total_seconds() * 1000)
GRACE: Final = timedelta(hours=6)  # KPI_GRACE_S
WINDOWS: Final = (("1m", timedelta(minutes=1)), ("1h", timedelta(hours=1)))


def event_ms(value: Any) -> int | None:
    """``occurred_at`` (RFC 3339) in epoch ms, None when absent or unreadable."""
    text = value.get("occurred_at") if isinstance(value, dict) else None
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def occurred_at_ms(value: Any, _headers: Any, timestamp: int, _kind: TimestampType) -> int:
    """The topics' timestamp extractor: event time, else the record's timestamp."""
    found = event_ms(value)
    return timestamp if found is None else found


def first_time(ttl: timedelta | None, *id_fields: str) -> Callable[[Any, State[str, Any]], bool]:
    """A stateful filter: the record has every id and none was seen before (within ``ttl``)."""

    def keep(value: Any, state: State[str, Any]) -> bool:
        if not isinstance(value, dict):
            return False
        ids = [value.get(name) for name in id_fields]
        if not all(isinstance(i, str) for i in ids):
            return False  # the worker dead-letters it (schema_violation)
        keys = [f"{name}|{i}" for name, i in zip(id_fields, ids, strict=True)]
        if any(state.exists(key) for key in keys):
            return False
        for key in keys:
            state.set(key, 1, ttl=ttl)
        return True

    return keep


def interaction_facts(value: dict[str, Any]) -> dict[str, int]:
    count = value.get("count") or 1
    action = value.get("action")
    return {
        "impressions": count if action == "impression" else 0,
        "engagements": count if action in ENGAGEMENT_ACTIONS else 0,
        "clicks_valid": 0, "orders": 0, "revenue_minor": 0,
    }


def click_facts(value: dict[str, Any], state: State[str, Any]) -> dict[str, int]:
    """1 valid click, or 0 for a bot or a repeat (contract 1.5)."""
    agent = str(value.get("user_agent") or "").lower()
    valid = not any(marker in agent for marker in BOT_MARKERS)
    visitor = value.get("visitor_id")
    if valid and isinstance(visitor, str):
        key = f"valid|{visitor}|{value.get('link_id')}"
        now = event_ms(value) or 0
        last = state.get(key)
        if isinstance(last, int) and now - REPEAT_MS < last <= now:
            valid = False  # a repeat
        else:
            state.set(key, now, ttl=REPEAT_WINDOW)
    return {
        "impressions": 0, "engagements": 0, "clicks_valid": int(valid),
        "orders": 0, "revenue_minor": 0,
    }


def order_facts(value: dict[str, Any]) -> dict[str, int]:
    amount = value.get("amount_minor")
    return {
        "impressions": 0, "engagements": 0, "clicks_valid": 0,
        "orders": 1, "revenue_minor": amount if isinstance(amount, int) else 0,
    }


def create_app(env: dict[str, str], processed: list[int]) -> Application:
    """The application and its dataframes; ``processed[0]`` counts input records."""
    prefix = env["QUIX_TOPIC_PREFIX"]
    guarantee = cast(
        Literal["at-least-once", "exactly-once"], env.get("QUIX_GUARANTEE", "exactly-once")
    )

    def on_processed(_topic: str, _partition: int, _offset: int) -> None:
        processed[0] += 1

    app = Application(
        broker_address=env["QUIX_BOOTSTRAP"],
        consumer_group=env["QUIX_APP_ID"],
        auto_offset_reset="earliest",
        processing_guarantee=guarantee,
        commit_interval=1.0,
        state_dir=env["QUIX_STATE_DIR"],
        on_message_processed=on_processed,
        loglevel="WARNING",
    )

    def frame(logical: str) -> StreamingDataFrame:
        topic = app.topic(
            f"{prefix}{logical}", value_deserializer="json", timestamp_extractor=occurred_at_ms
        )
        return app.dataframe(topic)

    interactions = frame("interactions").filter(
        first_time(DEDUP_HORIZON, "event_id"), stateful=True
    ).apply(interaction_facts)
    clicks = frame("clicks").filter(
        first_time(DEDUP_HORIZON, "event_id"), stateful=True
    ).apply(click_facts, stateful=True)
    orders = frame("orders").filter(
        first_time(None, "event_id", "order_id"), stateful=True
    ).apply(order_facts)
    facts = interactions.concat(clicks).concat(orders)

    output = app.topic(f"{prefix}quix-kpis", value_serializer="json")
    for name, length in WINDOWS:
        window = facts.tumbling_window(length, grace_ms=GRACE, name=f"kpis-{name}").agg(
            **{kpi: Sum(kpi) for kpi in KPIS}
        )
        emitted = window.final() if env.get("QUIX_EMIT") == "final" else window.current()
        emitted.apply(lambda row, window_name=name: {"window": window_name, **row}).to_topic(
            output
        )
    return app


def report_every_second(path: str, processed: list[int]) -> None:
    """Append a progress line each second (a daemon thread: Quix's loop is synchronous)."""
    while True:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        line = {
            "at": time.time(),
            "events": processed[0],
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_bytes": peak_rss(),
        }
        with open(path, "ab") as out:
            out.write(orjson.dumps(line) + b"\n")
        time.sleep(1.0)


def main() -> None:
    env = dict(os.environ)
    processed = [0]
    app = create_app(env, processed)
    threading.Thread(
        target=report_every_second, args=(env["QUIX_REPORT"], processed), daemon=True
    ).start()
    app.run()  # until SIGTERM


if __name__ == "__main__":
    main()
