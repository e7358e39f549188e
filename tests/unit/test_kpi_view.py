"""The Redis hash encoding of KPI sets (contract 5.1) and the ``kpis`` command's formatting.

Pure: no Redis here (tests/integration/test_redis_sink.py writes and reads the real one).
"""

from __future__ import annotations

import io
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.codec import loads
from streams.config import Settings
from streams.domain.engine import KpiSet
from streams.kpi_view import (
    StoredKpis,
    format_table,
    format_value,
    main,
    stored_from_fields,
)
from streams.sinks import Flush
from streams.sinks.redis import (
    Call,
    campaign_calls,
    encode_value,
    hash_fields,
    index_calls,
    key_for,
    parse_fields,
    parse_value,
    redacted_url,
    redis_key,
)

from .kpi_factories import (
    answer,
    campaign,
    click,
    conversion,
    engine_with,
    interaction,
    order,
    post,
    refund,
    review,
    roster_entry,
    snapshot,
)

CID = "c1"


def _campaign_all(kpis: dict[str, object], cid: str = CID) -> KpiSet:
    return KpiSet(cid, "campaign", cid, "all", None, None, kpis)


def _round_trip(kpi_set: KpiSet, updated_at_ms: int = 1_700_000_000_123) -> StoredKpis:
    fields = hash_fields(kpi_set, updated_at_ms)
    assert all(isinstance(v, str) for v in fields.values())
    return stored_from_fields(
        redis_key(kpi_set),
        fields,
        campaign_id=kpi_set.campaign_id,
        scope=kpi_set.scope,
        scope_id=kpi_set.scope_id,
        window=kpi_set.window,
    )


# --------------------------------------------------------------------------------------------
# Keys


@pytest.mark.parametrize(
    ("kpi_set", "key"),
    [
        (_campaign_all({}), "kpi:{c1}:campaign:all"),
        (KpiSet(CID, "campaign", CID, "1m", 60, 120, {}), "kpi:{c1}:campaign:1m:60"),
        (KpiSet(CID, "influencer", "i:1", "all", None, None, {}), "kpi:{c1}:influencer:i:1:all"),
        (
            KpiSet(CID, "influencer", "i1", "1d", 86_400, 172_800, {}),
            "kpi:{c1}:influencer:i1:1d:86400",
        ),
        (KpiSet(CID, "post", "p*1", "all", None, None, {}), "kpi:{c1}:post:p*1:all"),
    ],
)
def test_redis_key_follows_contract_5_1(kpi_set: KpiSet, key: str) -> None:
    assert redis_key(kpi_set) == key
    start = kpi_set.window_start
    assert key_for(CID, kpi_set.scope, kpi_set.scope_id, kpi_set.window, start) == key


def test_key_for_needs_an_id_and_a_start() -> None:
    with pytest.raises(ValueError, match="needs an id"):
        key_for(CID, "post", None, "all", None)
    with pytest.raises(ValueError, match="needs a start"):
        key_for(CID, "campaign", None, "1h", None)


# --------------------------------------------------------------------------------------------
# Encoding and decoding


def test_hash_fields_every_value_type() -> None:
    kpi_set = _campaign_all(
        {
            "posts": 3,
            "revenue_minor": 10**15,
            "ctr": 0.1 + 0.2,
            "roas": 2.0,
            "cpm_minor": 1e16,
            "objective": "conversion",
            "target_progress": {"orders": 0.5, "cpa_minor": 1.25},
        }
    )
    fields = hash_fields(kpi_set, 1234)
    assert fields == {
        "posts": "3",
        "revenue_minor": "1000000000000000",
        "ctr": "0.30000000000000004",
        "roas": "2.0",
        "cpm_minor": "1e+16",
        "objective": "conversion",
        "target_progress": '{"orders":0.5,"cpa_minor":1.25}',
        "updated_at": "1234",
    }
    stored = _round_trip(kpi_set, 1234)
    assert stored.kpis == kpi_set.kpis
    assert {k: type(v) for k, v in stored.kpis.items()} == {
        k: type(v) for k, v in kpi_set.kpis.items()
    }
    assert stored.updated_at_ms == 1234
    assert stored.window_start is None
    assert stored.window_end is None


def test_windowed_hash_carries_its_bounds() -> None:
    kpi_set = KpiSet(CID, "influencer", "i1", "1h", 3600, 7200, {"posts": 0, "reach": 7})
    fields = hash_fields(kpi_set, 99)
    assert fields["window_start"] == "3600"
    assert fields["window_end"] == "7200"
    stored = _round_trip(kpi_set, 99)
    assert (stored.window_start, stored.window_end, stored.updated_at_ms) == (3600, 7200, 99)
    assert stored.kpis == {"posts": 0, "reach": 7}


def test_bytes_fields_decode_like_text() -> None:
    raw = {b"posts": b"5", b"ctr": b"0.25", b"objective": b"awareness", b"updated_at": b"7"}
    assert parse_fields(raw) == {"posts": 5, "ctr": 0.25, "objective": "awareness", "updated_at": 7}


def _doubles() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]),
    ).filter(math.isfinite)


@given(_doubles())
def test_every_finite_double_round_trips_exactly(value: float) -> None:
    text = encode_value("roas", value)
    back = parse_value("roas", text)
    assert isinstance(back, float)
    assert struct.pack("<d", back) == struct.pack("<d", value)  # same bits, -0.0 included


@given(st.integers(-(2**63), 2**63 - 1))
def test_every_integer_round_trips_as_int(value: int) -> None:
    back = parse_value("posts", encode_value("posts", value))
    assert type(back) is int
    assert back == value


@given(st.dictionaries(st.sampled_from(["reach", "cpa_minor", "orders"]), _doubles()))
def test_target_progress_round_trips(progress: dict[str, float]) -> None:
    text = encode_value("target_progress", progress)
    assert loads(text) == progress
    assert parse_value("target_progress", text) == progress


def test_booleans_and_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_value("posts", True)
    with pytest.raises(TypeError):
        encode_value("posts", [1])


def test_real_engine_sets_round_trip() -> None:
    engine = engine_with(
        campaign(
            objective="conversion",
            budget_minor=100_000,
            targets={"orders": 3, "cpa_minor": 700, "reach": 10},
            roster=[roster_entry("i1", links=["l1"], tier="mega")],
        ),
        post(cost_minor=3333, followers=12345),
        post(post_id="p2", influencer_id="i2"),
        snapshot(post_id="p2", influencer_id="i2", likes=5, reach=40),
        refund(order_id="o-1", amount_minor=10),
        conversion(action="app_install", link_id="l1", value_minor=7, currency="EUR"),
        answer(group="control", positive=False),
        answer(respondent_id="u2", positive=True),
        interaction(action="impression", viewer_id="v1", count=7),
        interaction(action="view", viewer_id="v2"),
        interaction(action="like", count=3),
        click(visitor_id="x1"),
        click(visitor_id="x2", post_id="p1"),
        order(amount_minor=4999, link_id="l1", order_id="o-1"),
        refund(order_id="o-1", amount_minor=99),
        review(scores={"tone": 4, "brand_fit": 5, "creativity": 3}),
    )
    all_sets = list(engine.all_sets())
    assert {s.scope for s in all_sets} == {"campaign", "influencer", "post"}
    seen_types: set[type] = set()
    for kpi_set in all_sets:
        stored = _round_trip(kpi_set)
        assert stored.kpis == kpi_set.kpis, kpi_set.key
        for name, value in kpi_set.kpis.items():
            assert type(stored.kpis[name]) is type(value), name
            seen_types.add(type(value))
    assert seen_types == {int, float, str, dict}


# --------------------------------------------------------------------------------------------
# The transaction's commands (pure)


def commands(call: Call) -> list[tuple[object, ...]]:
    """The commands a campaign call runs.

    Its argv is the flush sequence, then per command its argument count and its arguments.
    """
    argv = call.argv[1:]
    out: list[tuple[object, ...]] = []
    i = 0
    while i < len(argv):
        count = argv[i]
        assert isinstance(count, int)
        out.append(tuple(argv[i + 1 : i + 1 + count]))
        i += 1 + count
    return out


def test_campaign_calls_shape() -> None:
    sets = [
        _campaign_all({"posts": 1, "objective": "awareness"}),
        KpiSet(CID, "campaign", CID, "1m", 60, 120, {"posts": 1}),
        KpiSet(CID, "influencer", "i1", "all", None, None,
               {"engagements": 4, "reach": 2, "reach_sum": 3, "conversions": 1}),
        KpiSet("c2", "post", "p1", "all", None, None, {"posts": 1}),
    ]
    calls = campaign_calls(Flush(sets, 500, sequences={CID: 7}), {"1m": 11, "1h": 22, "1d": 33})
    assert [call.campaign_id for call in calls] == [CID, "c2"]
    first = commands(calls[0])
    assert calls[0].argv[0] == 7  # the flush sequence the script compares
    verbs = [c[0] for c in first]
    assert "HINCRBY" not in verbs
    assert "ZINCRBY" not in verbs
    assert ("EXPIRE", "kpi:{c1}:campaign:1m:60", 11) in first
    zadds = {c[1]: c[2:] for c in first if c[0] == "ZADD"}
    # contract 5.1: the leaderboards, v2 reach_sum and conversions included
    assert zadds["kpi:{c1}:leaderboard:engagements"] == (4, "i1")
    assert zadds["kpi:{c1}:leaderboard:reach"] == (2, "i1")
    assert zadds["kpi:{c1}:leaderboard:reach_sum"] == (3, "i1")
    assert zadds["kpi:{c1}:leaderboard:conversions"] == (1, "i1")
    assert zadds["kpi:{c1}:influencers"] == (500, "i1")
    # absent leaderboard KPIs remove the influencer
    zrems = {c[1]: c[2:] for c in first if c[0] == "ZREM"}
    assert zrems == {
        "kpi:{c1}:leaderboard:clicks_valid": ("i1",),
        "kpi:{c1}:leaderboard:orders": ("i1",),
        "kpi:{c1}:leaderboard:revenue_minor": ("i1",),
    }
    published = [loads(str(c[2])) for call in calls for c in commands(call) if c[0] == "PUBLISH"]
    assert published == [
        {
            "campaign_id": CID,
            "keys": sorted(
                [
                    "kpi:{c1}:campaign:all",
                    "kpi:{c1}:campaign:1m:60",
                    "kpi:{c1}:influencer:i1:all",
                ]
            ),
        },
        {"campaign_id": "c2", "keys": ["kpi:{c2}:post:p1:all"]},
    ]
    # every key a call touches is declared (one Redis Cluster slot: the campaign's tag)
    for call in calls:
        touched = {str(c[1]) for c in commands(call) if c[0] != "PUBLISH"}
        assert touched <= set(call.keys)
        assert all(key.startswith(f"kpi:{{{call.campaign_id}}}:") for key in call.keys)
    # every hash is written whole: deleted, then set (a ratio whose denominator went back to 0,
    # or a set rewritten after a lost Redis, must not keep old fields)
    deleted_first = {
        command[1]
        for call in calls
        for i, command in enumerate(commands(call))
        if command[0] == "HSET" and commands(call)[i - 1] == ("DEL", command[1])
    }
    assert deleted_first == {
        "kpi:{c1}:campaign:all", "kpi:{c1}:campaign:1m:60", "kpi:{c1}:influencer:i1:all",
        "kpi:{c2}:post:p1:all",
    }


def test_index_calls_move_a_campaign_between_objective_sets() -> None:
    sets = [
        _campaign_all({"posts": 1, "objective": "awareness"}),
        KpiSet("c2", "post", "p1", "all", None, None, {"posts": 1}),
    ]
    calls = {(script, call.keys[0]): call.argv for script, call in index_calls(Flush(sets, 500))}
    assert calls["index", "kpi:campaigns"] == [500, CID, "c2", "|"]
    assert calls["index", "kpi:campaigns:awareness"] == [500, CID, "|"]
    assert calls["index", "kpi:campaigns:conversion"] == [500, "|", CID]
    # c2 has no campaign-all set in this flush: its objective sets are only refreshed
    assert calls["refresh", "kpi:campaigns:awareness"] == [500, "c2"]


def test_v2_values_round_trip_through_hash_fields() -> None:
    kpi_set = KpiSet(CID, "post", "12", "all", None, None, {
        "posts": 1,
        "reach": 2**70,  # exact beyond 64 bits (contract 5)
        "likes": -3,  # a window counter can be negative (1.4.1); the type must survive
        "influencer_id": "007",  # attributes are text even when they look like numbers
        "platform": "x",
        "format": "reel",
        "published_at": 1_793_613_900,
        "metrics_source": "platform",
    })
    stored = _round_trip(kpi_set)
    assert stored.kpis == kpi_set.kpis
    assert {k: type(v) for k, v in stored.kpis.items()} == {
        k: type(v) for k, v in kpi_set.kpis.items()
    }
    objects = _campaign_all({
        "conversions_by_action": {"lead": 2, "signup": 1},
        "brand_lift": {"recall": {"exposed": 3, "exposed_positive": 2, "control": 2,
                                  "control_positive": 1, "lift": 1 / 6, "relative_lift": 1 / 3,
                                  "z": 0.3535533905932738}},
        "conversions_by_action_empty": {},
    })
    assert _round_trip(objects).kpis == objects.kpis
    tier = KpiSet(CID, "influencer", "i1", "all", None, None, {"tier": "nano", "posts": 0})
    assert _round_trip(tier).kpis == tier.kpis


# --------------------------------------------------------------------------------------------
# Formatting


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("posts", 12, "12"),
        ("revenue_minor", 123456789, "123456789"),
        ("ctr", 0.012345, "1.23%"),
        ("engagement_rate_by_reach", 1.5, "150.00%"),
        ("budget_used", 0.25, "25.00%"),
        ("conversion_rate", 0.5, "50.00%"),
        ("aov_minor", 2499.5, "2499.50"),
        ("roas", 3.0, "3.00"),
        ("frequency", 1.23456, "1.23"),
        ("content_score", 4.25, "4.25"),
        ("objective", "awareness", "awareness"),
        # v2
        ("action_rate", 0.25, "25.00%"),
        ("engagement_rate_by_reach_sum", 0.5, "50.00%"),
        ("roas_net", -0.25, "-0.25"),
        ("cost_per_conversion_minor", 350.0, "350.00"),
        ("revenue_net_minor", -900, "-900"),
        ("tier", "nano", "nano"),
        ("metrics_source", "platform", "platform"),
    ],
)
def test_format_value(name: str, value: object, text: str) -> None:
    assert format_value(name, value) == text


def test_format_table() -> None:
    stored = _round_trip(
        _campaign_all(
            {
                "posts": 2,
                "ctr": 0.05,
                "cpa_minor": 350.0,
                "objective": "conversion",
                "target_progress": {"orders": 0.5, "cpa_minor": 0.8},
            }
        ),
        1_700_000_000_500,
    )
    text = format_table(stored)
    lines = text.splitlines()
    assert lines[0] == "kpi:{c1}:campaign:all"
    assert lines[1] == "window all; updated 2023-11-14T22:13:20.500Z"
    assert lines[2].split() == ["KPI", "value"]
    rows = [line.split(None, 1) for line in lines[3:]]
    assert rows == [
        ["posts", "2"],
        ["ctr", "5.00%"],
        ["cpa_minor", "350.00"],
        # counters, ratios, then objects, then attributes (objective is one)
        ["target_progress.orders", "50.00% of target"],
        ["target_progress.cpa_minor", "80.00% of target (cost: lower is better)"],
        ["objective", "conversion"],
    ]


def test_format_table_shows_post_attributes_as_text_after_the_kpis() -> None:
    post_all = KpiSet(CID, "post", "p1", "all", None, None, {
        "influencer_id": "007", "platform": "x", "posts": 1, "published_at": 1_773_144_000,
        "metrics_source": "platform", "format": "reel",
    })
    rows = [line.split(None, 1) for line in format_table(_round_trip(post_all)).splitlines()[3:]]
    assert rows == [
        ["posts", "1"], ["influencer_id", "007"], ["platform", "x"], ["format", "reel"],
        ["published_at", "1773144000"], ["metrics_source", "platform"],
    ]


def test_format_table_windowed_header() -> None:
    stored = _round_trip(KpiSet(CID, "campaign", CID, "1h", 1_700_002_800, 1_700_006_400, {}), 0)
    assert format_table(stored).splitlines()[1] == (
        "window 1h [2023-11-14T23:00:00Z, 2023-11-15T00:00:00Z); updated 1970-01-01T00:00:00Z"
    )


def test_stored_to_json_mirrors_the_kpi_topic_value() -> None:
    kpi_set = KpiSet(CID, "influencer", "i1", "1d", 86_400, 172_800, {"posts": 1})
    assert _round_trip(kpi_set, 5).to_json() == {
        "key": "kpi:{c1}:influencer:i1:1d:86400",
        **{k: v for k, v in kpi_set.to_value(5).items() if k != "schema_version"},
    }


# --------------------------------------------------------------------------------------------
# Arguments the command refuses before touching Redis


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scope": "post", "window": "1h"}, "scope post has windows all"),
        ({"scope": "influencer", "window": "1m", "scope_id": "i1"}, "not '1m'"),
        ({"scope": "influencer"}, "needs --id"),
        ({"scope_id": "x"}, "--id is for the influencer and post scopes"),
        ({"start": 60}, "--start is for windowed"),
    ],
)
def test_main_refuses_impossible_queries(kwargs: dict[str, object], message: str) -> None:
    err = io.StringIO()
    # an address where nothing listens: the refusal must come before any connection
    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    status = main(CID, settings=settings, out=io.StringIO(), err=err, **kwargs)  # type: ignore[arg-type]
    assert status == 2
    assert message in err.getvalue()


def test_redacted_url_hides_the_password() -> None:
    assert redacted_url("redis://u:secret@h:1/0") == "redis://u:***@h:1/0"
    assert redacted_url("redis://:secret@h/0") == "redis://***@h/0"
    assert redacted_url("redis://h:1/0") == "redis://h:1/0"
