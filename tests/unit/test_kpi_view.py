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
from kpi_factories import campaign, click, engine_with, interaction, order, post, review

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
    encode_value,
    flush_commands,
    hash_fields,
    key_for,
    parse_fields,
    parse_value,
    redacted_url,
    redis_key,
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
        ),
        post(cost_minor=3333, followers=12345),
        interaction(action="impression", viewer_id="v1", count=7),
        interaction(action="view", viewer_id="v2"),
        interaction(action="like", count=3),
        click(visitor_id="x1"),
        click(visitor_id="x2", post_id="p1"),
        order(amount_minor=4999, link_id="l1"),
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


def test_flush_commands_shape() -> None:
    sets = [
        _campaign_all({"posts": 1, "objective": "awareness"}),
        KpiSet(CID, "campaign", CID, "1m", 60, 120, {"posts": 1}),
        KpiSet(CID, "influencer", "i1", "all", None, None, {"engagements": 4, "reach": 2}),
        KpiSet("c2", "post", "p1", "all", None, None, {"posts": 1}),
    ]
    commands = flush_commands(Flush(sets, 500), {"1m": 11, "1h": 22, "1d": 33})
    verbs = [c[0] for c in commands]
    assert "HINCRBY" not in verbs
    assert "ZINCRBY" not in verbs
    assert ("EXPIRE", "kpi:{c1}:campaign:1m:60", 11) in commands
    assert ("ZADD", "kpi:{c1}:leaderboard:engagements", 4, "i1") in commands
    # absent leaderboard KPIs remove the influencer
    assert ("ZREM", "kpi:{c1}:leaderboard:orders", "i1") in commands
    assert ("ZADD", "kpi:campaigns:awareness", 500, CID) in commands
    assert ("ZREM", "kpi:campaigns:conversion", CID) in commands
    # c2 has no campaign-all set in this flush: its objective set is only refreshed
    assert ("ZADD", "kpi:campaigns:awareness", "XX", 500, "c2") in commands
    published = [loads(str(c[2])) for c in commands if c[0] == "PUBLISH"]
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
    # a hash whose fields can disappear is deleted before it is written; others only grow
    deleted_first = {
        command[1] for i, command in enumerate(commands)
        if command[0] == "HSET" and commands[i - 1] == ("DEL", command[1])
    }
    assert deleted_first == {
        "kpi:{c1}:campaign:all", "kpi:{c1}:influencer:i1:all", "kpi:{c2}:post:p1:all"
    }


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
        ["objective", "conversion"],
        ["target_progress.orders", "50.00% of target"],
        ["target_progress.cpa_minor", "80.00% of target (cost: lower is better)"],
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
