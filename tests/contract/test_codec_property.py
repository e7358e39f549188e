"""Property: on generated events, the codec accepts exactly what the JSON Schema accepts.

Events are built valid, then fields are dropped, nulled or replaced by "wild" values
(neighbours of every bound, wrong types, ids with forbidden characters, broken times...).
Only rules the schema can express are in play: the record key always matches a string
``campaign_id``, no timestamp is given (no future check), values stay far below the size
limits, a roster never shares a code or link between influencers, and ``ends_at`` is kept
after ``starts_at``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from streams import codec
from streams.domain.errors import InvalidRecord
from streams.domain.kpis import KPI_NAMES

from .support import TYPE_TOPICS, parse_json, schema_reason

# The closed vocabularies of contract 1, as written there.
OBJECTIVES = frozenset({"awareness", "engagement", "conversion"})
TIERS = frozenset({"nano", "micro", "mid", "macro", "mega"})
PLATFORMS = frozenset({"instagram", "tiktok", "youtube", "facebook", "x", "linkedin",
                       "pinterest", "twitch", "snapchat", "blog", "other"})
FORMATS = frozenset({"post", "carousel", "reel", "story", "video", "short", "live", "other"})
ACTIONS = frozenset({"impression", "view", "like", "comment", "share", "save", "reply"})
CHANNELS = frozenset({"link", "swipe_up", "qr", "bio_link"})
CRITERIA = ("brand_fit", "tone", "storytelling", "creativity", "reusability", "compliance")
CONVERSION_ACTIONS = frozenset({"lead", "signup", "app_install", "download", "contest_entry",
                                "subscription", "other"})
GROUPS = frozenset({"exposed", "control"})
QUESTIONS = frozenset({"awareness", "recall", "consideration", "preference", "intent"})
METRICS = ("impressions", "reach", "views", "likes", "comments", "shares", "saves", "replies")

SAFE_CHARS = st.characters(
    exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="{}|"
)
NASTY_CHARS = st.sampled_from(
    [
        " ",
        "\t",
        "\n",
        "\x00",
        "\x7f",
        "\x85",
        "\xa0",
        "\u1680",
        "\u2003",
        "\u2028",
        "\u2029",
        "\u202f",
        "\u205f",
        "\u3000",
        "{",
        "}",
        "|",
        "\u200b",
        "é",
        "😀",
        "a",
        "-",
    ]
)
VALID_IDS = st.text(SAFE_CHARS, min_size=1, max_size=128) | st.from_regex(
    r"[a-z]{1,3}-[0-9]{1,6}", fullmatch=True
)
WILD_IDS = st.one_of(
    st.tuples(st.text(SAFE_CHARS, max_size=4), NASTY_CHARS, st.text(SAFE_CHARS, max_size=4)).map(
        "".join
    ),
    st.text(st.one_of(SAFE_CHARS, NASTY_CHARS), min_size=0, max_size=130),
    st.text(SAFE_CHARS, min_size=127, max_size=130),
    st.just(""),
)


@st.composite
def times(draw: st.DrawFn, wild: bool = False) -> str:
    parts = {
        "year": draw(st.integers(1970, 2100) | st.sampled_from([1970, 2100])),
        "month": draw(st.integers(1, 12)),
        "day": draw(st.integers(1, 28)),
        "hour": draw(st.integers(0, 23)),
        "minute": draw(st.integers(0, 59)),
        "second": draw(st.integers(0, 59)),
    }
    fraction = draw(st.sampled_from(["", ".5", ".123", ".123456", ".1234567", ".999999999"]))
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+02:00", "-05:30", "+23:59"]))
    sep = draw(st.sampled_from(["T", "t"]))
    if wild:  # break exactly one part (or land on a valid edge)
        part = draw(st.sampled_from([*parts, "fraction", "zone", "sep", "leap"]))
        if part == "year":
            parts["year"] = draw(st.sampled_from([1969, 2101, 1900, 9999]))
        elif part == "month":
            parts["month"] = draw(st.sampled_from([0, 13]))
        elif part == "day":
            parts["day"] = draw(st.sampled_from([0, 29, 30, 31, 32]))
        elif part in ("hour", "minute", "second"):
            parts[part] = draw(st.sampled_from([24, 60, 99]))
        elif part == "fraction":
            fraction = draw(st.sampled_from([".", ",5", ".5.5"]))
        elif part == "zone":
            zone = draw(st.sampled_from(["", "+24:00", "+01:60", "+0100", "UTC", "+1:00", "Z\n"]))
        elif part == "sep":
            sep = draw(st.sampled_from([" ", "_", ""]))
        else:
            parts["year"] = draw(st.sampled_from([1972, 2000, 2024, 2100, 2026, 1900]))
            parts["month"], parts["day"] = 2, 29
    p = parts
    return (
        f"{p['year']:04d}-{p['month']:02d}-{p['day']:02d}{sep}{p['hour']:02d}:{p['minute']:02d}"
        f":{p['second']:02d}{fraction}{zone}"
    )


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high) | st.sampled_from([low, high])


def wild_integers(low: int, high: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from([low - 1, high + 1]),
        st.sampled_from([high + 1, low - 1]),
        st.sampled_from([low - 1, low, high, high + 1, -(2**63), 2**64, 10**30]),
        st.integers(),
        st.integers(low, high).map(float),
        st.booleans(),
        st.integers(low, high).map(str),
    )


def text(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(min_size=low, max_size=high) | st.integers(low, high).map(lambda n: "é" * n)


def wild_text(low: int, high: int) -> st.SearchStrategy[Any]:
    edges = st.sampled_from([low - 1, high + 1, high]).filter(lambda n: n >= 0)
    return st.one_of(
        edges.map(lambda n: "é" * n),
        edges.map(lambda n: "é" * n),
        st.integers(max(low - 1, 0), high + 1).map(lambda n: "x" * n),
        st.integers(),
        st.none(),
        st.lists(st.text(max_size=3), max_size=2),
    )


def enum(values: frozenset[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(values))


def wild_enum(values: frozenset[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        enum(values).map(str.upper), st.text(max_size=8), st.integers(), enum(values).map(list)
    )


ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

# field -> (required, valid strategy, wild strategy)
Spec = dict[str, tuple[bool, st.SearchStrategy[Any], st.SearchStrategy[Any]]]
ID = (VALID_IDS, WILD_IDS)
CURRENCY = (
    st.from_regex(r"[A-Z]{3}", fullmatch=True),
    st.sampled_from(["eur", "EURO", "EU", "ÉUR", "E1R", 978]),
)


def score_maps(wild: bool) -> st.SearchStrategy[Any]:
    criteria = st.sampled_from([*CRITERIA, "humour", "Tone"] if wild else list(CRITERIA))
    if not wild:
        # Null scores are dropped; at least one real score stays.
        return st.tuples(
            st.dictionaries(criteria, st.integers(1, 5), min_size=1, max_size=6),
            st.dictionaries(criteria, st.none(), max_size=3),
        ).map(lambda maps: {**maps[1], **maps[0]})
    scores = st.one_of(
        st.sampled_from([0, 6]), st.integers(0, 6), st.none(), st.just(4.0), st.booleans()
    )
    maps = st.dictionaries(criteria, scores, min_size=0, max_size=7)
    return st.one_of(maps, st.lists(st.integers(1, 5), max_size=2))


def targets(wild: bool) -> st.SearchStrategy[Any]:
    names = st.sampled_from([*sorted(KPI_NAMES), "not_a_kpi", "Orders"])
    positive = st.integers(1, 10**20) | st.floats(min_value=1e-300, max_value=1e300)
    values = st.one_of(positive, st.none())
    if wild:
        values = st.one_of(
            st.sampled_from([0, -1, -0.5, 0.0, True, "1"]), values, st.text(max_size=2)
        )
    maps = st.dictionaries(names, values, max_size=4)
    return st.one_of(maps, st.lists(st.integers(), max_size=1)) if wild else maps


@st.composite
def rosters(draw: st.DrawFn, wild: bool) -> Any:
    if wild and draw(st.booleans()):
        return draw(
            st.one_of(
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.text(max_size=3)
            )
        )
    items: list[Any] = []
    for index in range(draw(st.integers(0, 3))):
        # Codes and links carry the item index: no two influencers ever share one.
        item: dict[str, Any] = {"influencer_id": draw(VALID_IDS)}
        if draw(st.booleans()):
            item["tier"] = draw(enum(TIERS) | st.none())
        if draw(st.booleans()):
            item["promo_codes"] = [
                f"C{index}{code}" for code in draw(st.lists(st.text(max_size=60), max_size=3))
            ]
        if draw(st.booleans()):
            item["link_ids"] = [
                f"L{index}-{n}" for n in draw(st.lists(st.integers(0, 99), max_size=3))
            ]
        if wild:
            mutation = draw(st.integers(0, 7))
            if mutation == 0:
                item.pop("influencer_id")
            elif mutation == 1:
                item["influencer_id"] = draw(WILD_IDS)
            elif mutation == 2:
                item["tier"] = draw(wild_enum(TIERS))
            elif mutation == 3:
                item["promo_codes"] = [draw(st.sampled_from(["", "P" * 65, None, 5]))]
            elif mutation == 4:
                item["link_ids"] = [draw(WILD_IDS)]
            elif mutation == 5:
                items.append(draw(st.sampled_from([None, 1, "inf", []])))
        items.append(item)
    return items


SPECS: dict[str, Spec] = {
    "campaign": {
        "name": (True, text(1, 200), wild_text(1, 200)),
        "brand": (False, text(0, 200), wild_text(0, 200)),
        "objective": (True, enum(OBJECTIVES), wild_enum(OBJECTIVES)),
        "currency": (True, *CURRENCY),
        "budget_minor": (False, integers(0, 10**15), wild_integers(0, 10**15)),
        "attribution_window_days": (False, integers(0, 90), wild_integers(0, 90)),
        "targets": (False, targets(False), targets(True)),
        "influencers": (False, rosters(False), rosters(True)),
    },
    "post_published": {
        "post_id": (True, *ID),
        "influencer_id": (True, *ID),
        "platform": (True, enum(PLATFORMS), wild_enum(PLATFORMS)),
        "format": (True, enum(FORMATS), wild_enum(FORMATS)),
        "followers": (True, integers(0, 10**15), wild_integers(0, 10**15)),
        "cost_minor": (False, integers(0, 10**15), wild_integers(0, 10**15)),
    },
    "interaction": {
        "post_id": (True, *ID),
        "influencer_id": (True, *ID),
        "action": (True, enum(ACTIONS), wild_enum(ACTIONS)),
        "viewer_id": (False, *ID),
        "count": (False, integers(1, 10**6), wild_integers(1, 10**6)),
    },
    "click": {
        "link_id": (True, *ID),
        "influencer_id": (True, *ID),
        "post_id": (False, *ID),
        "channel": (True, enum(CHANNELS), wild_enum(CHANNELS)),
        "visitor_id": (False, *ID),
        "user_agent": (False, text(0, 1000), wild_text(0, 1000)),
    },
    "order": {
        "order_id": (True, *ID),
        "amount_minor": (True, integers(0, 10**12), wild_integers(0, 10**12)),
        "currency": (True, *CURRENCY),
        "promo_code": (False, text(1, 64), wild_text(1, 64)),
        "link_id": (False, *ID),
        "customer_id": (False, *ID),
    },
    "content_review": {
        "post_id": (True, *ID),
        "influencer_id": (True, *ID),
        "reviewer_id": (True, *ID),
        "scores": (True, score_maps(False), score_maps(True)),
        "comment": (False, text(0, 2000), wild_text(0, 2000)),
    },
    # v2
    "post_metrics": {
        "post_id": (True, *ID),
        "influencer_id": (True, *ID),
        **{
            metric: (False, integers(0, 10**12), wild_integers(0, 10**12))
            for metric in METRICS
        },
    },
    "order_refund": {
        "refund_id": (True, *ID),
        "order_id": (True, *ID),
        "amount_minor": (True, integers(1, 10**12), wild_integers(1, 10**12)),
        "currency": (True, *CURRENCY),
    },
    "conversion": {
        "conversion_id": (True, *ID),
        "action": (True, enum(CONVERSION_ACTIONS), wild_enum(CONVERSION_ACTIONS)),
        "promo_code": (False, text(1, 64), wild_text(1, 64)),
        "link_id": (False, *ID),
        "customer_id": (False, *ID),
        "value_minor": (False, integers(0, 10**12), wild_integers(0, 10**12)),
        "currency": (False, *CURRENCY),
    },
    "survey_response": {
        "respondent_id": (True, *ID),
        "group": (True, enum(GROUPS), wild_enum(GROUPS)),
        "question": (True, enum(QUESTIONS), wild_enum(QUESTIONS)),
        "positive": (True, st.booleans(), st.sampled_from([0, 1, "true", "false", [], {}])),
    },
}
WILD_TIMES = st.one_of(times(wild=True), st.text(max_size=30), st.integers())
COMMON: Spec = {
    "event_id": (True, *ID),
    "occurred_at": (True, times(), WILD_TIMES),
    "campaign_id": (True, *ID),
}


def spec_of(type_: str) -> Spec:
    spec = {**COMMON, **SPECS[type_]}
    if type_ == "campaign":
        spec["starts_at"] = (True, st.just("2026-03-01T00:00:00Z"), WILD_TIMES)
        spec["ends_at"] = (True, st.just("2026-04-01T00:00:00+02:00"), WILD_TIMES)
    return spec


@st.composite
def events(draw: st.DrawFn, type_: str, target: str) -> dict[str, Any]:
    """An event of ``type_``, valid but for ``target`` ("*": a few random fields)."""
    spec = spec_of(type_)
    event: dict[str, Any] = {"type": type_}
    for name, (required, valid, _) in spec.items():
        if required or draw(st.booleans()):
            event[name] = draw(st.none() if not required and draw(st.booleans()) else valid)
    names = [*sorted(spec), "type"]
    if target == "*":
        mutated = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
    else:
        mutated = [target]
    for name in mutated:
        choice = draw(st.sampled_from(["wild", "wild", "wild", "wild", "null", "absent"]))
        if choice == "absent":
            event.pop(name, None)
        elif choice == "null":
            event[name] = None
        elif name == "type":
            event[name] = draw(st.sampled_from([
                7, "Interaction", "order", "campaign", "", "post_metrics", "order_refund",
                "interaction", "conversion", "survey_response",
            ]))
        else:
            event[name] = draw(spec[name][2])
    if draw(st.booleans()):
        event["x_extra"] = draw(ANY_JSON)
    return event


TARGETS = [(type_, name) for type_ in sorted(SPECS) for name in [*spec_of(type_), "type", "*"]]


@pytest.mark.parametrize(("type_", "target"), TARGETS, ids=[f"{t}.{n}" for t, n in TARGETS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_codec_accepts_exactly_what_the_schema_accepts(
    type_: str, target: str, data: st.DataObject
) -> None:
    event = data.draw(events(type_, target))
    topic = TYPE_TOPICS[type_]  # the topic the producer meant; `type` may be mutated
    starts = codec.parse_time(event.get("starts_at"))
    ends = codec.parse_time(event.get("ends_at"))
    assume(starts is None or ends is None or ends > starts)  # not schema-expressible
    campaign_id = event.get("campaign_id")
    key = campaign_id.encode() if isinstance(campaign_id, str) else b"-"
    value = json.dumps(event, ensure_ascii=False).encode()

    try:
        codec.decode(topic, key, value, None)
        accepted, reason = True, None
    except InvalidRecord as exc:
        accepted, reason = False, str(exc.reason)
    expected = schema_reason(topic, parse_json(value))
    assert reason == expected, (type_, event)
    event_outcome(accepted, reason)


def event_outcome(accepted: bool, reason: str | None) -> None:
    from hypothesis import event

    event("accepted" if accepted else f"rejected: {reason}")
