"""Event-time windows of contract section 2: UTC, half-open ``[start, end)``, epoch seconds."""

from __future__ import annotations

from typing import Final

ALL: Final = "all"
WINDOW_SIZES_S: Final[dict[str, int]] = {"1d": 86_400, "1h": 3_600, "1m": 60}

CAMPAIGN: Final = "campaign"
INFLUENCER: Final = "influencer"
POST: Final = "post"
SCOPES: Final[tuple[str, ...]] = (CAMPAIGN, INFLUENCER, POST)

# Which windows each scope has, besides `all`.
SCOPE_WINDOWS: Final[dict[str, tuple[str, ...]]] = {
    CAMPAIGN: ("1d", "1h", "1m"),
    INFLUENCER: ("1d", "1h"),
    POST: (),
}

US_PER_S: Final = 1_000_000


def window_start_s(occurred_at_us: int, size_s: int) -> int:
    """Start (epoch seconds) of the window of ``size_s`` seconds holding the instant."""
    seconds = occurred_at_us // US_PER_S
    return seconds - seconds % size_s


def window_bounds_s(window: str, occurred_at_us: int) -> tuple[int, int]:
    """``(start, end)`` of the named window holding the instant; end is exclusive."""
    size_s = WINDOW_SIZES_S[window]
    start = window_start_s(occurred_at_us, size_s)
    return start, start + size_s
