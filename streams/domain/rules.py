"""Tunable rules of the contract (section 3 defaults), as one frozen, pure value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from streams.domain.events import CLICKS, INTERACTIONS, LOGICAL_TOPICS

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
    return {topic: 6 * HOUR_US for topic in LOGICAL_TOPICS}


@dataclass(frozen=True, slots=True)
class Rules:
    """Dedup horizon and lateness grace, in microseconds of event time."""

    dedup_horizon_us: int = 10 * MINUTE_US
    grace_us: dict[str, int] = field(default_factory=_default_grace)

    def horizon_us(self, topic: str) -> int | None:
        """Dedup horizon of a topic; ``None`` means unbounded."""
        return self.dedup_horizon_us if topic in (INTERACTIONS, CLICKS) else None
