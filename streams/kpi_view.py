"""Reading live KPI sets (and alerts) back from Redis: ``campaign-kpi kpis``, :func:`read_kpis`.

The hashes are the Redis sink's (contract 5.1; :mod:`streams.sinks.redis` encodes them and
this module decodes them with the same functions): integers come back as ``int``, ratios as
``float`` (the same double that was written), ``objective`` as ``str`` and
``target_progress`` as a ``dict``.

Exit status of :func:`main`: 0 shown, 1 no such KPI set, 2 Redis unreachable (or failing)
or a scope/window/id combination that does not exist.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from streams.codec import dumps, loads
from streams.config import Settings
from streams.connections import redis_client
from streams.domain.engine import KpiSet
from streams.domain.kpis import (
    ATTRIBUTES,
    COST_KPIS,
    OBJECT_KPIS,
    PUBLISHED_COUNTERS,
    RATIO_NAMES,
)
from streams.domain.vocabulary import SCOPE_WINDOWS, Scope, Window
from streams.sinks.redis import (
    META_FIELDS,
    UPDATES_CHANNEL,
    alerts_key,
    campaigns_key,
    index_key,
    key_for,
    keys_with_prefix,
    objective_key,
    parse_fields,
    redacted_url,
)

__all__ = [
    "ALERT_SCOPES",
    "COST_KPIS",
    "PERCENT_KPIS",
    "UPDATES_CHANNEL",
    "Alert",
    "KeyParts",
    "StoredKpis",
    "Update",
    "alerts_key",
    "campaigns_of",
    "format_table",
    "format_value",
    "latest_window_start",
    "main",
    "parse_alert",
    "parse_key",
    "parse_update",
    "read_alerts",
    "read_alerts_of",
    "read_campaign_sets",
    "read_keys",
    "read_kpis",
    "read_scope_sets",
    "read_series",
    "read_stored",
    "recent_campaigns",
    "scope_ids",
    "stored_from_fields",
    "window_starts",
]

# Ratios shown as percentages.
PERCENT_KPIS: Final = frozenset(
    {
        "engagement_rate_by_reach", "engagement_rate_by_impressions",
        "engagement_rate_by_views", "engagement_rate_by_followers",
        "engagement_rate_by_reach_sum", "ctr", "conversion_rate", "action_rate", "budget_used",
    }
)
_ORDER: Final[dict[str, int]] = {
    name: i
    for i, name in enumerate((*PUBLISHED_COUNTERS, *RATIO_NAMES, *OBJECT_KPIS, *ATTRIBUTES))
}


@dataclass(frozen=True, slots=True)
class StoredKpis:
    """One KPI set as stored in Redis: the set, its Redis key and when it was written."""

    key: str
    kpi_set: KpiSet
    updated_at_ms: int | None

    @property
    def kpis(self) -> dict[str, object]:
        """The typed KPIs."""
        return self.kpi_set.kpis

    @property
    def window(self) -> str:
        """``all``, ``1d``, ``1h`` or ``1m``."""
        return self.kpi_set.window

    @property
    def window_start(self) -> int | None:
        """Epoch seconds, None for ``all``."""
        return self.kpi_set.window_start

    @property
    def window_end(self) -> int | None:
        """Epoch seconds (exclusive), None for ``all``."""
        return self.kpi_set.window_end

    def to_json(self) -> dict[str, object]:
        """The KPI topic's value shape (contract 5.2) plus the Redis ``key``."""
        value = self.kpi_set.to_value(self.updated_at_ms or 0)
        value["updated_at"] = self.updated_at_ms
        del value["schema_version"]
        return {"key": self.key, **value}


def stored_from_fields(
    key: str,
    fields: Mapping[str, str] | Mapping[bytes, bytes],
    *,
    campaign_id: str,
    scope: str,
    scope_id: str,
    window: str,
) -> StoredKpis:
    """Type the fields of a stored hash and split the KPIs from the meta fields."""
    typed = parse_fields(fields)
    meta = {name: typed.pop(name, None) for name in META_FIELDS}

    def _int(value: object) -> int | None:
        return value if isinstance(value, int) else None

    kpi_set = KpiSet(
        campaign_id,
        scope,
        scope_id,
        window,
        _int(meta["window_start"]),
        _int(meta["window_end"]),
        typed,
    )
    return StoredKpis(key, kpi_set, _int(meta["updated_at"]))


# --------------------------------------------------------------------------------------------
# Reading


def _text(raw: str | bytes) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


async def window_starts(
    client: Redis, campaign_id: str, scope: str, scope_id: str | None, window: str
) -> list[int]:
    """The starts of the stored windows of that kind (SCAN), in increasing order.

    On a Redis Cluster only the master of the campaign's slot is scanned: every key of a
    campaign carries its ``{<campaign_id>}`` hash tag (a cluster client's SCAN would visit
    every master).
    """
    prefix = key_for(campaign_id, scope, scope_id, window, 0)[:-1]  # "...:<window>:"
    starts: set[int] = set()
    async for key in keys_with_prefix(client, prefix):
        rest = key[len(prefix) :]
        # A longer id sharing the prefix leaves something other than digits behind.
        if rest.isdigit() and rest.isascii():
            starts.add(int(rest))
    return sorted(starts)


async def latest_window_start(
    client: Redis, campaign_id: str, scope: str, scope_id: str | None, window: str
) -> int | None:
    """The greatest window start among the stored windows of that kind (SCAN), or None."""
    starts = await window_starts(client, campaign_id, scope, scope_id, window)
    return starts[-1] if starts else None


async def read_stored(
    client: Redis,
    campaign_id: str,
    *,
    scope: str = Scope.CAMPAIGN,
    scope_id: str | None = None,
    window: str = Window.ALL,
    start: int | None = None,
) -> StoredKpis | None:
    """One stored KPI set (None when absent); ``scope_id`` is ignored at campaign scope."""
    key = key_for(campaign_id, scope, scope_id, window, start)
    fields: Mapping[Any, Any] = await client.hgetall(key)
    if not fields:
        return None
    sid = campaign_id if scope == Scope.CAMPAIGN or scope_id is None else scope_id
    return stored_from_fields(
        key, fields, campaign_id=campaign_id, scope=scope, scope_id=sid, window=window
    )


async def read_kpis(
    client: Redis,
    campaign_id: str,
    *,
    scope: str = Scope.CAMPAIGN,
    scope_id: str | None = None,
    window: str = Window.ALL,
    start: int | None = None,
) -> dict[str, object] | None:
    """The typed KPIs of one stored set, without the meta fields; None when absent.

    The result compares equal to the ``kpis`` of the KPI topic's value (and the replay's
    output) for the same set.
    """
    stored = await read_stored(
        client, campaign_id, scope=scope, scope_id=scope_id, window=window, start=start
    )
    return None if stored is None else stored.kpis


async def read_series(
    client: Redis,
    campaign_id: str,
    *,
    scope: str = Scope.CAMPAIGN,
    scope_id: str | None = None,
    window: str,
    starts: Sequence[int] | None = None,
) -> list[StoredKpis]:
    """The stored windowed sets of one scope, by increasing start (one round trip).

    ``starts`` None reads every stored window of that kind (:func:`window_starts`); a start
    whose key has expired meanwhile is left out.
    """
    if starts is None:
        starts = await window_starts(client, campaign_id, scope, scope_id, window)
    keys = [key_for(campaign_id, scope, scope_id, window, start) for start in starts]
    if not keys:
        return []
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    replies: list[Mapping[Any, Any]] = await pipe.execute()
    sid = campaign_id if scope == Scope.CAMPAIGN or scope_id is None else scope_id
    return [
        stored_from_fields(
            key, fields, campaign_id=campaign_id, scope=scope, scope_id=sid, window=window
        )
        for key, fields in zip(keys, replies, strict=True)
        if fields
    ]


async def read_scope_sets(
    client: Redis, campaign_id: str, scope: str, ids: Sequence[str]
) -> list[StoredKpis]:
    """The ``all`` sets of these influencers or posts (one round trip), absent ones left out."""
    keys = [key_for(campaign_id, scope, scope_id, Window.ALL, None) for scope_id in ids]
    if not keys:
        return []
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    replies: list[Mapping[Any, Any]] = await pipe.execute()
    return [
        stored_from_fields(
            key, fields, campaign_id=campaign_id, scope=scope, scope_id=scope_id, window=Window.ALL
        )
        for key, scope_id, fields in zip(keys, ids, replies, strict=True)
        if fields
    ]


async def scope_ids(client: Redis, campaign_id: str, scope: str) -> list[str]:
    """The influencer or post ids of a campaign with a KPI set (its index), sorted."""
    members: list[Any] = await client.zrange(index_key(campaign_id, scope), 0, -1)
    return sorted(_text(member) for member in members)


async def campaigns_of(client: Redis, objective: str) -> list[str]:
    """The campaigns of one objective (``kpi:campaigns:<objective>``), sorted."""
    members: list[Any] = await client.zrange(objective_key(objective), 0, -1)
    return sorted(_text(member) for member in members)


async def recent_campaigns(client: Redis, limit: int) -> list[str]:
    """The ``limit`` most recently updated campaigns of ``kpi:campaigns`` (newest first)."""
    members: list[Any] = await client.zrevrange(campaigns_key(), 0, max(limit, 1) - 1)
    return [_text(member) for member in members]


async def read_campaign_sets(
    client: Redis, campaign_ids: Sequence[str]
) -> dict[str, StoredKpis]:
    """The campaign-scope ``all`` sets of these campaigns (one round trip), absent ones left out."""
    keys = [key_for(cid, Scope.CAMPAIGN, None, Window.ALL, None) for cid in campaign_ids]
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    replies: list[Mapping[Any, Any]] = await pipe.execute()
    return {
        cid: stored_from_fields(
            key, fields, campaign_id=cid, scope=Scope.CAMPAIGN, scope_id=cid, window=Window.ALL
        )
        for cid, key, fields in zip(campaign_ids, keys, replies, strict=True)
        if fields
    }


# --------------------------------------------------------------------------------------------
# Keys and kpi:updates messages


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a ``kpi:{<cid>}:...`` key names: a KPI set, or the campaign's alerts hash."""

    key: str
    campaign_id: str
    scope: str | None  # None for the alerts hash
    scope_id: str | None
    window: str | None
    start: int | None

    @property
    def is_alerts(self) -> bool:
        """The key is ``kpi:{<cid>}:alerts``."""
        return self.scope is None


def parse_key(key: str) -> KeyParts | None:
    """The parts of a KPI set key (contract 5.1) or of an alerts key; None for any other key.

    Influencer and post ids may hold ``:``, so the window is read from the right.
    """
    if not key.startswith("kpi:{"):
        return None
    cid, brace, rest = key[5:].partition("}:")
    if not brace or not cid:
        return None
    if rest == "alerts":
        return KeyParts(key, cid, None, None, None, None)
    scope, _, tail = rest.partition(":")
    if scope == Scope.CAMPAIGN:
        scope_id: str | None = cid
    elif scope in (Scope.INFLUENCER, Scope.POST):
        if tail.endswith(":" + Window.ALL):
            scope_id, tail = tail[: -len(Window.ALL) - 1], Window.ALL
        else:
            head, _, window_part = tail.rpartition(":")
            scope_id, _, window = head.rpartition(":")
            tail = f"{window}:{window_part}"
        if not scope_id:
            return None
    else:
        return None
    if tail == Window.ALL:
        return KeyParts(key, cid, scope, scope_id, Window.ALL, None)
    window, _, start_text = tail.partition(":")
    windows = SCOPE_WINDOWS.get(Scope(scope), ())
    digits = start_text[1:] if start_text.startswith("-") else start_text
    if window not in windows or not digits.isdigit() or not digits.isascii():
        return None
    return KeyParts(key, cid, scope, scope_id, window, int(start_text))


@dataclass(frozen=True, slots=True)
class Update:
    """One ``kpi:updates`` message: the campaign and the keys written for it in one flush."""

    campaign_id: str
    keys: tuple[str, ...]


def parse_update(raw: str | bytes) -> Update | None:
    """A ``kpi:updates`` message (contract 5.1), None when it is not of that shape."""
    try:
        message = loads(raw.encode("utf-8") if isinstance(raw, str) else raw)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    cid, keys = message.get("campaign_id"), message.get("keys")
    if not isinstance(cid, str) or not isinstance(keys, list):
        return None
    return Update(cid, tuple(key for key in keys if isinstance(key, str)))


async def read_keys(
    client: Redis, campaign_id: str, parts: Sequence[KeyParts], *, with_alerts: bool
) -> tuple[list[StoredKpis | None], tuple[list[Alert], int] | None]:
    """One campaign's KPI sets of these keys (None where absent), and its alerts if asked.

    One transaction: the worker writes a campaign's sets and alerts in one script call, so the
    figures and the alerts read here are of the same flush (an alert never counts clicks the
    table does not show yet). The keys share the campaign's hash slot, a Cluster included.
    """
    if not parts and not with_alerts:
        return [], None
    pipe = client.pipeline(transaction=True)
    for p in parts:
        pipe.hgetall(p.key)
    if with_alerts:
        pipe.hgetall(alerts_key(campaign_id))
    replies: list[Mapping[Any, Any]] = await pipe.execute()
    stored = [
        stored_from_fields(
            p.key, fields, campaign_id=p.campaign_id, scope=str(p.scope),
            scope_id=str(p.scope_id), window=str(p.window),
        ) if fields else None
        for p, fields in zip(parts, replies[: len(parts)], strict=True)
    ]
    return stored, _alerts_from(campaign_id, replies[-1]) if with_alerts else None


# --------------------------------------------------------------------------------------------
# Alerts (issue 15): written by the worker, read here; the shape is fixed in the alerts note


ALERT_SCOPES: Final = ("campaign", "influencer", "post", "link")
_SEVERITIES: Final = ("critical", "warning")
_STATES: Final = ("open", "resolved")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert record of ``kpi:{<cid>}:alerts``; times are epoch ms."""

    campaign_id: str
    rule: str
    scope: str
    scope_id: str
    severity: str  # critical | warning
    state: str  # open | resolved
    message: str
    figures: dict[str, object]
    first_seen_ms: int | None
    last_seen_ms: int | None
    resolved_at_ms: int | None

    @property
    def is_open(self) -> bool:
        """Firing now (a resolved alert stays in the hash until it fires again)."""
        return self.state == "open"

    @property
    def field(self) -> str:
        """Its field in the hash: ``<rule>|<scope>|<scope_id>``."""
        return f"{self.rule}|{self.scope}|{self.scope_id}"


def _epoch_ms(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_alert(campaign_id: str, field_name: str, raw: str | bytes) -> Alert | None:
    """One hash field as an :class:`Alert`; None when it is not of the documented shape."""
    try:
        value = loads(raw.encode("utf-8") if isinstance(raw, str) else raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    rule, _, rest = field_name.partition("|")
    scope, _, scope_id = rest.partition("|")
    rule, scope, scope_id = (
        str(value.get("rule", rule)), str(value.get("scope", scope)),
        str(value.get("scope_id", scope_id)),
    )
    severity, state, message = value.get("severity"), value.get("state"), value.get("message")
    figures = value.get("figures")
    if (
        not rule or scope not in ALERT_SCOPES or severity not in _SEVERITIES
        or state not in _STATES or not isinstance(message, str)
    ):
        return None
    return Alert(
        campaign_id, rule, scope, scope_id, str(severity), str(state), message,
        dict(figures) if isinstance(figures, dict) else {},
        _epoch_ms(value.get("first_seen")), _epoch_ms(value.get("last_seen")),
        _epoch_ms(value.get("resolved_at")),
    )


def _alert_order(alert: Alert) -> tuple[int, int, int, str]:
    # Open before resolved, critical before warning, the most recent first.
    return (
        0 if alert.is_open else 1, _SEVERITIES.index(alert.severity),
        -(alert.last_seen_ms or alert.resolved_at_ms or 0), alert.field,
    )


def _alerts_from(campaign_id: str, fields: Mapping[Any, Any]) -> tuple[list[Alert], int]:
    alerts: list[Alert] = []
    for name, raw in fields.items():
        alert = parse_alert(campaign_id, _text(name), raw)
        if alert is not None:
            alerts.append(alert)
    return sorted(alerts, key=_alert_order), len(fields) - len(alerts)


async def read_alerts(client: Redis, campaign_id: str) -> tuple[list[Alert], int]:
    """The campaign's alerts (open first, then resolved) and how many fields were unreadable.

    No key means no alert; a field that is not of the documented shape is counted, not shown.
    """
    fields: Mapping[Any, Any] = await client.hgetall(alerts_key(campaign_id))
    return _alerts_from(campaign_id, fields)


async def read_alerts_of(
    client: Redis, campaign_ids: Sequence[str]
) -> dict[str, tuple[list[Alert], int]]:
    """:func:`read_alerts` of several campaigns in one round trip."""
    if not campaign_ids:
        return {}
    pipe = client.pipeline(transaction=False)
    for cid in campaign_ids:
        pipe.hgetall(alerts_key(cid))
    replies: list[Mapping[Any, Any]] = await pipe.execute()
    return {
        cid: _alerts_from(cid, fields) for cid, fields in zip(campaign_ids, replies, strict=True)
    }


# --------------------------------------------------------------------------------------------
# Formatting


def _iso(epoch_s: float) -> str:
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    text = moment.isoformat(timespec="milliseconds" if epoch_s % 1 else "seconds")
    return text.replace("+00:00", "Z")


def format_value(name: str, value: object) -> str:
    """A KPI for people: rates as percentages, other ratios with 2 decimals, ints as is.

    Money stays in minor units (the currency, hence its exponent, is not stored).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if name in PERCENT_KPIS:
        return f"{value * 100:.2f}%"
    return f"{value:.2f}"


def format_table(stored: StoredKpis) -> str:
    """The readable view: a header, then one line per KPI (and per targeted KPI)."""
    lines = [stored.key]
    if stored.window == Window.ALL:
        where = "window all"
    else:
        start = _iso(stored.window_start) if stored.window_start is not None else "?"
        end = _iso(stored.window_end) if stored.window_end is not None else "?"
        where = f"window {stored.window} [{start}, {end})"
    updated = _iso(stored.updated_at_ms / 1000) if stored.updated_at_ms is not None else "?"
    lines.append(f"{where}; updated {updated}")
    rows: list[tuple[str, str]] = []
    names = sorted(stored.kpis, key=lambda n: (_ORDER.get(n, len(_ORDER)), n))
    for name in names:
        value = stored.kpis[name]
        if name == "target_progress" and isinstance(value, Mapping):
            for target_name in sorted(value, key=lambda n: (_ORDER.get(n, len(_ORDER)), n)):
                progress = value[target_name]
                text = (
                    f"{progress * 100:.2f}% of target"
                    if isinstance(progress, int | float)
                    else str(progress)
                )
                if target_name in COST_KPIS:
                    text += " (cost: lower is better)"
                rows.append((f"target_progress.{target_name}", text))
        else:
            rows.append((name, format_value(name, value)))
    width = max([len("KPI"), *(len(name) for name, _ in rows)])
    lines.append(f"{'KPI':<{width}}  value")
    lines.extend(f"{name:<{width}}  {text}" for name, text in rows)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The command


def _check_args(scope: str, scope_id: str | None, window: str, start: int | None) -> str | None:
    if scope not in tuple(Scope):
        return f"unknown scope {scope!r} (one of {', '.join(Scope)})"
    windows = (Window.ALL, *SCOPE_WINDOWS[Scope(scope)])
    if window not in windows:
        return f"scope {scope} has windows {', '.join(windows)}, not {window!r}"
    if scope != Scope.CAMPAIGN and not scope_id:
        return f"scope {scope} needs --id"
    if scope == Scope.CAMPAIGN and scope_id is not None:
        return "--id is for the influencer and post scopes"
    if window == Window.ALL and start is not None:
        return "--start is for windowed KPI sets (--window 1d, 1h or 1m)"
    return None


@dataclass(frozen=True, slots=True)
class _Query:
    campaign_id: str
    scope: str
    scope_id: str | None
    window: str
    start: int | None


async def _show(
    settings: Settings, query: _Query, as_json: bool, out: TextIO, err: TextIO
) -> int:
    url = settings.redis_url
    campaign_id, scope, scope_id = query.campaign_id, query.scope, query.scope_id
    window, start = query.window, query.start
    client = redis_client(settings, decode_responses=True)
    what = f"campaign {campaign_id} (scope {scope}"
    what += f" {scope_id}" if scope_id is not None else ""
    try:
        if window != Window.ALL and start is None:
            start = await latest_window_start(client, campaign_id, scope, scope_id, window)
            if start is None:
                print(
                    f"no KPIs for {what}, window {window}, any start) in Redis at "
                    f"{redacted_url(url)} — is the worker running?",
                    file=err,
                )
                return 1
        stored = await read_stored(
            client, campaign_id, scope=scope, scope_id=scope_id, window=window, start=start
        )
    finally:
        await client.aclose()
    if stored is None:
        at = f" start {start}" if start is not None else ""
        print(
            f"no KPIs for {what}, window {window}{at}) in Redis at {redacted_url(url)} "
            "— is the worker running?",
            file=err,
        )
        return 1
    if as_json:
        out.write(dumps(stored.to_json()).decode("utf-8") + "\n")
    else:
        out.write(format_table(stored))
    return 0


def main(
    campaign_id: str,
    *,
    scope: str = Scope.CAMPAIGN,
    scope_id: str | None = None,
    window: str = Window.ALL,
    start: int | None = None,
    as_json: bool = False,
    settings: Settings,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``campaign-kpi kpis``: print one live KPI set; the exit status is returned."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    problem = _check_args(scope, scope_id, window, start)
    if problem is not None:
        print(f"campaign-kpi kpis: {problem}", file=err)
        return 2
    url = settings.redis_url
    query = _Query(campaign_id, scope, scope_id, window, start)
    try:
        return asyncio.run(_show(settings, query, as_json, out, err))
    # A cluster client that reaches no node raises RedisClusterException, not a RedisError.
    except (RedisError, RedisClusterException, OSError) as error:
        print(
            f"campaign-kpi kpis: cannot read Redis at {redacted_url(url)}: "
            f"{type(error).__name__}: {error}",
            file=err,
        )
        return 2
