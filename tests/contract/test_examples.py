"""Golden examples: valid ones pass schema and codec, invalid ones fail with the expected reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams import codec
from streams.domain.errors import REASONS, InvalidRecord
from streams.domain.events import TOPIC_TYPES, TYPE_TOPICS
from streams.domain.kpis import COUNTERS, KPI_NAMES, RATIOS

from .support import (
    EVENT_TYPES,
    Case,
    invalid_cases,
    load_schema,
    parse_json,
    valid_examples,
    validator,
)

VALID_EVENTS = [example for type_ in EVENT_TYPES for example in valid_examples(type_)]
CASES = invalid_cases()


def _ids(items: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in items]


def test_every_type_has_valid_examples() -> None:
    for type_ in EVENT_TYPES:
        assert valid_examples(type_), type_


@pytest.mark.parametrize(("name", "event"), VALID_EVENTS, ids=_ids(VALID_EVENTS))
def test_valid_example_matches_its_schema(name: str, event: dict[str, Any]) -> None:
    validator(event["type"]).validate(event)


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


@pytest.mark.parametrize("kind", ["kpi_snapshot", "dead_letter"])
def test_output_examples_match_their_schema(kind: str) -> None:
    examples = valid_examples(kind)
    assert examples
    for _, example in examples:
        validator(kind).validate(example)


def test_invalid_examples_cover_every_reason_the_codec_decides() -> None:
    covered = {case.reason for case in CASES}
    assert covered == set(REASONS) - {"currency_mismatch"}
    assert len({case.name for case in CASES}) == len(CASES)
    for case in CASES:
        assert case.topic in TOPIC_TYPES, case.name
        assert case.why, case.name


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_invalid_example_is_rejected_with_its_reason(case: Case) -> None:
    with pytest.raises(InvalidRecord) as caught:
        codec.decode(case.topic, case.key, case.value, case.timestamp)
    assert caught.value.reason == case.reason, caught.value.detail
    assert caught.value.detail
    assert "\n" not in caught.value.detail


SCHEMA_CASES = [
    case
    for case in CASES
    if case.reason in {"schema_violation", "type_mismatch"} and case.schema_expressible
]
CLEAN_VALUE_CASES = [case for case in CASES if case.reason in {"key_mismatch", "future_timestamp"}]


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[case.name for case in SCHEMA_CASES])
def test_schema_rejects_what_the_codec_calls_a_schema_violation(case: Case) -> None:
    # The schema of the topic's type is the oracle: a type mismatch fails its `type` const.
    value = parse_json(case.value)
    assert not validator(TOPIC_TYPES[case.topic]).is_valid(value), case.why


@pytest.mark.parametrize("case", CLEAN_VALUE_CASES, ids=[case.name for case in CLEAN_VALUE_CASES])
def test_schema_accepts_values_rejected_only_for_key_or_timestamp(case: Case) -> None:
    validator(TOPIC_TYPES[case.topic]).validate(parse_json(case.value))


NOT_EXPRESSIBLE = [case for case in CASES if not case.schema_expressible]


@pytest.mark.parametrize("case", NOT_EXPRESSIBLE, ids=[case.name for case in NOT_EXPRESSIBLE])
def test_rules_beyond_the_schema_are_marked_honestly(case: Case) -> None:
    # These values satisfy the schema: only the codec knows the rule (ordering, uniqueness).
    assert validator(TOPIC_TYPES[case.topic]).is_valid(parse_json(case.value))


def test_schema_kpi_lists_follow_the_domain() -> None:
    targets = load_schema("campaign")["properties"]["targets"]["anyOf"][0]["properties"]
    assert set(targets) == KPI_NAMES
    kpis = load_schema("kpi_snapshot")["properties"]["kpis"]["properties"]
    assert set(kpis) == KPI_NAMES | {"objective", "target_progress"}
    assert all(kpis[name]["type"] == "integer" for name in COUNTERS)
    assert all(kpis[name]["type"] == "number" for name in RATIOS)


def test_schemas_are_2020_12_with_ids() -> None:
    from .support import SCHEMAS

    names = sorted(path.name for path in SCHEMAS.glob("*.schema.json"))
    assert names == sorted(
        f"{name}.schema.json"
        for name in (*EVENT_TYPES, "common", "kpi_snapshot", "dead_letter")
    )
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith("/" + path.name)
