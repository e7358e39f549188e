r"""The one place where bytes become events (and dead-letter reasons are decided).

:func:`decode` turns one Kafka record of a logical input topic into a typed, immutable event
of :mod:`streams.domain.events`, or raises :class:`~streams.domain.errors.InvalidRecord` with
the reason of the *first* failing check of contract section 4 (docs/contract.md):

1. ``too_large``        value > 64 KiB (> 1 MiB on ``campaigns``);
2. ``malformed_json``   not UTF-8, or not RFC 8259 JSON (``NaN``/``Infinity`` are not JSON);
3. ``schema_violation`` not an object, or ``type`` missing or not a string;
4. ``type_mismatch``    ``type`` is not one of the topic's types;
5. ``schema_violation`` any other rule of section 1;
6. ``key_mismatch``     key missing, not UTF-8, or not the ``campaign_id``;
7. ``future_timestamp`` ``occurred_at`` > record timestamp + 1 hour.

Checks 8-10 (``currency_mismatch``, ``source_mismatch``, ``refund_exceeds_order``) need the
campaign's state, so the domain engine decides them.

The validators are written by hand (no generic JSON Schema validator at run time): decoding
an interaction has to cost a few microseconds. ``schemas/*.schema.json`` describe the same
rules and are the oracle ``tests/contract`` holds this module to.

JSON reading choices (see also ``docs/contract-decisions.md``):

* orjson parses; when it refuses a document, the standard library decides whether the
  document is JSON after all (orjson refuses a few RFC 8259 texts, e.g. ``1e400``).
* Integers beyond 64 bits are JSON: they fail the range checks (``schema_violation``).
* A string holding a lone surrogate escape (``"\ud800"``) is grammatically JSON but denotes
  no Unicode text and cannot be written as UTF-8 again (every output of ours is UTF-8):
  it is ``malformed_json``, wherever it appears, like orjson decides.
* A byte order mark is ``malformed_json`` (RFC 8259 8.1: JSON text must not begin with one).
* A document nested deeper than the parsers allow (about 1000 levels; RFC 8259 section 9
  lets parsers limit depth) is a ``schema_violation``: it is JSON, but not one we accept.
* A number too large for a double (``1e400``) is a ``schema_violation`` wherever a number is
  read (integers out of range; a ``targets`` entry must be finite).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import orjson

from streams.domain.attribution import index_roster
from streams.domain.errors import InvalidRecord, Reason
from streams.domain.events import (
    AnyEvent,
    CampaignDefined,
    Click,
    ContentReview,
    Conversion,
    Interaction,
    Order,
    OrderRefund,
    PostMetrics,
    PostPublished,
    RosterEntry,
    SurveyResponse,
)
from streams.domain.kpis import KPI_NAMES
from streams.domain.vocabulary import (
    CLICK_CHANNELS,
    CONVERSION_ACTIONS,
    CRITERIA,
    FORMATS,
    INTERACTION_ACTIONS,
    OBJECTIVES,
    PLATFORMS,
    QUESTIONS,
    SNAPSHOT_METRICS,
    TIERS,
    TOPIC_TYPES,
    Group,
    Topic,
)

__all__ = [
    "MAX_FUTURE_US",
    "MAX_VALUE_BYTES",
    "MAX_VALUE_BYTES_CAMPAIGNS",
    "dead_letter_key",
    "decode",
    "dumps",
    "encode_dead_letter",
    "is_id",
    "loads",
    "parse_time",
]

MAX_VALUE_BYTES: Final = 65_536
"""Largest record value accepted on every topic but ``campaigns`` (64 KiB)."""
MAX_VALUE_BYTES_CAMPAIGNS: Final = 1_048_576
"""Largest record value accepted on ``campaigns`` (1 MiB)."""
DLQ_VALUE_BYTES: Final = 65_536
"""A dead-letter record carries at most this many bytes of the original value."""
DLQ_KEY_BYTES: Final = 65_536
"""... and of the original key (a dead letter stays below 200 KiB, within any topic limit)."""
MAX_FUTURE_US: Final = 3_600_000_000
"""``occurred_at`` may be at most this much later than the record timestamp (1 hour)."""
DEFAULT_MAX: Final = 10**15
"""Upper bound of an integer whose table row gives none (contract 1.8)."""

MAX_ROSTER: Final = 10_000
MAX_AMOUNT: Final = 10**12
"""Upper bound of amounts, values and snapshot counters (contract 1.4.1, 1.6, 1.6.1, 1.9)."""
_ACTIONS: Final = frozenset(INTERACTION_ACTIONS)
_CHANNELS: Final = frozenset(CLICK_CHANNELS)
_CONVERSION_ACTIONS: Final = frozenset(CONVERSION_ACTIONS)
_FORMATS: Final = frozenset(FORMATS)
_GROUPS: Final = frozenset(Group)
_OBJECTIVES: Final = frozenset(OBJECTIVES)
_PLATFORMS: Final = frozenset(PLATFORMS)
_QUESTIONS: Final = frozenset(QUESTIONS)
_TIERS: Final = frozenset(TIERS)
_E = TypeVar("_E")
_CACHE_MAX: Final = 1 << 16
"""Bound of each validation cache (ids, time prefixes, time tails)."""

# --------------------------------------------------------------------------------------------
# JSON


def dumps(obj: Any) -> bytes:
    """Serialize to compact UTF-8 JSON, keys in insertion order.

    Floats come out as the shortest decimal that reads back as the same double (contract 5).
    Integers are exact however large (contract 5: a sum may pass 64 bits): orjson writes
    64-bit ones; a document holding a larger one is written by the standard library.
    """
    try:
        return orjson.dumps(obj)
    except TypeError as error:
        if "64-bit" not in str(error):
            raise
        return json.dumps(
            obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")


# A run of 19 digits or more not inside a fraction or an exponent: an integer orjson would
# read as a double (it keeps 64 bits), or digits inside a string (read slowly, still right).
_LONG_DIGITS: Final = re.compile(rb"(?<![.eE0-9+-])-?[0-9]{19,}").search


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text (strict RFC 8259: no ``NaN``/``Infinity``, UTF-8 only).

    Integers are read exactly however large; the fast parser reads anything else. Raises
    ValueError for what is not JSON.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if _LONG_DIGITS(raw) is not None:
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except _NotJsonError as error:
            raise ValueError(str(error)) from None
    return orjson.loads(raw)


class _NotJsonError(Exception):
    """The value is not RFC 8259 JSON (or not UTF-8)."""


def _reject_constant(name: str) -> Any:
    raise _NotJsonError(f"{name} is not a JSON value")


def _parse_int(digits: str) -> int | float:
    # The standard library refuses to convert integers of more than 4300 digits; such a
    # number is still JSON, so it becomes an out-of-range value instead of an error.
    if len(digits) > 400:
        return float("-inf") if digits.startswith("-") else float("inf")
    return int(digits)


def _has_surrogate(value: Any) -> bool:
    # Iterative walk: documents here may be nested up to the parser's depth limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


def _parse_slow(value: bytes) -> Any:
    """Decide what orjson refused: not JSON (``_NotJsonError``) or JSON we read another way."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotJsonError(f"value is not UTF-8 (byte {exc.start})") from None
    try:
        parsed = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise _NotJsonError(f"value is not JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise InvalidRecord(
            Reason.SCHEMA_VIOLATION, "value nests deeper than the parser allows"
        ) from None
    if _has_surrogate(parsed):
        raise _NotJsonError("value holds a lone surrogate escape, which is not Unicode text")
    return parsed


# --------------------------------------------------------------------------------------------
# Ids, strings, numbers, times


# An id: 1..128 code points, none of them Unicode White_Space (U+0009..U+000D, U+0020, U+0085,
# U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), Cc (U+0000..U+001F,
# U+007F..U+009F), '{', '}' or '|'.
_ID_FORBIDDEN: Final = (
    "\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000{}|"
)
_ID_MATCH: Final = re.compile(f"[^{_ID_FORBIDDEN}]{{1,128}}").fullmatch


# Ids that recur (campaign, post, influencer, link) are remembered once validated: a set
# lookup costs a tenth of the regex. Bounded, cleared when full.
_KNOWN_IDS: set[str] = set()


def _learn_id(name: str, value: object) -> None:
    """Validate a recurring id and remember it; raise schema_violation when it is not one."""
    _id(name, value)
    assert type(value) is str
    if len(_KNOWN_IDS) >= _CACHE_MAX:
        _KNOWN_IDS.clear()
    _KNOWN_IDS.add(value)


def is_id(value: object) -> bool:
    """Whether ``value`` is an id of contract 1.8."""
    try:
        _id("id", value)
    except InvalidRecord:
        return False
    return True


# A time is cut in two parts validated (and cached) on their own: the 16-character prefix
# "YYYY-MM-DDTHH:MM" -> epoch seconds of that minute as written, and the tail
# ":SS[.fraction](Z|+hh:mm|-hh:mm)" -> microseconds to add (seconds + fraction - offset).
# Event times cluster in minutes and most producers write milliseconds, so both caches hit
# almost always; a miss costs one regex match. Both are bounded (cleared when full).
_PREFIX_MATCH: Final = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]",
    re.ASCII,
).fullmatch
_TAIL_MATCH: Final = re.compile(
    r":([0-5][0-9])(?:\.([0-9]+))?(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))", re.ASCII
).fullmatch
_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_PREFIXES: dict[str, int] = {}
_TAILS: dict[str, int] = {}


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _prefix(prefix: str) -> int | None:
    if _PREFIX_MATCH(prefix) is None:
        return None
    year, month, day = int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10])
    last = _DAYS_IN_MONTH[month]
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        last = 29
    if not (1970 <= year <= 2100 and day <= last):
        return None
    seconds = (
        _days_from_civil(year, month, day) * 86400
        + int(prefix[11:13]) * 3600
        + int(prefix[14:16]) * 60
    )
    if len(_PREFIXES) >= _CACHE_MAX:
        _PREFIXES.clear()
    _PREFIXES[prefix] = seconds
    return seconds


def _tail(tail: str) -> int | None:
    match = _TAIL_MATCH(tail)
    if match is None:
        return None
    second, fraction, sign, off_h, off_m = match.groups()
    seconds = int(second)
    if sign is not None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    micros = seconds * 1_000_000
    if fraction is not None:
        micros += int(fraction[:6].ljust(6, "0"))
    if len(_TAILS) >= _CACHE_MAX:
        _TAILS.clear()
    _TAILS[tail] = micros
    return micros


def parse_time(value: object) -> int | None:
    """Microseconds since the epoch (UTC) of a contract time, or None when it is not one.

    ``YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)``, ``T``/``Z`` in either case, seconds 00..59,
    a real calendar date, year 1970..2100 as written; fraction digits beyond the sixth are
    dropped (truncated).
    """
    if type(value) is not str:
        return None
    prefix = value[:16]
    seconds = _PREFIXES.get(prefix)
    if seconds is None:
        seconds = _prefix(prefix)
        if seconds is None:
            return None
    tail = value[16:]
    micros = _TAILS.get(tail)
    if micros is None:
        micros = _tail(tail)
        if micros is None:
            return None
    return seconds * 1_000_000 + micros


# --------------------------------------------------------------------------------------------
# Error details


def _show(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is str:
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 72 else text[:64] + '..."'
    if type(value) is dict:
        return "an object"
    if type(value) is list:
        return "an array"
    return repr(value)[:64]


def _violation(name: str, rule: str, value: object) -> InvalidRecord:
    if value is None:
        return InvalidRecord(Reason.SCHEMA_VIOLATION, f"field '{name}' is required")
    return InvalidRecord(
        Reason.SCHEMA_VIOLATION, f"field '{name}' must be {rule}, got {_show(value)}"
    )


def _bad_id(name: str, value: object) -> InvalidRecord:
    return _violation(
        name, "an id (1..128 characters, no whitespace, control character, '{', '}' or '|')",
        value,
    )


def _bad_time(name: str, value: object) -> InvalidRecord:
    return _violation(
        name, "a time YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm), year 1970..2100", value
    )


def _bad_int(name: str, low: int, high: int, value: object) -> InvalidRecord:
    return _violation(name, f"an integer in {low}..{high}", value)


def _bad_enum(name: str, allowed: frozenset[str], value: object) -> InvalidRecord:
    return _violation(name, "one of " + ", ".join(sorted(allowed)), value)


def _bad_str(name: str, low: int, high: int, value: object) -> InvalidRecord:
    if low == 0:
        return _violation(name, f"a string of at most {high} characters", value)
    return _violation(name, f"a string of {low}..{high} characters", value)


# --------------------------------------------------------------------------------------------
# Field readers, shared by every decoder. Each takes the value (``obj.get(name)``) so the hot
# decoders pay one call per field and nothing more.


def _id(name: str, value: object) -> str:
    """An id, or schema_violation.

    Printable ASCII without space, braces or bar is an id at once (the common case);
    anything else is decided by the regex.
    """
    if type(value) is str and (
        (
            value.isascii()
            and value.isprintable()
            and 0 < len(value) <= 128
            and " " not in value
            and "{" not in value
            and "}" not in value
            and "|" not in value
        )
        or _ID_MATCH(value)
    ):
        return value
    raise _bad_id(name, value)


def _opt_id(name: str, value: object) -> str | None:
    return None if value is None else _id(name, value)


def _recurring_id(name: str, value: object) -> str:
    """An id that recurs across events (campaign, post, influencer, link): cached once valid."""
    if type(value) is str and value in _KNOWN_IDS:
        return value
    _learn_id(name, value)
    return cast(str, value)


def _time(name: str, value: object) -> int:
    """A time in microseconds (parse_time's cache hits inlined), or schema_violation."""
    if (
        type(value) is str
        and (seconds := _PREFIXES.get(value[:16])) is not None
        and (micros := _TAILS.get(value[16:])) is not None
    ):
        return seconds * 1_000_000 + micros
    parsed = parse_time(value)
    if parsed is None:
        raise _bad_time(name, value)
    return parsed


def _req_id(obj: dict[str, Any], name: str) -> str:
    return _id(name, obj.get(name))


def _req_time(obj: dict[str, Any], name: str) -> int:
    return _time(name, obj.get(name))


def _req_enum(obj: dict[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = obj.get(name)
    if type(value) is str and value in allowed:
        return value
    raise _bad_enum(name, allowed, value)


def _req_int(obj: dict[str, Any], name: str, low: int, high: int) -> int:
    value = obj.get(name)
    if type(value) is int and low <= value <= high:
        return value
    raise _bad_int(name, low, high, value)


def _opt_int(obj: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = obj.get(name)
    if value is None or (type(value) is int and low <= value <= high):
        return value
    raise _bad_int(name, low, high, value)


def _req_str(obj: dict[str, Any], name: str, low: int, high: int) -> str:
    value = obj.get(name)
    if type(value) is str and low <= len(value) <= high:
        return value
    raise _bad_str(name, low, high, value)


def _opt_str(obj: dict[str, Any], name: str, low: int, high: int) -> str | None:
    value = obj.get(name)
    if value is None or (type(value) is str and low <= len(value) <= high):
        return value
    raise _bad_str(name, low, high, value)


def _currency(obj: dict[str, Any]) -> str:
    value = obj.get("currency")
    if (
        type(value) is str
        and len(value) == 3
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    ):
        return value
    raise _violation("currency", "3 capital ASCII letters (ISO 4217)", value)


def _opt_currency(obj: dict[str, Any]) -> str | None:
    return None if obj.get("currency") is None else _currency(obj)


def _req_bool(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name)
    if value is True or value is False:
        return value
    raise _violation(name, "true or false", value)


# --------------------------------------------------------------------------------------------
# Decoders, one per event type. Each returns the event; the common checks after the schema
# (key, future timestamp) run in decode().


def _fast_constructor(cls: type[_E], names: tuple[str, ...]) -> Callable[..., _E]:
    """A positional constructor of a frozen slotted dataclass that skips its ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__`` (~1 us for eight fields,
    a fifth of an interaction's budget); calling the slot descriptors directly halves that.
    Only used when the fields are exactly ``names``, in that order, with no ``__post_init__``;
    otherwise the class is called with keywords, so a change of the domain types stays correct.
    """
    if (
        tuple(field.name for field in dataclasses.fields(cls)) != names  # type: ignore[arg-type]
        or hasattr(cls, "__post_init__")
        or not all(type(getattr(cls, name)).__name__ == "member_descriptor" for name in names)
    ):

        def by_keyword(*args: Any) -> _E:
            return cls(**dict(zip(names, args, strict=True)))

        return by_keyword
    params = ", ".join(f"a{i}" for i in range(len(names)))
    body = "".join(f"    s{i}(o, a{i})\n" for i in range(len(names)))
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"s{i}": getattr(cls, name).__set__ for i, name in enumerate(names)})
    exec(f"def make({params}):\n    o = new(cls)\n{body}    return o\n", namespace)
    made: Callable[..., _E] = namespace["make"]
    return made


_new_interaction: Final = _fast_constructor(
    Interaction,
    ("event_id", "occurred_at_us", "campaign_id", "post_id", "influencer_id", "action",
     "viewer_id", "count"),
)
_new_click: Final = _fast_constructor(
    Click,
    ("event_id", "occurred_at_us", "campaign_id", "link_id", "influencer_id", "channel",
     "post_id", "visitor_id", "user_agent"),
)
_new_order: Final = _fast_constructor(
    Order,
    ("event_id", "occurred_at_us", "campaign_id", "order_id", "amount_minor", "currency",
     "promo_code", "link_id", "customer_id"),
)


def _campaign(obj: dict[str, Any]) -> CampaignDefined:
    event_id = _req_id(obj, "event_id")
    occurred_at = _req_time(obj, "occurred_at")
    campaign_id = _req_id(obj, "campaign_id")
    name = _req_str(obj, "name", 1, 200)
    brand = _opt_str(obj, "brand", 0, 200)
    objective = _req_enum(obj, "objective", _OBJECTIVES)
    starts_at = _req_time(obj, "starts_at")
    ends_at = _req_time(obj, "ends_at")
    if ends_at <= starts_at:
        raise InvalidRecord(
            Reason.SCHEMA_VIOLATION,
            f"field 'ends_at' must be later than 'starts_at', got {_show(obj['ends_at'])} "
            f"and {_show(obj['starts_at'])}",
        )
    currency = _currency(obj)
    budget = _opt_int(obj, "budget_minor", 0, DEFAULT_MAX)
    window = _opt_int(obj, "attribution_window_days", 0, 90)
    targets = _targets(obj.get("targets"))
    roster = _roster(obj.get("influencers"))
    try:
        code_owners, link_owners = index_roster(roster)
    except ValueError as exc:
        raise InvalidRecord(Reason.SCHEMA_VIOLATION, f"field 'influencers': {exc}") from None
    return CampaignDefined(
        event_id=event_id,
        occurred_at_us=occurred_at,
        campaign_id=campaign_id,
        name=name,
        objective=objective,
        starts_at_us=starts_at,
        ends_at_us=ends_at,
        currency=currency,
        brand=brand,
        budget_minor=budget,
        attribution_window_days=7 if window is None else window,
        targets=targets,
        influencers=roster,
        code_owners=code_owners,
        link_owners=link_owners,
    )


def _targets(value: object) -> dict[str, float]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise _violation("targets", "an object", value)
    targets: dict[str, float] = {}
    for name, target in value.items():
        if name not in KPI_NAMES or target is None:
            continue
        if type(target) is int or type(target) is float:
            try:
                number = float(target)
            except OverflowError:
                number = float("inf")
            if 0 < number < float("inf"):
                targets[name] = number
                continue
        raise _violation(f"targets.{name}", "a positive finite number", target)
    return targets


def _roster(value: object) -> tuple[RosterEntry, ...]:
    if value is None:
        return ()
    if type(value) is not list:
        raise _violation("influencers", "an array", value)
    if len(value) > MAX_ROSTER:
        raise InvalidRecord(
            Reason.SCHEMA_VIOLATION,
            f"field 'influencers' must hold at most {MAX_ROSTER} items, got {len(value)}",
        )
    entries = []
    for index, item in enumerate(value):
        where = f"influencers[{index}]"
        if type(item) is not dict:
            raise _violation(where, "an object", item)
        influencer_id = _id(f"{where}.influencer_id", item.get("influencer_id"))
        tier = item.get("tier")
        if tier is not None and not (type(tier) is str and tier in _TIERS):
            raise _bad_enum(f"{where}.tier", _TIERS, tier)
        codes = _str_array(item.get("promo_codes"), f"{where}.promo_codes", False)
        links = _str_array(item.get("link_ids"), f"{where}.link_ids", True)
        entries.append(RosterEntry(influencer_id, tier, codes, links))
    return tuple(entries)


def _str_array(value: object, where: str, ids: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    rule = "an array of ids" if ids else "an array of strings of 1..64 characters"
    if type(value) is not list:
        raise _violation(where, rule, value)
    for index, item in enumerate(value):
        if ids:
            _id(f"{where}[{index}]", item)
        elif not (type(item) is str and 1 <= len(item) <= 64):
            raise _bad_str(f"{where}[{index}]", 1, 64, item)
    return tuple(value)


def _post(obj: dict[str, Any]) -> PostPublished:
    event_id = _req_id(obj, "event_id")
    occurred_at = _req_time(obj, "occurred_at")
    campaign_id = _req_id(obj, "campaign_id")
    post_id = _req_id(obj, "post_id")
    influencer_id = _req_id(obj, "influencer_id")
    platform = _req_enum(obj, "platform", _PLATFORMS)
    format_ = _req_enum(obj, "format", _FORMATS)
    followers = _req_int(obj, "followers", 0, DEFAULT_MAX)
    cost = _opt_int(obj, "cost_minor", 0, DEFAULT_MAX)
    return PostPublished(
        event_id, occurred_at, campaign_id, post_id, influencer_id, platform, format_,
        followers, 0 if cost is None else cost,
    )


def _interaction(obj: dict[str, Any]) -> Interaction:
    get = obj.get
    event_id = _id("event_id", get("event_id"))
    occurred_at = _time("occurred_at", get("occurred_at"))
    campaign_id = _recurring_id("campaign_id", get("campaign_id"))
    post_id = _recurring_id("post_id", get("post_id"))
    influencer_id = _recurring_id("influencer_id", get("influencer_id"))
    action = get("action")
    if not (type(action) is str and action in _ACTIONS):
        raise _bad_enum("action", _ACTIONS, action)
    viewer_id = _opt_id("viewer_id", get("viewer_id"))
    count = get("count")
    if count is None:
        count = 1
    elif not (type(count) is int and 1 <= count <= 1_000_000):
        raise _bad_int("count", 1, 1_000_000, count)
    return _new_interaction(
        event_id, occurred_at, campaign_id, post_id, influencer_id, action, viewer_id, count
    )


def _click(obj: dict[str, Any]) -> Click:
    get = obj.get
    event_id = _id("event_id", get("event_id"))
    occurred_at = _time("occurred_at", get("occurred_at"))
    campaign_id = _recurring_id("campaign_id", get("campaign_id"))
    link_id = _recurring_id("link_id", get("link_id"))
    influencer_id = _recurring_id("influencer_id", get("influencer_id"))
    post_id = _opt_id("post_id", get("post_id"))
    channel = get("channel")
    if not (type(channel) is str and channel in _CHANNELS):
        raise _bad_enum("channel", _CHANNELS, channel)
    visitor_id = _opt_id("visitor_id", get("visitor_id"))
    user_agent = _opt_str(obj, "user_agent", 0, 1000)
    return _new_click(
        event_id, occurred_at, campaign_id, link_id, influencer_id, channel, post_id,
        visitor_id, user_agent,
    )


def _order(obj: dict[str, Any]) -> Order:
    get = obj.get
    event_id = _id("event_id", get("event_id"))
    occurred_at = _time("occurred_at", get("occurred_at"))
    campaign_id = _recurring_id("campaign_id", get("campaign_id"))
    order_id = _id("order_id", get("order_id"))
    amount = _req_int(obj, "amount_minor", 0, MAX_AMOUNT)
    currency = _currency(obj)
    promo_code = _opt_str(obj, "promo_code", 1, 64)
    link_id = _opt_id("link_id", get("link_id"))
    customer_id = _opt_id("customer_id", get("customer_id"))
    return _new_order(
        event_id, occurred_at, campaign_id, order_id, amount, currency, promo_code, link_id,
        customer_id,
    )


_CRITERIA_SET: Final = frozenset(CRITERIA)


def _review(obj: dict[str, Any]) -> ContentReview:
    event_id = _req_id(obj, "event_id")
    occurred_at = _req_time(obj, "occurred_at")
    campaign_id = _req_id(obj, "campaign_id")
    post_id = _req_id(obj, "post_id")
    influencer_id = _req_id(obj, "influencer_id")
    reviewer_id = _req_id(obj, "reviewer_id")
    raw = obj.get("scores")
    if type(raw) is not dict:
        raise _violation("scores", "an object of criterion -> integer 1..5", raw)
    for criterion, score in raw.items():
        if criterion not in _CRITERIA_SET:
            raise InvalidRecord(
                Reason.SCHEMA_VIOLATION,
                f"field 'scores' has unknown criterion {_show(criterion)}; criteria are "
                + ", ".join(CRITERIA),
            )
        if score is not None and not (type(score) is int and 1 <= score <= 5):
            raise _bad_int(f"scores.{criterion}", 1, 5, score)
    scores = tuple(
        (criterion, raw[criterion]) for criterion in CRITERIA if raw.get(criterion) is not None
    )
    if not scores:
        raise InvalidRecord(
            Reason.SCHEMA_VIOLATION, "field 'scores' must hold 1..6 scores, got none"
        )
    comment = _opt_str(obj, "comment", 0, 2000)
    return ContentReview(
        event_id, occurred_at, campaign_id, post_id, influencer_id, reviewer_id, scores, comment
    )


def _snapshot(obj: dict[str, Any]) -> PostMetrics:
    event_id = _req_id(obj, "event_id")
    occurred_at = _req_time(obj, "occurred_at")
    campaign_id = _recurring_id("campaign_id", obj.get("campaign_id"))
    post_id = _recurring_id("post_id", obj.get("post_id"))
    influencer_id = _recurring_id("influencer_id", obj.get("influencer_id"))
    metrics = []
    for metric in SNAPSHOT_METRICS:
        value = _opt_int(obj, metric, 0, MAX_AMOUNT)
        if value is not None:
            metrics.append((metric, value))
    if not metrics:
        raise InvalidRecord(
            Reason.SCHEMA_VIOLATION,
            "a post_metrics record must carry at least one of " + ", ".join(SNAPSHOT_METRICS),
        )
    return PostMetrics(event_id, occurred_at, campaign_id, post_id, influencer_id, tuple(metrics))


def _refund(obj: dict[str, Any]) -> OrderRefund:
    return OrderRefund(
        _req_id(obj, "event_id"),
        _req_time(obj, "occurred_at"),
        _req_id(obj, "campaign_id"),
        _req_id(obj, "refund_id"),
        _req_id(obj, "order_id"),
        _req_int(obj, "amount_minor", 1, MAX_AMOUNT),
        _currency(obj),
    )


def _conversion(obj: dict[str, Any]) -> Conversion:
    event_id = _req_id(obj, "event_id")
    occurred_at = _req_time(obj, "occurred_at")
    campaign_id = _req_id(obj, "campaign_id")
    conversion_id = _req_id(obj, "conversion_id")
    action = _req_enum(obj, "action", _CONVERSION_ACTIONS)
    promo_code = _opt_str(obj, "promo_code", 1, 64)
    link_id = _opt_id("link_id", obj.get("link_id"))
    customer_id = _opt_id("customer_id", obj.get("customer_id"))
    value = _opt_int(obj, "value_minor", 0, MAX_AMOUNT)
    currency = _currency(obj) if value is not None else _opt_currency(obj)
    return Conversion(
        event_id, occurred_at, campaign_id, conversion_id, action, promo_code, link_id,
        customer_id, value, currency,
    )


def _answer(obj: dict[str, Any]) -> SurveyResponse:
    return SurveyResponse(
        _req_id(obj, "event_id"),
        _req_time(obj, "occurred_at"),
        _req_id(obj, "campaign_id"),
        _req_id(obj, "respondent_id"),
        _req_enum(obj, "group", _GROUPS),
        _req_enum(obj, "question", _QUESTIONS),
        _req_bool(obj, "positive"),
    )


_DECODERS: Final[dict[str, Callable[[dict[str, Any]], AnyEvent]]] = {
    "campaign": _campaign,
    "post_published": _post,
    "interaction": _interaction,
    "post_metrics": _snapshot,
    "click": _click,
    "order": _order,
    "order_refund": _refund,
    "content_review": _review,
    "conversion": _conversion,
    "survey_response": _answer,
}
# Per logical topic: the decoder of each type it carries, and how to name them in an error.
_TOPICS: Final = {
    topic: (
        {type_: _DECODERS[type_] for type_ in types},
        " or ".join(repr(type_) for type_ in types),
    )
    for topic, types in TOPIC_TYPES.items()
}


# --------------------------------------------------------------------------------------------
# Public API


def decode(
    topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int | None
) -> AnyEvent:
    """Turn one record of a logical input topic into its event, or raise InvalidRecord.

    ``topic`` is the logical topic name (one of :data:`streams.domain.events.LOGICAL_TOPICS`;
    anything else is a programming error: ValueError). ``timestamp_ms`` is the Kafka record
    timestamp (or the replay line's); with None the future-timestamp check is skipped.
    A record without a value (a tombstone) is ``malformed_json``.
    """
    try:
        decoders, expected = _TOPICS[Topic(topic)]
    except ValueError:
        raise ValueError(f"unknown logical topic {topic!r}") from None
    if value is None:
        raise InvalidRecord(Reason.MALFORMED_JSON, "record has no value (tombstone)")
    size = len(value)
    if size > MAX_VALUE_BYTES and (size > MAX_VALUE_BYTES_CAMPAIGNS or topic != Topic.CAMPAIGNS):
        limit = MAX_VALUE_BYTES_CAMPAIGNS if topic == Topic.CAMPAIGNS else MAX_VALUE_BYTES
        raise InvalidRecord(
            Reason.TOO_LARGE,
            f"value is {size} bytes, more than the {limit} bytes allowed on {topic}",
        )
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        try:
            obj = _parse_slow(value)
        except _NotJsonError as exc:
            raise InvalidRecord(Reason.MALFORMED_JSON, str(exc)) from None
    if type(obj) is not dict:
        raise InvalidRecord(
            Reason.SCHEMA_VIOLATION, f"value must be a JSON object, got {_show(obj)}"
        )
    type_ = obj.get("type")
    if type(type_) is not str:
        raise _violation("type", "a string", type_)
    decoder = decoders.get(type_)
    if decoder is None:
        raise InvalidRecord(
            Reason.TYPE_MISMATCH,
            f"field 'type' must be {expected} on topic {topic}, got {_show(type_)}",
        )
    event = decoder(obj)
    campaign_id = event.campaign_id
    if key is None or key != campaign_id.encode():
        raise _key_mismatch(key, campaign_id)
    if timestamp_ms is not None and event.occurred_at_us > timestamp_ms * 1000 + MAX_FUTURE_US:
        raise InvalidRecord(
            Reason.FUTURE_TIMESTAMP,
            f"field 'occurred_at' {_show(obj.get('occurred_at'))} is more than 1 hour after "
            f"the record timestamp {timestamp_ms} ms",
        )
    return event


def _key_mismatch(key: bytes | None, campaign_id: str) -> InvalidRecord:
    if key is None:
        return InvalidRecord(
            Reason.KEY_MISMATCH, "record key is missing; it must be the campaign_id"
        )
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return InvalidRecord(Reason.KEY_MISMATCH, "record key is not UTF-8")
    return InvalidRecord(
        Reason.KEY_MISMATCH,
        f"record key {_show(text)} is not the campaign_id {_show(campaign_id)}",
    )


def _text_or_base64(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The Kafka key of a dead-letter record: the original key, cut like a value is."""
    return None if key is None else key[:DLQ_KEY_BYTES]


def encode_dead_letter(  # noqa: PLR0917 (the record's fields, in contract order)
    reason: str,
    detail: str,
    topic: str,
    partition: int | None,
    offset: int | None,
    timestamp: int | None,
    key: bytes | None,
    value: bytes | None,
) -> bytes:
    """Build the dead-letter record of contract 4, as JSON bytes.

    ``key`` and ``value`` are carried as text when they are UTF-8, else as base64. A value
    longer than 64 KiB is cut to its first 65536 bytes (``truncated``: true) *before* it is
    encoded, so a cut through a multi-byte character makes it base64; a key longer than
    :data:`DLQ_KEY_BYTES` is cut the same way, and the record then says
    ``"key_truncated": true`` (a field present only then), so that every dead-letter record
    fits the dead-letter topic. A missing key (or value) is ``null``
    with a ``null`` encoding.
    """
    key_truncated = key is not None and len(key) > DLQ_KEY_BYTES
    key_text, key_encoding = (
        (None, None) if key is None else _text_or_base64(key[:DLQ_KEY_BYTES])
    )
    truncated = value is not None and len(value) > DLQ_VALUE_BYTES
    if value is None:
        value_text, value_encoding = None, None
    else:
        value_text, value_encoding = _text_or_base64(value[:DLQ_VALUE_BYTES])
    record = {
        "reason": reason,
        "detail": detail,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "key": key_text,
        "key_encoding": key_encoding,
        "value": value_text,
        "value_encoding": value_encoding,
        "truncated": truncated,
    }
    if key_truncated:
        record["key_truncated"] = True
    return orjson.dumps(record)
