"""Golden examples: valid ones pass schema and codec, invalid ones fail with the expected reason.

The schemas are the oracle; the codec (and, for the rules that need state, the engine) must
reach the same verdict with the same reason on every example.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from streams import codec
from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.kpis import (
    ATTRIBUTES,
    KPI_NAMES,
    OBJECT_KPIS,
    PUBLISHED_COUNTERS,
    RATIO_NAMES,
)
from streams.domain.vocabulary import Outcome, Topic
from streams.processing import apply_record

from .support import (
    EVENT_TYPES,
    SCHEMA_ID,
    SCHEMAS,
    TOPIC_TYPES,
    TYPE_TOPICS,
    Case,
    invalid_cases,
    load_schema,
    parse_json,
    schema_reason,
    valid_examples,
    validator,
    verdict,
)

VALID_EVENTS = [example for type_ in EVENT_TYPES for example in valid_examples(type_)]
CASES = invalid_cases()
# Decided with state (contract 4, checks 8-10): the engine, after the case's `after` records.
ENGINE_REASONS = {"currency_mismatch", "source_mismatch", "refund_exceeds_order"}
SCHEMA_REASONS = {"schema_violation", "type_mismatch"}


def _ids(items: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in items]


def test_every_type_has_valid_examples() -> None:
    for type_ in EVENT_TYPES:
        assert valid_examples(type_), type_


def test_the_topic_table_is_the_products() -> None:
    from streams.domain.vocabulary import TOPIC_TYPES as PRODUCT_TOPIC_TYPES

    assert {str(topic): types for topic, types in PRODUCT_TOPIC_TYPES.items()} == TOPIC_TYPES
    assert set(load_schema("common")["$defs"]["eventType"]["enum"]) == set(EVENT_TYPES)


@pytest.mark.parametrize(("name", "event"), VALID_EVENTS, ids=_ids(VALID_EVENTS))
def test_valid_example_matches_its_schema(name: str, event: dict[str, Any]) -> None:
    validator(event["type"]).validate(event)
    assert schema_reason(TYPE_TOPICS[event["type"]], event) is None


@pytest.mark.parametrize(("name", "event"), VALID_EVENTS, ids=_ids(VALID_EVENTS))
def test_valid_example_is_accepted_by_the_codec(name: str, event: dict[str, Any]) -> None:
    value = json.dumps(event, ensure_ascii=False).encode()
    key = event["campaign_id"].encode()
    decoded = codec.decode(TYPE_TOPICS[event["type"]], key, value, None)
    assert decoded.event_id == event["event_id"]
    assert decoded.campaign_id == event["campaign_id"]
    assert decoded.occurred_at_us == codec.parse_time(event["occurred_at"])
    # The record timestamp may be the event time itself, or up to one hour earlier.
    timestamp_ms = -(-decoded.occurred_at_us // 1000) - 3_600_000
    assert codec.decode(TYPE_TOPICS[event["type"]], key, value, timestamp_ms) == decoded


@pytest.mark.parametrize(("name", "event"), VALID_EVENTS, ids=_ids(VALID_EVENTS))
def test_valid_example_is_counted_by_a_fresh_engine(name: str, event: dict[str, Any]) -> None:
    topic = Topic(TYPE_TOPICS[event["type"]])
    value = json.dumps(event, ensure_ascii=False).encode()
    outcome, _ = apply_record(Engine(), topic, event["campaign_id"].encode(), value, None)
    assert outcome is Outcome.COUNTED


@pytest.mark.parametrize("kind", ["kpi_snapshot", "dead_letter"])
def test_output_examples_match_their_schema(kind: str) -> None:
    examples = valid_examples(kind)
    assert examples
    for _, example in examples:
        validator(kind).validate(example)


def test_invalid_examples_cover_every_reason() -> None:
    covered = {case.reason for case in CASES}
    assert covered == set(Reason)
    assert len({case.name for case in CASES}) == len(CASES)
    for case in CASES:
        assert case.topic in TOPIC_TYPES, case.name
        assert case.why, case.name
        assert bool(case.after) == (case.reason in ENGINE_REASONS), case.name


@pytest.mark.parametrize("type_", ["post_metrics", "order_refund", "conversion", "survey_response"])
def test_every_v2_type_has_invalid_examples_of_every_kind(type_: str) -> None:
    prefix = f"{type_}_"
    reasons = {case.reason for case in CASES if case.name.startswith(prefix)}
    assert {"schema_violation", "type_mismatch", "key_mismatch", "future_timestamp"} <= reasons


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_invalid_example_is_rejected_with_its_reason(case: Case) -> None:
    rejection = verdict(case)
    assert rejection is not None, case.why
    assert rejection.reason == case.reason, rejection.detail
    assert rejection.detail
    assert "\n" not in rejection.detail
    if case.reason not in ENGINE_REASONS:
        with pytest.raises(InvalidRecord) as caught:
            codec.decode(case.topic, case.key, case.value, case.timestamp)
        assert caught.value.reason == case.reason


def _schema_decides(case: Case) -> bool:
    """Whether the case's value reaches the schema stage (it is JSON and not too large)."""
    return case.reason not in {"too_large", "malformed_json"}


DECIDABLE = [case for case in CASES if _schema_decides(case)]


@pytest.mark.parametrize("case", DECIDABLE, ids=[case.name for case in DECIDABLE])
def test_schema_and_product_agree_on_every_golden_example(case: Case) -> None:
    """The differential test: schema verdict == product verdict, with the same reason.

    The schema speaks for checks 3-5 of contract 4; a record it accepts is then judged by
    the checks that need the key, the timestamp or state, where the schema must stay silent.
    Rules beyond the schema (``schema_expressible: false``) are the only exceptions.
    """
    from_schema = schema_reason(case.topic, parse_json(case.value))
    if case.reason in SCHEMA_REASONS and case.schema_expressible:
        assert from_schema == case.reason, case.why
    else:
        assert from_schema is None, case.why


@pytest.mark.parametrize(("name", "event"), VALID_EVENTS, ids=_ids(VALID_EVENTS))
def test_schema_and_codec_agree_on_every_valid_example_on_every_topic(
    name: str, event: dict[str, Any]
) -> None:
    # On a topic that does not carry its type, both say type_mismatch.
    value = json.dumps(event, ensure_ascii=False).encode()
    for topic in TOPIC_TYPES:
        expected = schema_reason(topic, event)
        try:
            codec.decode(topic, event["campaign_id"].encode(), value, None)
            got = None
        except InvalidRecord as rejection:
            got = rejection.reason
        assert got == expected, topic


NOT_EXPRESSIBLE = [case for case in CASES if not case.schema_expressible]


@pytest.mark.parametrize("case", NOT_EXPRESSIBLE, ids=[case.name for case in NOT_EXPRESSIBLE])
def test_rules_beyond_the_schema_are_marked_honestly(case: Case) -> None:
    # These values satisfy the schema: only the codec knows the rule (ordering, uniqueness).
    assert case.reason == "schema_violation"
    assert schema_reason(case.topic, parse_json(case.value)) is None


def test_schema_kpi_lists_follow_the_domain() -> None:
    targets = load_schema("campaign")["properties"]["targets"]["anyOf"][0]["properties"]
    assert set(targets) == KPI_NAMES
    kpis = load_schema("kpi_snapshot")["properties"]["kpis"]["properties"]
    assert set(kpis) == KPI_NAMES | set(OBJECT_KPIS) | set(ATTRIBUTES)
    assert all(kpis[name]["type"] == "integer" for name in PUBLISHED_COUNTERS)
    assert all(kpis[name]["type"] == "number" for name in RATIO_NAMES)
    assert all(kpis[name]["type"] == "object" for name in OBJECT_KPIS)


def test_schemas_are_2020_12_with_ids_and_pass_the_meta_schema() -> None:
    names = sorted(path.name for path in SCHEMAS.glob("*.schema.json"))
    assert names == sorted(
        f"{name}.schema.json"
        for name in (*EVENT_TYPES, "common", "kpi_snapshot", "dead_letter")
    )
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == SCHEMA_ID + path.name
        Draft202012Validator.check_schema(schema)  # the 2020-12 meta-schema


def test_every_event_schema_pins_its_type_and_requires_the_common_fields() -> None:
    for type_ in EVENT_TYPES:
        schema = load_schema(type_)
        assert schema["properties"]["type"] == {"const": type_}
        assert {"event_id", "type", "occurred_at", "campaign_id"} <= set(schema["required"])
