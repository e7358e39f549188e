"""Tunable rules of the contract (section 3 defaults), as one frozen, pure value."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from streams.domain.vocabulary import BOUNDED_DEDUP_TOPICS, Topic, Window

MINUTE_US: Final = 60 * 1_000_000
HOUR_US: Final = 60 * MINUTE_US
DAY_US: Final = 24 * HOUR_US

# A non-bot click repeats a valid one of the same visitor and link within this span.
REPEAT_CLICK_US: Final = 30 * MINUTE_US

BOT_MARKERS: Final[tuple[str, ...]] = (
    "bot", "crawler", "spider", "facebookexternalhit", "slackbot", "whatsapp",
    "telegrambot", "discord", "headlesschrome", "curl/", "python-requests", "wget/",
)


def _default_grace() -> dict[str, int]:
    return {topic: 6 * HOUR_US for topic in Topic}


def _default_retention() -> dict[str, int]:
    return {Window.MINUTE: 2 * DAY_US, Window.HOUR: 14 * DAY_US, Window.DAY: 180 * DAY_US}


@dataclass(frozen=True, slots=True)
class Rules:
    """Dedup horizon and lateness grace (microseconds of event time), and the pseudonym key.

    ``pseudonym_key`` keys the hash that replaces viewer, visitor, reviewer and respondent
    ids: the state never holds them raw, and without the key a guessable id cannot be
    recovered from its hash by trying candidates.

    ``final_retention_us`` says how long (in event time, after it can no longer change) a
    window is kept in the state; the worker sets it to the Redis TTL of the window, so a
    window leaves memory about when its Redis key expires (its values stay on the KPI topic).
    """

    dedup_horizon_us: int = 10 * MINUTE_US
    grace_us: dict[str, int] = field(default_factory=_default_grace)
    pseudonym_key: bytes = b""
    final_retention_us: dict[str, int] = field(default_factory=_default_retention)

    def horizon_us(self, topic: Topic) -> int | None:
        """Dedup horizon of a topic; ``None`` means unbounded."""
        return self.dedup_horizon_us if topic in BOUNDED_DEDUP_TOPICS else None

    def viewer_hash(self, viewer_id: str) -> int:
        """A stable 64-bit keyed hash of a viewer id (what reach counts)."""
        digest = hashlib.blake2b(viewer_id.encode(), digest_size=8, key=self.pseudonym_key)
        return int.from_bytes(digest.digest(), "big")

    def pseudonym(self, person_id: str) -> str:
        """A stable 128-bit keyed hash of a person's id, as hex (collisions: negligible)."""
        digest = hashlib.blake2b(person_id.encode(), digest_size=16, key=self.pseudonym_key)
        return digest.hexdigest()
