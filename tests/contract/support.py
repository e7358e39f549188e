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

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = SCHEMAS / "examples"
EVENT_TYPES = ("campaign", "post_published", "interaction", "click", "order", "content_review")


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
    )


def invalid_cases() -> list[Case]:
    return [load_case(path) for path in sorted((EXAMPLES / "invalid").glob("*.json"))]


def valid_examples(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{kind}/{path.stem}", json.loads(path.read_text()))
        for path in sorted((EXAMPLES / "valid" / kind).glob("*.json"))
    ]
