"""Fuzzing: whatever a producer sends, decoding, the engine and the outputs never break.

Hypothesis mutates valid records of every type — their bytes, their structure, the types and
bounds of their fields, their times, their unicode and their sizes — and each mutant goes
the worker's whole way: decode (an event, or a rejection with one of the contract's
reasons), the engine (an outcome, or a rejection), the dead-letter record of a rejection (JSON
that fits the dead-letter topic), then the KPI records and journal cells of everything
applied, restored again. Nothing else may come out: no other exception, ever.

``make test`` runs at least 10,000 cases; ``make fuzz`` many more (``KPI_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import copy
import json
import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams import codec
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.vocabulary import TYPE_TOPICS, Outcome, Topic
from streams.journal import Journal, Meta
from streams.processing import apply_record, dead_letter
from streams.topics import OUTPUT_MAX_MESSAGE_BYTES

CASES = int(os.environ.get("KPI_FUZZ_EXAMPLES", "10000"))  # mutated records
T = "2026-11-02T10:05:00Z"
CID = "c1"
ROSTER = [
    {"influencer_id": "i1", "tier": "micro", "promo_codes": ["SAVE10"], "link_ids": ["l1"]},
    {"influencer_id": "i2", "tier": "nano"},
]
# One valid record of every type (contract 1), the seeds of every mutation.
VALID: list[dict[str, Any]] = [
    {"type": "campaign", "name": "Launch", "objective": "conversion",
     "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-30T00:00:00+01:00",
     "currency": "EUR", "budget_minor": 100000, "attribution_window_days": 7,
     "targets": {"orders": 10, "cpa_minor": 500.5}, "influencers": ROSTER, "brand": "B"},
    {"type": "post_published", "post_id": "p1", "influencer_id": "i1", "platform": "instagram",
     "format": "reel", "followers": 12000, "cost_minor": 5000},
    {"type": "interaction", "post_id": "p1", "influencer_id": "i1", "action": "impression",
     "viewer_id": "v1", "count": 3},
    {"type": "post_metrics", "post_id": "p2", "influencer_id": "i2", "impressions": 900,
     "reach": 700, "likes": 40, "comments": 2},
    {"type": "click", "link_id": "l1", "influencer_id": "i1", "post_id": "p1", "channel": "link",
     "visitor_id": "x1", "user_agent": "Mozilla/5.0 (iPhone)"},
    {"type": "order", "order_id": "o1", "amount_minor": 4999, "currency": "EUR",
     "promo_code": "save10", "link_id": "l1", "customer_id": "cu1"},
    {"type": "order_refund", "refund_id": "r1", "order_id": "o1", "amount_minor": 1000,
     "currency": "EUR"},
    {"type": "content_review", "post_id": "p1", "influencer_id": "i1", "reviewer_id": "rv1",
     "scores": {"brand_fit": 4, "tone": 5}, "comment": "ok"},
    {"type": "conversion", "conversion_id": "cv1", "action": "signup", "link_id": "l1",
     "value_minor": 300, "currency": "EUR"},
    {"type": "survey_response", "respondent_id": "s1", "group": "exposed",
     "question": "recall", "positive": True},
]
for number, record in enumerate(VALID):
    record.update(event_id=f"e{number}", occurred_at=T, campaign_id=CID)

# Hypothesis draws the seed of each batch; a seeded mutator makes its records. Drawing every
# field through Hypothesis strategies cost ~25 ms a record, which made 10,000 cases take
# minutes; this way a case costs what the product spends on it, and a failure still names
# its seed (Hypothesis prints the `random` it drew, and replays it).
BATCH = 25
EXAMPLES = max(1, -(-CASES // BATCH))
SPECIAL_INTEGERS = (0, -1, 1, 10**12, 10**12 + 1, 10**15, 10**15 + 1, 2**63, 2**64, -(2**70))
SPECIAL_TEXTS = (
    "", " ", "a" * 128, "a" * 129, "é" * 128, "{id}", "a|b", "\u2028", "\x00", "\ud800",
    "2026-11-02T10:05:00.123456789Z", "1969-12-31T23:59:59Z", "2101-01-01T00:00:00Z",
    "2026-02-29T00:00:00Z", "2026-11-02T10:05:60Z", "2026-11-02t10:05:00z",
    "2026-11-02T10:05:00+24:00", "2026-11-02T10:05:00-05:30", "EUR", "eur",
)
ALPHABET = "aé€𝄞 _-|:{}\"\\\n\t\x00\u2028\ufeff0123456789"


def _text(rnd: random.Random, longest: int) -> str:
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, longest)))


def _scalar(rnd: random.Random) -> object:
    pick = rnd.randrange(8)
    if pick == 0:
        return None
    if pick == 1:
        return rnd.random() < 0.5
    if pick == 2:
        return rnd.randint(-(2**70), 2**70)
    if pick == 3:
        return rnd.choice(SPECIAL_INTEGERS)
    if pick == 4:
        return rnd.uniform(-1e300, 1e300) if rnd.random() < 0.5 else rnd.random()
    if pick == 5:
        return _text(rnd, 40)
    return rnd.choice(SPECIAL_TEXTS)


def _json_value(rnd: random.Random, depth: int = 0) -> object:
    pick = rnd.randrange(6)
    if depth < 3 and pick == 0:
        return [_json_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    if depth < 3 and pick == 1:
        return {_text(rnd, 12): _json_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}
    return _scalar(rnd)


def mutated(rnd: random.Random) -> tuple[str, bytes | None, bytes | None, int | None]:
    """(topic, key, value, timestamp) of a mutated valid record."""
    record = copy.deepcopy(rnd.choice(VALID))
    topic: str = TYPE_TOPICS[record["type"]]
    if rnd.random() < 0.5:
        topic = rnd.choice(list(Topic))  # on a wrong topic, now and then
    for _ in range(rnd.randint(0, 3)):
        kind = rnd.choice(["set", "drop", "add", "nest", "grow"])
        if kind == "set" and record:
            record[rnd.choice(sorted(record))] = _json_value(rnd)
        elif kind == "drop" and record:
            record.pop(rnd.choice(sorted(record)))
        elif kind == "add":
            record[_text(rnd, 12)] = _json_value(rnd)
        elif kind == "nest":
            depth = rnd.randint(1, 1200)
            record["deep"] = json.loads("[" * depth + "]" * depth)
        elif kind == "grow" and record:
            name = rnd.choice(sorted(record))
            record[name] = "x" * rnd.choice([63, 64, 65, 200, 2000, 65_536, 70_000])
    encoded = json.dumps(record, ensure_ascii=rnd.random() < 0.5).encode(
        "utf-8", "surrogatepass")
    if rnd.randrange(5) == 0:  # byte-level damage
        data = bytearray(encoded)
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randint(0, max(0, len(data) - 1))
            action = rnd.choice(["flip", "insert", "delete", "cut"])
            if action == "flip" and data:
                data[at] ^= 1 << rnd.randrange(8)
            elif action == "insert":
                data[at:at] = rnd.randbytes(rnd.randint(1, 4))
            elif action == "delete" and data:
                del data[at]
            elif action == "cut":
                del data[at:]
        encoded = bytes(data)
    value = None if rnd.randrange(31) == 0 else encoded  # now and then a tombstone
    key_choice = rnd.randrange(10)
    key: bytes | None = CID.encode()
    if key_choice == 0:
        key = None
    elif key_choice == 1:
        key = rnd.randbytes(rnd.randint(0, 8))
    elif key_choice == 2:
        key = b"\x01" * rnd.choice([10, 70_000])
    timestamp = None if rnd.random() < 0.2 else rnd.randint(0, 2**42)
    return topic, key, value, timestamp


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(rnd=st.randoms(use_true_random=False))
def test_no_input_breaks_decoding_the_engine_or_the_outputs(rnd: random.Random) -> None:
    batch = [mutated(rnd) for _ in range(BATCH)]
    engine = Engine()
    for record in VALID[:2]:  # a definition and a post in force, so checks 8-10 can run
        apply_record(engine, TYPE_TOPICS[record["type"]], CID.encode(),
                     json.dumps(record).encode(), None)
    for offset, (topic, key, value, timestamp) in enumerate(batch):
        outcome, result = apply_record(engine, Topic(topic), key, value, timestamp)
        if isinstance(result, InvalidRecord):
            assert outcome is Outcome.INVALID
            assert result.reason in set(Reason)
            dlq_key, letter = dead_letter(result, topic, 0, offset, timestamp, key, value)
            parsed = codec.loads(letter)
            assert parsed["reason"] == result.reason
            assert len(letter) + len(dlq_key or b"") < OUTPUT_MAX_MESSAGE_BYTES
        else:
            assert outcome in (Outcome.COUNTED, Outcome.DUPLICATE, Outcome.LATE)
    # Everything applied comes out: KPI records, journal cells, a restore of them.
    changes = engine.take_changes()
    for kpi_set in engine.kpi_sets(changes):
        codec.loads(codec.dumps(kpi_set.to_value(0)))
    rules = engine.rules
    cells = dict(
        (key, value)
        for key, value in Journal(rules).cells(engine, changes, 1, Meta(), 0)
        if value is not None
    )
    _, restored, _ = Journal.restore(rules, cells, 0)
    assert {s.key: s.kpis for s in restored.all_sets()} == {
        s.key: s.kpis for s in engine.all_sets()
    }
