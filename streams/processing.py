"""Decode one record and apply it: the step the streaming worker and the replay share."""

from __future__ import annotations

from streams import codec
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.events import AnyEvent
from streams.domain.vocabulary import Outcome, Topic


def apply_record(
    engine: Engine, logical: Topic, key: bytes | None, value: bytes | None,
    timestamp_ms: int | None,
) -> tuple[Outcome, AnyEvent | InvalidRecord]:
    """Decode a record of a logical topic and apply it to the engine.

    Returns the outcome and the event, or ``invalid`` and the rejection (whose record goes
    to the dead-letter topic).
    """
    try:
        event = codec.decode(logical, key, value, timestamp_ms)
        return engine.apply(logical, event), event
    except InvalidRecord as rejection:
        return Outcome.INVALID, rejection


def dead_letter(  # noqa: PLR0917 (the rejected record's fields, in contract order)
    rejection: InvalidRecord,
    topic: str,
    partition: int | None,
    offset: int | None,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
) -> tuple[bytes | None, bytes]:
    """The dead-letter record of a rejected record: (Kafka key, value of contract 4)."""
    return codec.dead_letter_key(key), codec.encode_dead_letter(
        rejection.reason, rejection.detail, topic, partition, offset, timestamp_ms, key, value
    )
