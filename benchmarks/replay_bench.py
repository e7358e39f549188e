"""Replay throughput, and the memory of per-(campaign, window) state.

``.venv/bin/python benchmarks/replay_bench.py [--lines N] [--campaigns C]`` (no services).

1. Throughput: ``streams.replay.run`` in-process (one core) over N JSON Lines (default 300k)
   of the interaction-heavy mix of :mod:`benchmarks.workload`, in the record-envelope form
   ``{"topic", "key", "value", "timestamp"}``, beside two baselines on the same lines:
   ``orjson.loads`` of each line, and of each line plus its inner ``value`` string (the two
   parses a replay cannot avoid). Best of ``--repeat`` runs.
2. Memory per KPI set, with tracemalloc: one ``Aggregate`` (counts only; exact reach of 10
   and of 256 viewers; HyperLogLog sketches past the exact limit, sparse and dense), with its
   journal cell's size on the state topic; then a journaled engine holding C campaigns with a day
   of 1-minute windows (10 interactions a minute), once with a small audience (every reach
   exact) and once with a large one (hour, day and ``all`` windows become sketches).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from benchmarks.workload import Workload
from streams import replay
from streams.cli import GC_THRESHOLDS
from streams.config import Settings
from streams.domain.engine import Engine
from streams.domain.events import Interaction
from streams.domain.kpis import Aggregate
from streams.domain.reach import EXACT_LIMIT, Reach
from streams.domain.vocabulary import Scope, Topic, Window
from streams.journal import Journal, Meta
from streams.records import replay_line

DAY_S = 86_400
BASE_S = 1_772_323_200  # 2026-03-01T00:00:00Z


def replay_lines(n: int) -> list[bytes]:
    workload = Workload("replay", seed=7)
    end_s = time.time() - 120
    return [replay_line(r) for r in workload.records(n, end_s, 12 * 3600)]


def best_seconds(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def throughput(lines: list[bytes], repeat: int) -> None:
    loads = orjson.loads
    settings = Settings()

    def parse_line() -> None:
        for line in lines:
            loads(line)

    def parse_both() -> None:
        for line in lines:
            loads(loads(line)["value"])

    def run_replay() -> None:
        result = replay.run(enumerate(lines, start=1), settings)
        assert result.summary.lines == len(lines)

    n = len(lines)
    rows = [
        ("orjson.loads(line)", best_seconds(parse_line, repeat)),
        ("orjson.loads(line) + loads(value)", best_seconds(parse_both, repeat)),
        ("streams.replay.run", best_seconds(run_replay, repeat)),
    ]
    both = n / rows[1][1]
    print(f"replay throughput: {n:,} lines, one core, best of {repeat}")
    print(f"{'':<36}{'lines/s':>12}{'us/line':>10}{'vs parse':>10}")
    for name, seconds in rows:
        rate = n / seconds
        print(f"{name:<36}{rate:>12,.0f}{seconds / n * 1e6:>10.2f}{rate / both:>10.3f}")


def traced(build: Callable[[], object]) -> tuple[int, object]:
    """Bytes still allocated by ``build`` (its result kept alive) and the result."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, result


def aggregate_sizes() -> None:
    def make(viewers: int) -> Callable[[], object]:
        def build() -> list[Aggregate]:
            aggregates = []
            for a in range(500):
                agg = Aggregate((Scope.CAMPAIGN, f"c{a}", Window.HOUR, a * 3600))
                for i in range(len(agg.counts)):
                    agg.counts[i] = 1_000 + i  # small ints are shared; these are not
                if viewers:
                    reach = agg.reach = Reach()
                    for v in range(viewers):
                        reach.add(((a * 1_000_003 + v) * 0x9E3779B97F4A7C15) % (1 << 64))
                aggregates.append(agg)
            return aggregates

        return build

    print()
    print("memory per KPI-set aggregate (tracemalloc, mean of 500)")
    print(f"{'aggregate':<40}{'bytes':>10}{'journal cell bytes':>20}")
    cases = [
        ("counts only (1m windows: no reach)", 0),
        ("exact reach, 10 viewers", 10),
        (f"exact reach, {EXACT_LIMIT} viewers (the limit)", EXACT_LIMIT),
        (f"sparse sketch ({EXACT_LIMIT + 1} viewers)", EXACT_LIMIT + 1),
        ("sparse sketch (2,000 viewers)", 2_000),
        ("dense sketch (10,000 viewers)", 10_000),
    ]
    for name, viewers in cases:
        size, built = traced(make(viewers))
        assert isinstance(built, list)
        cell = journal_cell_bytes(built[0])
        print(f"{name:<40}{size / len(built):>10,.0f}{cell:>20,}")


def journal_cell_bytes(agg: Aggregate) -> int:
    """Size of the state cell that journals one aggregate."""
    engine = Engine()
    state = engine.state(agg.key[1])
    state.sets[agg.key] = agg
    changes = engine.take_changes()
    changes.sets[agg] = state
    cells = Journal(engine.rules).cells(engine, changes, 1, Meta(), 0)
    return max(len(value or b"") for key, value in cells if key.startswith("a|"))


def engine_day(campaigns: int, audience: int) -> Engine:
    """An engine with a day of 1-minute windows per campaign, 10 interactions each."""
    engine = Engine()
    seq = 0
    for c in range(campaigns):
        cid = f"cmp-{c:03d}"
        for minute in range(DAY_S // 60):
            for k in range(10):
                seq += 1
                influencer = f"{cid}-inf{k % 2}"
                engine.apply(
                    Topic.INTERACTIONS,
                    Interaction(
                        f"ev-{seq:09d}",
                        (BASE_S + minute * 60 + k) * 1_000_000,
                        cid,
                        f"{influencer}-post",
                        influencer,
                        "impression",
                        f"vw{(seq * 7919) % audience:06d}",
                        1,
                    ),
                )
        engine.take_changes()  # what a flush hands over goes
    return engine


def engine_sizes(campaigns: int) -> None:
    print()
    print(
        f"engine memory: {campaigns} campaigns x a day of 1m windows (10 interactions/min, "
        "2 influencers, 2 posts)"
    )
    print(
        f"{'audience':<26}{'KPI sets':>10}{'sketches':>10}{'MiB':>8}{'bytes/set':>11}"
        f"{'bytes/(campaign, 1m)':>22}"
    )
    for name, audience in (("50 viewers (all exact)", 50), ("1M viewers (sketches)", 1_000_000)):

        def build(audience: int = audience) -> Engine:
            return engine_day(campaigns, audience)

        size, built = traced(build)
        assert isinstance(built, Engine)
        sets = sum(len(s.sets) for s in built.campaigns.values())
        sketches = sum(
            1
            for s in built.campaigns.values()
            for agg in s.sets.values()
            if isinstance(agg.reach, Reach) and agg.reach.to_bytes()[:1] != b"E"  # sparse or dense
        )
        per_minute = size / (campaigns * DAY_S // 60)
        print(
            f"{name:<26}{sets:>10,}{sketches:>10,}{size / (1 << 20):>8.1f}{size / sets:>11,.0f}"
            f"{per_minute:>22,.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Replay throughput and state memory.")
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--campaigns", type=int, default=10)
    args = parser.parse_args()
    gc.set_threshold(*GC_THRESHOLDS)  # as `campaign-kpi replay` runs
    lines = replay_lines(args.lines)
    throughput(lines, args.repeat)
    del lines
    aggregate_sizes()
    engine_sizes(args.campaigns)


if __name__ == "__main__":
    main()
