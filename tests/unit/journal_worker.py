"""A worker's flush cycle over a compacted state store, for the journal tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.domain.engine import Engine
from streams.domain.rules import Rules
from streams.journal import Journal, Meta

from .v2_stream import Item, apply_all, by_key

PARTITION = 3


@dataclass
class Worker:
    """An engine, its journal, and the compacted state store it writes."""

    rules: Rules = field(default_factory=Rules)
    store: dict[str, bytes] = field(default_factory=dict)
    engine: Engine = field(init=False)
    journal: Journal = field(init=False)
    seq: int = 0
    offset: int = -1
    published: list[dict[str, dict[str, object]]] = field(default_factory=list)
    raw_sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = Engine(self.rules)
        self.journal = Journal(self.rules)

    def apply(self, items: list[Item]) -> None:
        apply_all(self.engine, items)
        self.offset += len(items)

    def flush(self) -> list[tuple[str, bytes | None]]:
        changes = self.engine.take_changes()
        self.published.append(by_key(self.engine.kpi_sets(changes)))
        self.seq += 1
        meta = Meta({"interactions": self.offset}, self.seq, 5)
        cells = self.journal.cells(self.engine, changes, self.seq, meta, PARTITION)
        for key, value in cells:
            if value is None:
                self.store.pop(key, None)
            else:
                self.raw_sizes.append(len(value))
                self.store[key] = value
        return cells

    def restart(self) -> Meta:
        """A new process: rebuild everything from the store alone."""
        self.journal, self.engine, meta = Journal.restore(self.rules, dict(self.store), PARTITION)
        assert meta.flush_seq == self.seq
        self.offset = meta.offsets.get("interactions", -1)
        return meta
