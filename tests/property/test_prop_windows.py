"""Window assignment (contract section 2): start <= t < end, start aligned to the size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.vocabulary import WINDOW_SIZES_S, Window
from streams.domain.windows import window_bounds_s

SIZES = {"1d": 86_400, "1h": 3_600, "1m": 60}
# 1970-01-01 .. 2101-01-01 in microseconds
instants = st.integers(0, 4_133_980_800 * 1_000_000 - 1)


def test_window_sizes_are_the_contract_ones() -> None:
    assert WINDOW_SIZES_S == SIZES
    assert set(WINDOW_SIZES_S) == {Window.DAY, Window.HOUR, Window.MINUTE}


@given(instants, st.sampled_from(sorted(SIZES)))
def test_window_holds_the_instant(t: int, window: str) -> None:
    start, end = window_bounds_s(window, t)
    size = SIZES[window]
    assert start * 1_000_000 <= t < end * 1_000_000
    assert end - start == size
    assert start % size == 0


@given(instants)
def test_windows_nest(t: int) -> None:
    day = window_bounds_s("1d", t)
    hour = window_bounds_s("1h", t)
    minute = window_bounds_s("1m", t)
    assert day[0] <= hour[0] <= minute[0] < minute[1] <= hour[1] <= day[1]
