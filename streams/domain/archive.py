"""Final windows reduced to their values, packed a block of windows at a time (contract 3).

Once no non-late record of the dense topics (interactions, clicks) can land in a window, it
keeps only its numbers. The windows of one scope and window kind are packed per block of
time (a day of minutes or hours, a month of days) into one ``bytes``: a few bytes per window
instead of a few hundred for a live aggregate. A record of a sparse topic (a post, an order,
a conversion) may still land in such a window — a topic's first record may land anywhere —
so a packed window is unpacked again when touched: reduction never changes a KPI.

Entry format (varints; integers of any size, signed ones zigzag-encoded): the window's index
in its block, the number of non-zero slots then (slot, value) pairs, reach + 1 (0: none),
the influencer ids (count, then length-prefixed UTF-8), the conversions by action (count,
then (action index, count) pairs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from streams.domain.kpis import SLOTS, Aggregate
from streams.domain.vocabulary import CONVERSION_ACTIONS, WINDOW_SIZES_S, Scope, Window

# Seconds one block spans, per window kind.
BLOCK_S: Final[dict[Window, int]] = {
    Window.MINUTE: 86_400, Window.HOUR: 86_400, Window.DAY: 32 * 86_400,
}
_ACTION_INDEX: Final = {action: i for i, action in enumerate(CONVERSION_ACTIONS)}

# (scope, scope_id, window, block start in epoch seconds)
BlockKey = tuple[Scope, str, Window, int]
SetKey = tuple[Scope, str, Window, int | None]


def block_of(key: SetKey) -> BlockKey:
    """The block a windowed set belongs to."""
    scope, scope_id, window, start = key
    assert start is not None, "only windowed sets are packed"
    span = BLOCK_S[window]
    return scope, scope_id, window, start - start % span


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else ((-value) << 1) - 1


def _unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


def pack(agg: Aggregate) -> bytes:
    """One window's entry (its reach must already be a number)."""
    _, _, window, start = agg.key
    assert start is not None
    out = bytearray()
    _varint((start % BLOCK_S[window]) // WINDOW_SIZES_S[window], out)
    nonzero = [(slot, value) for slot, value in enumerate(agg.counts) if value]
    _varint(len(nonzero), out)
    for slot, value in nonzero:
        _varint(slot, out)
        _varint(_zigzag(value), out)
    reach = agg.reach
    if reach is not None and not isinstance(reach, int):
        raise ValueError("a window is packed once its reach is a number")
    _varint(0 if reach is None else reach + 1, out)
    influencers = agg.influencers
    names = (
        [] if influencers is None or isinstance(influencers, int) else sorted(influencers)
    )
    _varint(len(names), out)
    for name in names:
        raw = name.encode()
        _varint(len(raw), out)
        out += raw
    actions = sorted((agg.by_action or {}).items())
    _varint(len(actions), out)
    for action, count in actions:
        _varint(_ACTION_INDEX[action], out)
        _varint(count, out)
    return bytes(out)


class _Reader:
    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def varint(self) -> int:
        value = shift = 0
        data = self.data
        while True:
            byte = data[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def text(self) -> str:
        size = self.varint()
        raw = self.data[self.at : self.at + size]
        self.at += size
        return raw.decode()


def unpack(block: BlockKey, data: bytes) -> Iterator[tuple[Aggregate, int, int]]:
    """The windows of a block: (aggregate, entry start, entry end) in stored order."""
    scope, scope_id, window, block_start = block
    size = WINDOW_SIZES_S[window]
    reader = _Reader(data)
    while reader.at < len(data):
        begin = reader.at
        start = block_start + reader.varint() * size
        agg = Aggregate((scope, scope_id, window, start))
        counts = agg.counts
        for _ in range(reader.varint()):
            slot = reader.varint()
            counts[slot] = _unzigzag(reader.varint())
        reach = reader.varint()
        agg.reach = None if reach == 0 else reach - 1
        names = [reader.text() for _ in range(reader.varint())]
        agg.influencers = set(names) if names else None
        actions = {CONVERSION_ACTIONS[reader.varint()]: reader.varint()
                   for _ in range(reader.varint())}
        agg.by_action = actions or None
        yield agg, begin, reader.at


assert SLOTS < 128  # a slot index is one varint byte
