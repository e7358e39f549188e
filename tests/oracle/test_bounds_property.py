"""Valid input at the contract's bounds: replay agrees with the naive oracle, value by value.

Hypothesis draws cases of :mod:`tests.oracle.bounds` (how many records of each type, ids of
128 code points in 1- to 4-byte characters, every amount at its bound or below, times from
1970 to 2100, rosters up to 10,000); one explicit example is the case at the sizes (18,500
posts at 10^15 followers and cost: sums past 2^64). Nothing may be dead-lettered, every
integer must come out exact, and every KPI set equal the oracle's.

``make test`` runs a few dozen cases; ``KPI_BOUNDS_EXAMPLES=N`` (``make fuzz``) runs more.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams import codec, replay
from streams.config import Settings

from .bounds import BASES_S, BIG, ID_ALPHABETS, ROSTER_MAX, Case, lines
from .compare import compare_values, report
from .naive import Result, run

EXAMPLES = int(os.environ.get("KPI_BOUNDS_EXAMPLES", "30"))
# The contract allows an estimate of reach from 100 distinct viewers on (2, "Reach may be an
# estimate"): 1 % relative standard error, so 4 % is four of them.
REACH_TOLERANCE = 0.04

cases = st.builds(
    Case,
    seed=st.integers(0, 2**32),
    alphabet=st.sampled_from(sorted(ID_ALPHABETS)),
    base=st.sampled_from(sorted(BASES_S)),
    roster=st.sampled_from([0, 1, 4, ROSTER_MAX]),
    posts=st.integers(0, 12),
    interactions=st.integers(0, 12),
    snapshots=st.integers(0, 6),
    clicks=st.integers(0, 8),
    orders=st.integers(0, 5),
    reviews=st.integers(0, 3),
    conversions=st.integers(0, 3),
    answers=st.integers(0, 6),
    big_values=st.booleans(),
)


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Python's json (the oracle's parser) recurses per level: room for 1,024 of them."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def oracle(text_lines: list[str]) -> Result:
    with deep_recursion():
        return run(text_lines, set())


def replayed(text_lines: list[str]) -> replay.Replay:
    numbered = ((n, line.encode()) for n, line in enumerate(text_lines, start=1))
    return replay.run(numbered, Settings())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@example(case=BIG)
@given(case=cases)
def test_replay_of_input_at_the_bounds_equals_the_oracle(case: Case) -> None:
    text_lines = lines(case)
    expected = oracle(text_lines)
    assert expected.dead_letters == [], "the input must be valid"
    assert expected.bad_lines == []
    result = replayed(text_lines)
    assert result.summary.rejected == {}, result.summary.describe()
    assert result.summary.bad_lines == 0
    out = io.BytesIO()
    replay.write_outputs(result, out, None)  # OUT as the command writes it
    diffs = compare_values(expected, codec.loads(out.getvalue()), reach_rel_tol=REACH_TOLERANCE)
    assert not diffs, report(diffs)
    if case == BIG:  # contract 5: sums past 64 bits, exact
        campaign = next(v["kpis"] for v in expected.values
                        if v["scope"] == "campaign" and v["window"] == "all")
        assert campaign["potential_reach"] == campaign["spend_minor"] == 18_500 * 10**15
        assert campaign["potential_reach"] > 2**64
