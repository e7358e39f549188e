"""Valid input at the contract's bounds (sections 1.2-1.10), built from a few parameters.

One campaign per case, every event type, every value where the contract puts a limit:
ids of exactly 128 code points (1-, 2-, 3- or 4-byte UTF-8 characters), names and brands of
200, promo codes of 64, user agents of 1,000 and comments of 2,000 characters; followers and
costs up to 10^15, amounts, values and snapshot metrics up to 10^12, interaction counts up to
1,000,000; a roster of up to 10,000 influencers in a definition of at most 1 MiB; a record
value of exactly 64 KiB, and one nested as deep as the codec accepts (1,024 levels, in an
unknown field, which the contract ignores); times from 1970 to 2100. ``BIG`` is the case at
the sizes: 18,500 posts at 10^15 followers and cost, so that sums pass 2^64.

Events are made by ``streams.records`` (the one event builder) and checked by nothing here:
the tests hold replay and a worker to the oracle, which reads the contract on its own.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any, Final

from streams import records as build
from streams.domain.vocabulary import (
    CLICK_CHANNELS,
    CONVERSION_ACTIONS,
    CRITERIA,
    FORMATS,
    PLATFORMS,
    QUESTIONS,
    TIERS,
)

ID_LENGTH: Final = 128
MAX_COUNT: Final = 1_000_000
MAX_AMOUNT: Final = 10**12
MAX_UNBOUNDED: Final = 10**15  # where a table gives no upper bound
ROSTER_MAX: Final = 10_000
VALUE_MAX: Final = 64 * 1024
DEFINITION_MAX: Final = 1024 * 1024
# Levels of nesting the codec accepts (the record itself is one): deeper is a
# schema_violation (docs/contract-decisions.md, "Decoding details").
DEPTH_MAX: Final = 1024
# One character per UTF-8 length: ids are counted in code points, Kafka keys and Redis keys in
# bytes, so each width must fit everywhere.
ID_ALPHABETS: Final = {"ascii": "x", "latin": "é", "cjk": "漢", "astral": "\U0001d518"}
S: Final = 1_000_000  # microseconds
DAY: Final = 86_400 * S
# Campaign starts: the epoch, an ordinary year, and late enough that events reach 2100.
BASES_S: Final = {"1970": 0, "2026": 1_780_000_000, "2100": 4_133_980_799 - 40 * 86_400}


@dataclass(frozen=True)
class Case:
    """What one case holds: how many of each kind, and which bound each value takes."""

    seed: int = 0
    alphabet: str = "ascii"
    base: str = "2026"
    roster: int = 3
    posts: int = 4
    interactions: int = 6
    snapshots: int = 3
    clicks: int = 4
    orders: int = 3
    reviews: int = 2
    conversions: int = 2
    answers: int = 3
    big_values: bool = True  # every amount at its bound (else drawn below it)


BIG: Final = Case(seed=1, alphabet="astral", roster=ROSTER_MAX, posts=18_500, interactions=40,
                  snapshots=20, clicks=20, orders=10, reviews=6, conversions=6, answers=10)


def ident(kind: str, number: int, alphabet: str) -> str:
    """A unique id of exactly 128 code points."""
    head = f"{kind}{number}-"
    return head + ID_ALPHABETS[alphabet] * (ID_LENGTH - len(head))


def text(length: int, char: str = "a") -> str:
    return char * length


class _Builder:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.rng = random.Random(case.seed)
        self.events: list[dict[str, Any]] = []
        self.cid = ident("c", case.seed, case.alphabet)
        self.start_us = BASES_S[case.base] * S
        self._numbers = 0

    def _id(self, kind: str) -> str:
        self._numbers += 1
        return ident(kind, self._numbers, self.case.alphabet)

    def amount(self, high: int, low: int = 0) -> int:
        return high if self.case.big_values else self.rng.randint(low, high)

    def at(self) -> int:
        """An event time in the campaign's first 10 days (late ones included: valid too)."""
        return self.start_us + self.rng.randrange(10 * DAY)

    def add(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return event


def build_events(case: Case) -> list[dict[str, Any]]:
    """The case's events, the definition first (producers publish it before its events)."""
    b = _Builder(case)
    cid, rng, alphabet = b.cid, b.rng, case.alphabet
    # The roster: the first entries carry long ids, codes and links (events name them); the
    # others short ids, so that 10,000 of them fit in the 1 MiB of a definition.
    named = min(case.roster, 4)
    influencers = [ident("i", n, alphabet) for n in range(named)]
    codes = [f"CODE{n}-" + text(64 - len(f"CODE{n}-"), "Z") for n in range(named)]
    links = [ident("l", n, alphabet) for n in range(named)]
    roster = [
        build.roster_entry(influencers[n], tier=TIERS[n % len(TIERS)], promo_codes=[codes[n]],
                           link_ids=[links[n]])
        for n in range(named)
    ] + [build.roster_entry(f"r{n}", tier="nano") for n in range(named, case.roster)]
    b.add(build.campaign(
        b._id("e"), b.start_us, cid, name=text(200, "N"), brand=text(200, "B"),
        objective="conversion", starts_us=b.start_us, ends_us=b.start_us + 30 * DAY,
        currency="EUR", budget_minor=b.amount(MAX_UNBOUNDED, 1), attribution_window_days=90,
        targets={"orders": 10, "cpa_minor": 1e15}, influencers=roster,
    ))
    authors = [*influencers, ident("u", 0, alphabet)]  # and one who is not on the roster
    posts = [(b._id("p"), authors[n % len(authors)]) for n in range(case.posts)]
    for post_id, influencer in posts:
        b.add(build.post_published(
            b._id("e"), b.at(), cid, post_id=post_id, influencer_id=influencer,
            platform=rng.choice(PLATFORMS), format_=rng.choice(FORMATS),
            followers=b.amount(MAX_UNBOUNDED), cost_minor=b.amount(MAX_UNBOUNDED),
        ))
    # A post's source is fixed by its first record: even posts get interactions, odd ones
    # platform snapshots, never both (that would be a source_mismatch).
    by_events = posts[::2]
    by_platform = posts[1::2]
    for _ in range(case.interactions if by_events else 0):
        post_id, influencer = rng.choice(by_events)
        b.add(build.interaction(
            b._id("e"), b.at(), cid, post_id=post_id, influencer_id=influencer,
            action=rng.choice(("impression", "view", "like", "comment", "share", "save",
                               "reply")),
            viewer_id=b._id("v"), count=b.amount(MAX_COUNT, 1),
        ))
    for _ in range(case.snapshots if by_platform else 0):
        post_id, influencer = rng.choice(by_platform)
        b.add(build.post_metrics(
            b._id("e"), b.at(), cid, post_id=post_id, influencer_id=influencer,
            metrics={name: b.amount(MAX_AMOUNT) for name in
                     ("impressions", "reach", "views", "likes", "comments", "shares", "saves",
                      "replies")},
        ))
    for n in range(case.clicks):
        clicked: str | None
        clicked, influencer = rng.choice(posts) if posts else (None, authors[0])
        agent = text(1000, "M") if n % 3 else "Googlebot " + text(990, "M")
        b.add(build.click(
            b._id("e"), b.at(), cid, link_id=links[n % len(links)] if links else b._id("l"),
            influencer_id=influencer, channel=rng.choice(CLICK_CHANNELS), post_id=clicked,
            visitor_id=ident("x", n % 2, alphabet), user_agent=agent,
        ))
    for n in range(case.orders):
        order_id = b._id("o")
        amount = b.amount(MAX_AMOUNT)
        code = codes[n % len(codes)].lower() if codes and n % 3 == 0 else None
        link = links[n % len(links)] if links and n % 3 == 1 else None
        b.add(build.order(
            b._id("e"), b.at(), cid, order_id=order_id, amount_minor=amount, currency="EUR",
            promo_code=code, link_id=link, customer_id=b._id("k"),
        ))
        if amount >= 1 and n % 2 == 0:  # refunded whole, after the order
            b.add(build.order_refund(
                b._id("e"), b.at(), cid, refund_id=b._id("f"), order_id=order_id,
                amount_minor=amount, currency="EUR",
            ))
    for n in range(case.reviews if posts else 0):
        post_id, influencer = posts[n % len(posts)]
        b.add(build.content_review(
            b._id("e"), b.at(), cid, post_id=post_id, influencer_id=influencer,
            reviewer_id=b._id("w"), scores=dict.fromkeys(CRITERIA, 1 + n % 5),
            comment=text(2000, "C"),
        ))
    for n in range(case.conversions):
        b.add(build.conversion(
            b._id("e"), b.at(), cid, conversion_id=b._id("q"),
            action=CONVERSION_ACTIONS[n % len(CONVERSION_ACTIONS)],
            promo_code=codes[0] if codes and n % 2 else None,
            value_minor=b.amount(MAX_AMOUNT), currency="EUR",
        ))
    for n in range(case.answers):
        b.add(build.survey_response(
            b._id("e"), b.at(), cid, respondent_id=b._id("s"),
            group=("exposed", "control")[n % 2], question=QUESTIONS[n % len(QUESTIONS)],
            positive=n % 3 != 0,
        ))
    if len(b.events) > 1:
        # Unknown fields are ignored: one record is padded to exactly 64 KiB, another holds
        # JSON nested as deep as accepted.
        pad_at = 1 + rng.randrange(len(b.events) - 1)
        b.events[pad_at]["padding"] = ""
        size = len(encode(b.events[pad_at]))
        b.events[pad_at]["padding"] = text(VALUE_MAX - size)
        deep_at = 1 + rng.randrange(len(b.events) - 1)
        if deep_at != pad_at:
            b.events[deep_at]["deep"] = _DEEP
    return b.events


# Stands for the deep document until the event is written: JSON encoders stop far earlier
# (orjson at 255 levels, Python's at its recursion limit), so it is spliced in as text.
_DEEP: Final = "<nested as deep as accepted>"
_DEEP_TEXT: Final = "[" * (DEPTH_MAX - 1) + "]" * (DEPTH_MAX - 1)


def encode(event: dict[str, Any]) -> bytes:
    """The event as a producer writes it (UTF-8, not ASCII-escaped: sizes count bytes)."""
    written = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return written.replace(json.dumps(_DEEP), _DEEP_TEXT).encode()


def lines(case: Case) -> list[str]:
    """The case as replay lines: bare events, keyed by their campaign (contract 5.4)."""
    out = [encode(event).decode() for event in build_events(case)]
    assert len(out[0].encode()) <= DEFINITION_MAX, "the definition must stay valid"
    assert all(len(line.encode()) <= VALUE_MAX for line in out[1:])
    return out
