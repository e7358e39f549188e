"""Throughput of streams.codec.decode on realistic records, beside orjson.loads alone.

Run ``python benchmarks/codec_bench.py [N]``: generates N (default 200,000) records per type
(interactions, clicks, orders) of a few campaigns over a week of event time, then prints the
best of 3 runs in events per second. The target is >= 300k interactions/s on one core.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.codec import decode

BASE_S = 1_772_323_200  # 2026-03-01T00:00:00Z
WEEK_S = 7 * 86_400
ACTIONS = ("impression", "impression", "impression", "view", "view", "like", "comment", "share",
           "save", "reply")
AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Mobile Safari/537.36",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
)


def _time(rng: random.Random) -> str:
    seconds = BASE_S + rng.randrange(WEEK_S)
    millis = rng.randrange(1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{millis:03d}Z"


def _common(rng: random.Random, type_: str, n: int) -> dict[str, object]:
    campaign = rng.randrange(20)
    return {
        "event_id": f"evt-{type_[:3]}-{n:08d}-{rng.getrandbits(32):08x}",
        "type": type_,
        "occurred_at": _time(rng),
        "campaign_id": f"cmp-2026-spring-{campaign:03d}",
    }


def interaction(rng: random.Random, n: int) -> dict[str, object]:
    event = _common(rng, "interaction", n)
    influencer = rng.randrange(300)
    event.update(
        post_id=f"post-{influencer:04d}-{rng.randrange(12):02d}",
        influencer_id=f"inf-{influencer:05d}",
        action=rng.choice(ACTIONS),
    )
    if rng.random() < 0.8:
        event["viewer_id"] = f"v-{rng.getrandbits(48):012x}"
    if rng.random() < 0.2:
        event["count"] = rng.randrange(1, 500)
    return event


def click(rng: random.Random, n: int) -> dict[str, object]:
    event = _common(rng, "click", n)
    influencer = rng.randrange(300)
    event.update(
        link_id=f"lnk-{influencer:05d}-{rng.randrange(3)}",
        influencer_id=f"inf-{influencer:05d}",
        post_id=f"post-{influencer:04d}-{rng.randrange(12):02d}",
        channel=rng.choice(("link", "swipe_up", "qr", "bio_link")),
        visitor_id=f"vis-{rng.getrandbits(48):012x}",
        user_agent=rng.choice(AGENTS),
    )
    return event


def order(rng: random.Random, n: int) -> dict[str, object]:
    event = _common(rng, "order", n)
    event.update(
        order_id=f"ord-{n:09d}",
        amount_minor=rng.randrange(500, 50_000),
        currency="EUR",
        customer_id=f"cus-{rng.getrandbits(40):010x}",
    )
    if rng.random() < 0.4:
        event["promo_code"] = f"SPRING{rng.randrange(300):03d}"
    else:
        event["link_id"] = f"lnk-{rng.randrange(300):05d}-{rng.randrange(3)}"
    return event


Record = tuple[bytes, bytes, int]


def generate(make: Callable[[random.Random, int], dict[str, object]], n: int) -> list[Record]:
    rng = random.Random(42)
    records = []
    for i in range(n):
        event = make(rng, i)
        key = str(event["campaign_id"]).encode()
        records.append((key, orjson.dumps(event), (BASE_S + WEEK_S) * 1000))
    return records


def best_rate(run: Callable[[], None], n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    cases = (("interactions", interaction), ("clicks", click), ("orders", order))
    print(f"{n} records per topic, best of 3 runs, events/s on one core")
    print(f"{'topic':<14}{'bytes/rec':>10}{'orjson.loads':>15}{'codec.decode':>15}{'ratio':>8}")
    for topic, make in cases:
        records = generate(make, n)
        size = sum(len(value) for _, value, _ in records) / n

        def parse_only(records: list[Record] = records) -> None:
            loads = orjson.loads
            for _, value, _ in records:
                loads(value)

        def full(records: list[Record] = records, topic: str = topic) -> None:
            for key, value, timestamp in records:
                decode(topic, key, value, timestamp)

        baseline = best_rate(parse_only, n)
        rate = best_rate(full, n)
        print(f"{topic:<14}{size:>10.0f}{baseline:>15,.0f}{rate:>15,.0f}{rate / baseline:>8.2f}")


if __name__ == "__main__":
    main()
