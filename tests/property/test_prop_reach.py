"""Reach counting and merging laws (contract section 2, "Reach may be an estimate")."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.reach import EXACT_LIMIT, RANK_BITS, REGISTERS, SPARSE_LIMIT, Reach
from streams.domain.rules import Rules

viewer_hash = Rules().viewer_hash

viewer_ids = st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=6)
# Audiences that stay exact and audiences that cross into a sketch.
audiences = st.one_of(
    st.lists(viewer_ids, max_size=40),
    st.builds(
        lambda seed, n: [f"{seed}-{i}" for i in range(n)],
        st.integers(0, 10**6),
        st.integers(0, 700),
    ),
    # Past SPARSE_LIMIT non-zero registers (about 4,700 viewers): dense registers.
    st.builds(
        lambda seed, n: [f"{seed}+{i}" for i in range(n)],
        st.integers(0, 10**6),
        st.sampled_from([3_000, 6_000]),
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


@settings(max_examples=10, deadline=None)
@given(st.lists(viewer_ids, max_size=99), st.binary(min_size=1, max_size=16))
def test_a_pseudonym_key_changes_hashes_not_counts(ids: list[str], key: bytes) -> None:
    keyed = Rules(pseudonym_key=key).viewer_hash
    reach = Reach()
    for viewer in ids:
        reach.add(keyed(viewer))
    assert reach.estimate() == reach_of(ids).estimate() == len(set(ids))


def registers_of(ids: Iterable[str]) -> bytes:
    """HyperLogLog registers computed directly from the hashes: the reference for both forms."""
    registers = bytearray(REGISTERS)
    for viewer in ids:
        hashed = viewer_hash(viewer)
        index = hashed >> RANK_BITS
        rest = hashed & ((1 << RANK_BITS) - 1)
        registers[index] = max(registers[index], RANK_BITS - rest.bit_length() + 1)
    return bytes(registers)


@pytest.mark.parametrize("n", [EXACT_LIMIT + 1, 1_000, 4_000, 4_800, 6_000, 20_000])
def test_sparse_and_dense_registers_are_the_reference_registers(n: int) -> None:
    ids = [f"v{n}-{i}" for i in range(n)]
    reach = reach_of(ids)
    reference = Reach.from_bytes(b"S" + registers_of(ids))
    assert reach == reference
    assert reach.estimate() == reference.estimate()
    non_zero = sum(1 for register in registers_of(ids) if register)
    sparse = non_zero <= SPARSE_LIMIT
    assert reach.to_bytes()[:1] == (b"P" if sparse else b"S"), (n, non_zero)
    # Sparse cells are 4 bytes a register set, smaller than the 16 KiB of dense registers.
    assert len(reach.to_bytes()) == (1 + 4 * non_zero if sparse else 1 + REGISTERS)


@settings(max_examples=10, deadline=None)
@given(audiences, st.randoms(use_true_random=False))
def test_the_form_depends_on_the_audience_not_on_the_order(
    ids: list[str], shuffler: random.Random
) -> None:
    shuffled = list(ids)
    shuffler.shuffle(shuffled)
    assert reach_of(shuffled).to_bytes() == reach_of(ids).to_bytes()


def test_dense_cells_of_earlier_releases_are_read_sparse_when_few_registers_are_set() -> None:
    ids = [f"old-{i}" for i in range(600)]
    earlier_cell = b"S" + registers_of(ids)
    back = Reach.from_bytes(earlier_cell)
    assert back == reach_of(ids)
    assert back.to_bytes()[:1] == b"P"
    back.add(viewer_hash("one more"))
    assert back == reach_of([*ids, "one more"])


@pytest.mark.parametrize(
    "cell",
    [b"P" + bytes(3), b"P" + struct.pack(">I", REGISTERS << 6 | 1),
     b"P" + struct.pack(">I", 5 << 6), b"P" + struct.pack(">II", 5 << 6 | 1, 5 << 6 | 2),
     b"S" + bytes(REGISTERS - 1), b"S" + bytes([RANK_BITS + 2]) * REGISTERS, b"Q"],
)
def test_a_damaged_cell_is_refused(cell: bytes) -> None:
    with pytest.raises(ValueError, match="not a serialised reach count"):
        Reach.from_bytes(cell)
