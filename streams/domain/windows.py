"""Event-time windows (contract section 2): UTC, half-open ``[start, end)``, epoch seconds."""

from __future__ import annotations

from typing import Final

from streams.domain.vocabulary import WINDOW_SIZES_S, Window

US_PER_S: Final = 1_000_000


def window_start_s(occurred_at_us: int, size_s: int) -> int:
    """Start (epoch seconds) of the window of ``size_s`` seconds holding the instant."""
    seconds = occurred_at_us // US_PER_S
    return seconds - seconds % size_s


def window_bounds_s(window: Window | str, occurred_at_us: int) -> tuple[int, int]:
    """``(start, end)`` of the named window holding the instant; end is exclusive."""
    size_s = WINDOW_SIZES_S[Window(window)]
    start = window_start_s(occurred_at_us, size_s)
    return start, start + size_s
