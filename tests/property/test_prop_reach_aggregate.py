"""Reach counting and aggregate merging laws (contract section 2, "Reach may be an estimate")."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.aggregate import SIZE, Aggregate
from streams.domain.reach import Reach, viewer_hash

viewer_ids = st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=6)
# Audiences that stay exact and audiences that cross into a sketch.
audiences = st.one_of(
    st.lists(viewer_ids, max_size=40),
    st.builds(
        lambda seed, n: [f"{seed}-{i}" for i in range(n)],
        st.integers(0, 10**6),
        st.integers(0, 700),
    ),
)


def reach_of(ids: Iterable[str]) -> Reach:
    reach = Reach()
    for viewer in ids:
        reach.add(viewer_hash(viewer))
    return reach


def copy(reach: Reach) -> Reach:
    return Reach.from_bytes(reach.to_bytes())


def merged(*parts: Reach) -> Reach:
    out = Reach()
    for part in parts:
        out.merge(copy(part))
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(viewer_ids, max_size=300))
def test_exact_up_to_100_distinct(ids: list[str]) -> None:
    distinct = set(ids)
    if len(distinct) > 100:
        ids = sorted(distinct)[:100]
        distinct = set(ids)
    assert reach_of(ids).estimate() == len(distinct)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 100))
def test_exact_up_to_100_distinct_repeated(seed: int, n: int) -> None:
    ids = [f"{seed}:{i}" for i in range(n)] * 3
    assert reach_of(ids).estimate() == n


@settings(max_examples=25, deadline=None)
@given(audiences, audiences)
def test_merge_commutes_and_equals_the_union(a: list[str], b: list[str]) -> None:
    ra, rb = reach_of(a), reach_of(b)
    union = reach_of(a + b)
    ab = copy(ra)
    ab.merge(copy(rb))
    ba = copy(rb)
    ba.merge(copy(ra))
    assert ab.estimate() == ba.estimate() == union.estimate()


@settings(max_examples=20, deadline=None)
@given(audiences, audiences, audiences)
def test_merge_associates(a: list[str], b: list[str], c: list[str]) -> None:
    ra, rb, rc = reach_of(a), reach_of(b), reach_of(c)
    left = merged(merged(ra, rb), rc)
    right = merged(ra, merged(rb, rc))
    assert left.estimate() == right.estimate() == reach_of(a + b + c).estimate()


@settings(max_examples=20, deadline=None)
@given(audiences)
def test_merge_is_idempotent(a: list[str]) -> None:
    ra = reach_of(a)
    twice = copy(ra)
    twice.merge(copy(ra))
    assert twice.estimate() == ra.estimate()
    empty = copy(ra)
    empty.merge(Reach())
    assert empty.estimate() == ra.estimate()


@settings(max_examples=20, deadline=None)
@given(audiences)
def test_bytes_round_trip(a: list[str]) -> None:
    ra = reach_of(a)
    back = Reach.from_bytes(ra.to_bytes())
    assert back == ra
    assert back.estimate() == ra.estimate()
    assert back.to_bytes() == ra.to_bytes()


@pytest.mark.parametrize("n", [2_000, 9_000, 40_000, 120_000, 200_000])
@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_relative_error_within_4_percent(seed: int, n: int) -> None:
    # standard error 1.04 / sqrt(2**14) = 0.81 %: 4 % is about 5 sigma
    estimate = reach_of(f"{seed}/{i}" for i in range(n)).estimate()
    assert abs(estimate - n) / n <= 0.04, (estimate, n)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**32), st.integers(101, 5_000))
def test_error_just_above_100_is_small(seed: int, n: int) -> None:
    estimate = reach_of(f"{seed}/{i}" for i in range(n)).estimate()
    assert abs(estimate - n) / n <= 0.04, (estimate, n)


# -- Aggregate.merge ---------------------------------------------------------------------

Recipe = tuple[list[int], list[int], list[str]]

recipes = st.tuples(
    st.lists(st.integers(0, 10**9), min_size=SIZE, max_size=SIZE),
    st.one_of(
        st.lists(st.integers(0, 2**64 - 1), max_size=20),
        st.builds(lambda seed, n: [(seed * 7919 + i * 2654435761) % 2**64 for i in range(n)],
                  st.integers(0, 2**40), st.integers(250, 400)),
    ),
    st.lists(st.sampled_from(["i1", "i2", "i3", "i4"]), max_size=4),
)


def build(recipe: Recipe) -> Aggregate:
    counts, viewers, influencers = recipe
    agg = Aggregate()
    agg.counts = list(counts)
    for hashed in viewers:
        agg.add_viewer(hashed)
    for influencer in influencers:
        agg.add_influencer(influencer)
    return agg


def merge_all(*recipes_: Recipe) -> Aggregate:
    out = Aggregate()
    for recipe in recipes_:
        out.merge(build(recipe))
    return out


@settings(max_examples=30, deadline=None)
@given(recipes, recipes)
def test_aggregate_merge_commutes(a: Recipe, b: Recipe) -> None:
    ab = build(a)
    ab.merge(build(b))
    ba = build(b)
    ba.merge(build(a))
    assert ab == ba


@settings(max_examples=30, deadline=None)
@given(recipes, recipes, recipes)
def test_aggregate_merge_associates(a: Recipe, b: Recipe, c: Recipe) -> None:
    left = build(a)
    left.merge(build(b))
    left.merge(build(c))
    bc = build(b)
    bc.merge(build(c))
    right = build(a)
    right.merge(bc)
    assert left == right


@settings(max_examples=30, deadline=None)
@given(recipes)
def test_aggregate_zero_is_identity(a: Recipe) -> None:
    left = Aggregate()
    left.merge(build(a))
    right = build(a)
    right.merge(Aggregate())
    assert left == build(a) == right


@settings(max_examples=30, deadline=None)
@given(recipes, recipes)
def test_aggregate_merge_adds_counts(a: Recipe, b: Recipe) -> None:
    ab = build(a)
    ab.merge(build(b))
    assert ab.counts == [x + y for x, y in zip(a[0], b[0], strict=True)]
    assert (ab.influencers or set()) == set(a[2]) | set(b[2])
    union = Reach()
    for hashed in a[1] + b[1]:
        union.add(hashed)
    assert (ab.reach or Reach()).estimate() == union.estimate()
