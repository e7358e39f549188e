"""Shared helpers of the contract tests: schemas (the oracle), examples and record cases."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry, Resource

from streams.domain.engine import Engine
from streams.domain.errors import InvalidRecord
from streams.domain.vocabulary import Outcome, Topic
from streams.processing import apply_record

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = SCHEMAS / "examples"
# Contract 1: the event types, v1 and v2.
EVENT_TYPES = (
    "campaign", "post_published", "interaction", "post_metrics", "click", "order", "order_refund",
    "content_review", "conversion", "survey_response",
)
# Contract 1, the topic table: the types each topic carries.
TOPIC_TYPES: dict[str, tuple[str, ...]] = {
    "campaigns": ("campaign",),
    "posts": ("post_published",),
    "interactions": ("interaction", "post_metrics"),
    "clicks": ("click",),
    "orders": ("order", "order_refund"),
    "content-reviews": ("content_review",),
    "conversions": ("conversion",),
    "surveys": ("survey_response",),
}
TYPE_TOPICS = {type_: topic for topic, types in TOPIC_TYPES.items() for type_ in types}
SCHEMA_ID = "https://campaign-kpi-streams.example/schemas/v2/"


def _ecma_pattern(pattern: str) -> str:
    # JSON Schema patterns are ECMA-262: '$' (no multiline flag) is the very end of the
    # string. Python's '$' also matches before a final newline, which would let "id\n" or a
    # time followed by "\n" through; '\Z' is the ECMA meaning.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not re.search(_ecma_pattern(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The contract's integer is a JSON number written without fraction or exponent: after
# parsing with the json module, exactly a Python int (bool excluded). JSON Schema's own
# "integer" would accept 5.0, so the schemas are read with this stricter checker.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, instance: type(instance) is int
)
ContractValidator: Any = validators.extend(
    Draft202012Validator, validators={"pattern": _pattern}, type_checker=_TYPES
)


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return schema


def registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    return registry


_REGISTRY = registry()
_VALIDATORS: dict[str, Any] = {}


def validator(name: str) -> Any:
    """The oracle validator of ``schemas/<name>.schema.json`` (refs resolved)."""
    if name not in _VALIDATORS:
        _VALIDATORS[name] = ContractValidator(load_schema(name), registry=_REGISTRY)
    return _VALIDATORS[name]


def _parse_int(digits: str) -> int | float:
    # Python refuses int() of more than 4300 digits; such an integer is out of every range.
    return int(digits) if len(digits) < 4000 else float("inf")


def parse_json(value: bytes) -> Any:
    """Parse like a plain RFC 8259 reader (the oracle's side); raise ValueError if not JSON."""

    def reject(name: str) -> Any:
        raise ValueError(name)

    return json.loads(value.decode("utf-8"), parse_constant=reject, parse_int=_parse_int)


def schema_reason(topic: str, value: Any) -> str | None:
    """What the schemas of a topic's types say about a parsed value (None: valid).

    The checks of contract 4 that schemas can express, in their order: not an object or no
    string ``type`` (schema_violation), a ``type`` the topic does not carry (type_mismatch),
    then the schema of that type.
    """
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return "schema_violation"
    if value["type"] not in TOPIC_TYPES[topic]:
        return "type_mismatch"
    return None if validator(value["type"]).is_valid(value) else "schema_violation"


@dataclass(frozen=True)
class Record:
    """A record applied before an example (the state an engine-level rule needs)."""

    topic: str
    key: bytes | None
    value: bytes
    timestamp: int | None


@dataclass(frozen=True)
class Case:
    """One invalid-record example of schemas/examples/invalid."""

    name: str
    topic: str
    key: bytes | None
    value: bytes
    timestamp: int | None
    reason: str
    why: str
    schema_expressible: bool
    after: tuple[Record, ...] = ()


def load_case(path: Path) -> Case:
    raw = json.loads(path.read_text())
    if "key_base64" in raw:
        key: bytes | None = base64.b64decode(raw["key_base64"])
    else:
        key = None if raw["key"] is None else raw["key"].encode()
    if "value_base64" in raw:
        value = base64.b64decode(raw["value_base64"])
    else:
        value = raw["value"].encode("utf-8", "surrogatepass")
    if "pad_to" in raw:
        value = value.ljust(raw["pad_to"], b" ")
    return Case(
        name=path.stem,
        topic=raw["topic"],
        key=key,
        value=value,
        timestamp=raw["timestamp"],
        reason=raw["reason"],
        why=raw["why"],
        schema_expressible=raw.get("schema_expressible", True),
        after=tuple(
            Record(
                before["topic"],
                None if before["key"] is None else before["key"].encode(),
                before["value"].encode(),
                before.get("timestamp"),
            )
            for before in raw.get("after", ())
        ),
    )


def invalid_cases() -> list[Case]:
    return [load_case(path) for path in sorted((EXAMPLES / "invalid").glob("*.json"))]


def valid_examples(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{kind}/{path.stem}", json.loads(path.read_text()))
        for path in sorted((EXAMPLES / "valid" / kind).glob("*.json"))
    ]


def verdict(case: Case) -> InvalidRecord | None:
    """What the product says of a case: its rejection, or None when it is counted."""
    engine = Engine()
    for before in case.after:
        outcome, _ = apply_record(engine, Topic(before.topic), before.key, before.value,
                                  before.timestamp)
        assert outcome is Outcome.COUNTED, (case.name, before)
    outcome, result = apply_record(engine, Topic(case.topic), case.key, case.value,
                                   case.timestamp)
    if isinstance(result, InvalidRecord):
        assert outcome is Outcome.INVALID
        return result
    return None
