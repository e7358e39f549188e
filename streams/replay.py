"""Batch replay (contract 5.4): a JSON Lines file through the same codec and engine.

Control records (streams.control) are applied where the file lists them, as the worker
applies them where its partition's records are: a forget request erases its campaign there.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from streams import codec
from streams.config import Settings
from streams.control import FORGET, BadRequest, parse_request
from streams.domain.alerts import OPEN
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.vocabulary import TYPE_TOPICS, Outcome
from streams.processing import apply_record, dead_letter

_PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """One input line, as the Kafka record it stands for."""

    line_number: int
    topic: str  # the topic name as written (or derived from a bare event's type)
    key: bytes | None
    value: bytes
    timestamp_ms: int | None


class BadLine(ValueError):
    """A line that is not a replay record at all (not a dead-letter case: no record exists)."""


@dataclass(slots=True)
class ReplaySummary:
    """What happened to the lines of a replay."""

    lines: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0
    forgotten: int = 0  # forget requests applied

    def describe(self) -> str:
        """One human-readable paragraph."""
        rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(self.rejected.items()))
        return (
            f"replay: {self.lines} lines read; counted {self.outcomes[Outcome.COUNTED]}, "
            f"late {self.outcomes[Outcome.LATE]}, duplicates {self.outcomes[Outcome.DUPLICATE]}, "
            f"rejected {sum(self.rejected.values())}"
            + (f" ({rejected})" if rejected else "")
            + f", bad lines {self.bad_lines}"
            + (f", forget requests {self.forgotten}" if self.forgotten else "")
        )


def parse_line(
    line_number: int, line: bytes, settings: Settings, known_topics: Container[str] | None = None
) -> ReplayRecord:
    """Read one line: an envelope ``{"topic", "key", "value", "timestamp"?}`` or a bare event.

    A bare event may be a forget request (its topic is the control topic). ``known_topics``
    (the settings' consumed topic names) saves recomputing them per line.
    """
    try:
        obj = codec.loads(line)
    except ValueError as error:
        raise BadLine(f"not JSON ({error})") from None
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    if isinstance(obj.get("topic"), str):
        topic: str = obj["topic"]
        if topic not in (known_topics or settings.consumed_topics()):
            raise BadLine(f"unknown topic {topic!r}")
        key, value, timestamp = obj.get("key"), obj.get("value"), obj.get("timestamp")
        if key is not None and not isinstance(key, str):
            raise BadLine("'key' must be a string or null")
        if not isinstance(value, str):
            raise BadLine("'value' must be a string")
        if timestamp is not None and type(timestamp) is not int:
            raise BadLine("'timestamp' must be an integer (epoch ms)")
        record = ReplayRecord(
            line_number,
            topic,
            None if key is None else key.encode(),
            value.encode("utf-8", "surrogatepass"),
            timestamp,
        )
        if topic == settings.control_topic_name:
            _check_request(record)
        return record
    event_type = obj.get("type")
    if event_type == FORGET:
        campaign_id = obj.get("campaign_id")
        record = ReplayRecord(
            line_number,
            settings.control_topic_name,
            campaign_id.encode() if isinstance(campaign_id, str) else None,
            line.strip(),
            None,
        )
        _check_request(record)
        return record
    if isinstance(event_type, str) and event_type in TYPE_TOPICS:
        campaign_id = obj.get("campaign_id")
        return ReplayRecord(
            line_number,
            settings.topic(TYPE_TOPICS[event_type]),
            campaign_id.encode() if isinstance(campaign_id, str) else None,
            line.strip(),
            None,
        )
    raise BadLine("neither a record envelope (a string 'topic') nor an event of a known 'type'")


def _check_request(record: ReplayRecord) -> None:
    # The worker logs and skips a control record that is no request: no dead letter either.
    try:
        parse_request(record.key, record.value)
    except BadRequest as error:
        raise BadLine(f"control record: {error}") from None


class Replay:
    """Runs records through the codec and one engine, as a single worker would."""

    def __init__(self, settings: Settings) -> None:
        """Start with an empty engine."""
        self.settings = settings
        self.engine = Engine(settings.rules())
        self.summary = ReplaySummary()
        self.dead_letters: list[bytes] = []
        self._logical = settings.logical_topics()
        self._control_topic = settings.control_topic_name
        self._clock_ms = 0

    def apply(self, record: ReplayRecord) -> None:
        """Decode and apply one record; a rejected one becomes a dead-letter record."""
        if record.topic == self._control_topic:
            self.engine.forget(parse_request(record.key, record.value).campaign_id)
            self.summary.forgotten += 1
            return
        logical = self._logical[record.topic]
        if record.timestamp_ms is not None:
            self._clock_ms = max(self._clock_ms, record.timestamp_ms)
        outcome, result = apply_record(
            self.engine, logical, record.key, record.value, record.timestamp_ms
        )
        if isinstance(result, InvalidRecord):
            self.summary.rejected[result.reason] += 1
            _, value = dead_letter(
                result, record.topic, None, record.line_number, record.timestamp_ms,
                record.key, record.value,
            )
            self.dead_letters.append(value)
            return
        self.summary.outcomes[outcome] += 1
        self._clock_ms = max(self._clock_ms, result.occurred_at_us // 1000)

    def results(self) -> list[dict[str, Any]]:
        """The KPI values, the last for each key, sorted by key.

        ``updated_at`` is the replay's clock: the greatest record timestamp or event time
        seen, so that replaying the same file twice writes the same bytes.
        """
        sets = sorted(self.engine.all_sets(), key=lambda kpi_set: kpi_set.key)
        return [kpi_set.to_value(self._clock_ms) for kpi_set in sets]


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers."""
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


def run(
    lines: Iterable[tuple[int, bytes]],
    settings: Settings,
    total_bytes: int | None = None,
    progress: IO[str] | None = None,
) -> Replay:
    """Replay numbered lines; report bad lines and progress on ``progress``."""
    replay = Replay(settings)
    known_topics = set(settings.consumed_topics())
    done_bytes = 0
    started = last_report = time.monotonic()
    for number, line in lines:
        replay.summary.lines += 1
        done_bytes += len(line)
        try:
            record = parse_line(number, line, settings, known_topics)
        except BadLine as error:
            replay.summary.bad_lines += 1
            if progress is not None:
                print(f"replay: line {number} skipped: {error}", file=progress)
            continue
        replay.apply(record)
        if progress is not None and replay.summary.lines % 4096 == 0:
            now = time.monotonic()
            if now - last_report >= _PROGRESS_EVERY_S:
                last_report = now
                _report_progress(progress, replay.summary.lines, done_bytes, total_bytes,
                                 now - started)
    return replay


def _report_progress(
    progress: IO[str], lines: int, done_bytes: int, total_bytes: int | None, elapsed_s: float
) -> None:
    share = f" {100 * done_bytes / total_bytes:5.1f}%" if total_bytes else ""
    rate = lines / elapsed_s if elapsed_s > 0 else 0.0
    end = "\r" if progress.isatty() else "\n"
    print(f"replay:{share} {lines:,} lines, {rate:,.0f} lines/s", end=end, file=progress)


def write_outputs(replay: Replay, out: IO[bytes], dlq: IO[bytes] | None) -> None:
    """Write the KPI array (and the dead-letter records, one JSON line each)."""
    out.write(codec.dumps(replay.results()))
    out.write(b"\n")
    if dlq is not None:
        for record in replay.dead_letters:
            dlq.write(record)
            dlq.write(b"\n")


def alert_values(replay: Replay, settings: Settings) -> list[dict[str, object]]:
    """The alerts the event-time rules raise on the replay's final state (open ones)."""
    engine = replay.engine
    engine.evaluate_alerts(settings.alert_rules(), list(engine.campaigns))
    return [
        record.to_value()
        for state in engine.campaigns.values()
        for _, record in sorted(state.alerts.items())
        if record.state == OPEN
    ]


def main(
    path: str, out_path: str, dlq_path: str | None, settings: Settings,
    alerts_path: str | None = None,
) -> int:
    """The ``campaign-kpi replay`` command."""
    if path == "-":
        replay = run(read_lines(sys.stdin.buffer), settings, None, sys.stderr)
    else:
        with open(path, "rb") as source:
            size = source.seek(0, 2)
            source.seek(0)
            replay = run(read_lines(source), settings, size, sys.stderr)
    with open(out_path, "wb") as out:
        if dlq_path is None:
            write_outputs(replay, out, None)
        else:
            with open(dlq_path, "wb") as dlq:
                write_outputs(replay, out, dlq)
    if alerts_path is not None:
        with open(alerts_path, "wb") as alerts:
            alerts.write(codec.dumps(alert_values(replay, settings)) + b"\n")
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(replay.summary.describe(), file=sys.stderr)
    return 0
