"""The Redis sink: live reads of contract v1, section 5.1.

One flush is ONE atomic call of a small Lua script that runs the flush's commands (atomic
like ``MULTI``/``EXEC``, but one reply instead of one per command). For every KPI set:

* the set's hash (:func:`redis_key`) is written with ``HSET`` (the fields are
  :func:`hash_fields`); where a field can disappear (a definition that lost its budget, a
  review moved to another influencer: :data:`~streams.domain.kpis.SHRINKING_LAYOUTS`) it is
  deleted first, so no field lingers;
* a windowed hash gets ``EXPIRE`` with the configured TTL of its window
  (``Settings.ttl_s``). The TTL runs **from the write**, not from the window's end: event
  time may be far behind processing time (a backfill, a late producer), and a TTL anchored
  on the window would make old windows vanish the instant they are written. A window that
  keeps changing keeps being extended; one that stops changing expires TTL after its last
  write;
* from influencer-scope ``all`` sets, the leaderboards ``kpi:{<cid>}:leaderboard:<kpi>``
  (:data:`LEADERBOARD_KPIS`; a KPI absent from the set removes the influencer);
* the indexes ``kpi:{<cid>}:influencers`` / ``kpi:{<cid>}:posts`` (id -> ``updated_at`` ms)
  for every influencer / post set written (windowed influencer sets included).

Then, per campaign of the flush: ``kpi:campaigns`` (campaign id -> ``updated_at`` ms) and,
when the flush holds the campaign's ``all`` set, ``kpi:campaigns:<objective>`` for its
``objective`` while the campaign is removed from the other objectives' sets (a redefinition
moves it; a campaign without an objective is in none). When the flush does not hold that
set, the campaign's score is refreshed (``ZADD XX``) in whichever objective set holds it.
Last, one ``PUBLISH`` on ``kpi:updates`` per campaign: ``{"campaign_id", "keys"}`` with the
hash keys written for it (sorted), inside the same script call.

Everything is written with absolute values (never ``HINCRBY``/``ZINCRBY``), so writing the
same flush twice leaves the same state, and a call retried after a connection lost during
it is harmless.

Transient failures (connection refused or lost, timeouts, a server still loading its data,
a replica that became read-only during a failover) are retried for ever with capped
exponential backoff; ``write`` never drops a flush. Any other Redis error is raised.

Note: ``kpi:campaigns*`` have no hash tag, so one call spans several slots; this sink
targets a standalone Redis (or a proxy that allows it), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, cast
from urllib.parse import urlsplit, urlunsplit

import hiredis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    BusyLoadingError,
    ConnectionError,
    MasterDownError,
    NoScriptError,
    ReadOnlyError,
    TimeoutError,
    TryAgainError,
)

from streams.codec import dumps, loads
from streams.config import Settings
from streams.domain.engine import KpiSet
from streams.domain.events import OBJECTIVES
from streams.domain.kpis import SHRINKING_LAYOUTS
from streams.domain.windows import ALL, INFLUENCER, POST
from streams.sinks import Flush

__all__ = [
    "LEADERBOARD_KPIS",
    "META_FIELDS",
    "UPDATES_CHANNEL",
    "RedisSink",
    "campaigns_key",
    "client_from_url",
    "encode_value",
    "flush_commands",
    "hash_fields",
    "index_key",
    "key_for",
    "leaderboard_key",
    "objective_key",
    "parse_fields",
    "parse_value",
    "redacted_url",
    "redis_key",
]

log = logging.getLogger(__name__)

LEADERBOARD_KPIS: Final[tuple[str, ...]] = (
    "engagements", "reach", "clicks_valid", "orders", "revenue_minor",
)
UPDATES_CHANNEL: Final = "kpi:updates"
META_FIELDS: Final[tuple[str, ...]] = ("updated_at", "window_start", "window_end")
"""Hash fields that are not KPIs (integers: epoch ms, epoch seconds, epoch seconds)."""

TRANSIENT_ERRORS: Final[tuple[type[BaseException], ...]] = (
    ConnectionError,  # BusyLoadingError is one
    TimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    MasterDownError,
    TryAgainError,
    OSError,
)

# --------------------------------------------------------------------------------------------
# Keys


def key_for(
    campaign_id: str, scope: str, scope_id: str | None, window: str, start: int | None
) -> str:
    """The hash key of a KPI set (contract 5.1); ``scope_id`` is ignored at campaign scope."""
    head = f"kpi:{{{campaign_id}}}:{scope}"
    if scope in (INFLUENCER, POST):
        if scope_id is None:
            raise ValueError(f"scope {scope} needs an id")
        head = f"{head}:{scope_id}"
    if window == ALL:
        return f"{head}:{ALL}"
    if start is None:
        raise ValueError(f"window {window} needs a start")
    return f"{head}:{window}:{start}"


def redis_key(kpi_set: KpiSet) -> str:
    """The hash key of a KPI set (contract 5.1)."""
    return key_for(
        kpi_set.campaign_id, kpi_set.scope, kpi_set.scope_id, kpi_set.window, kpi_set.window_start
    )


def leaderboard_key(campaign_id: str, kpi: str) -> str:
    """``kpi:{<cid>}:leaderboard:<kpi>``."""
    return f"kpi:{{{campaign_id}}}:leaderboard:{kpi}"


def index_key(campaign_id: str, scope: str) -> str:
    """``kpi:{<cid>}:influencers`` or ``kpi:{<cid>}:posts``."""
    return f"kpi:{{{campaign_id}}}:{scope}s"


def campaigns_key() -> str:
    """``kpi:campaigns``."""
    return "kpi:campaigns"


def objective_key(objective: str) -> str:
    """``kpi:campaigns:<objective>``."""
    return f"kpi:campaigns:{objective}"


# --------------------------------------------------------------------------------------------
# Values


# A Redis argument as hiredis packs it.
Scalar = str | int | float
_AS_IS: Final = frozenset({int, float, str})


def encode_value(name: str, value: object) -> str:
    """One KPI as hash field text.

    Integers as decimal text; floats as ``repr`` (the shortest decimal that reads back as the
    same double, always with a ``.``, an exponent, or ``inf``/``nan``, so never mistaken for
    an integer); ``target_progress`` (a mapping) as a JSON object; strings as they are.
    """
    if isinstance(value, bool):
        raise TypeError(f"KPI {name} is a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return dumps(value).decode("utf-8")
    raise TypeError(f"KPI {name} has a value of type {type(value).__name__}")


def hash_fields(kpi_set: KpiSet, updated_at_ms: int) -> dict[str, str]:
    """The hash of a KPI set: one field per KPI, ``updated_at``, and window bounds if any."""
    items = hash_items(kpi_set, updated_at_ms)
    names = [str(name) for name in items[::2]]
    return {name: encode_value(name, value) for name, value in zip(names, items[1::2], strict=True)}


def hash_items(kpi_set: KpiSet, updated_at_ms: int) -> list[Scalar]:
    """:func:`hash_fields` as HSET arguments (name, value, ...), numbers left as numbers.

    hiredis writes an int as decimal text and a float as its ``repr``, which is exactly
    :func:`encode_value`'s text, without a Python call per field.
    """
    items: list[Scalar] = []
    append = items.append
    for name, value in kpi_set.kpis.items():
        append(name)
        append(cast(Scalar, value) if type(value) in _AS_IS else encode_value(name, value))
    append("updated_at")
    append(updated_at_ms)
    start, end = kpi_set.window_start, kpi_set.window_end
    if start is not None and end is not None:
        items.extend(("window_start", start, "window_end", end))
    return items


def _text(raw: str | bytes) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def parse_value(name: str, raw: str | bytes) -> object:
    """Inverse of :func:`encode_value`: int, float, dict (``target_progress``) or str."""
    text = _text(raw)
    if name == "objective":
        return text
    if name == "target_progress" or text.startswith("{"):
        parsed: object = loads(text)
        return parsed
    stripped = text[1:] if text.startswith("-") else text
    if stripped.isdigit() and stripped.isascii():
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


def parse_fields(fields: Mapping[str, str] | Mapping[bytes, bytes]) -> dict[str, object]:
    """Every field of a stored hash, typed (meta fields included)."""
    return {_text(name): parse_value(_text(name), raw) for name, raw in fields.items()}


def redacted_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def client_from_url(url: str, *, decode_responses: bool = False) -> Redis:
    """An asyncio client without redis-py's own retries (callers decide how to retry)."""
    return Redis.from_url(
        url,
        decode_responses=decode_responses,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
    )


# --------------------------------------------------------------------------------------------
# The sink


class RedisSink:
    """Writes each flush to Redis in one transaction (see the module docstring)."""

    name = "redis"

    def __init__(
        self,
        settings: Settings,
        *,
        client: Redis | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        initial_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        """Prepare the sink; ``client`` replaces the one built from ``settings.redis_url``."""
        self._url = settings.redis_url
        self._ttl_s = dict(settings.ttl_s)
        self._client = client
        self._owns_client = client is None
        self._on_error = on_error
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s

    @property
    def client(self) -> Redis:
        """The client (built on first use)."""
        if self._client is None:
            self._client = client_from_url(self._url)
        return self._client

    async def start(self) -> None:
        """Build the client. Connecting is lazy: an absent Redis must not stop the worker."""
        _ = self.client

    async def stop(self) -> None:
        """Close the client if this sink built it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def forget(self, campaign_ids: Iterable[str]) -> None:
        """Nothing to drop: Redis keeps every campaign's KPIs, whoever computes them."""

    async def write(self, flush: Flush) -> None:
        """Store one flush; retry transient failures until it is stored."""
        if not flush.kpi_sets:
            return
        delay = self._initial_backoff_s
        outage = False
        while True:
            try:
                await self._write_once(flush)
            except TRANSIENT_ERRORS as error:
                if self._on_error is not None:
                    self._on_error(error)
                if not outage:
                    outage = True
                    log.warning(
                        "Redis unavailable at %s (%s: %s); retrying",
                        redacted_url(self._url),
                        type(error).__name__,
                        error,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff_s)
                continue
            except Exception as error:
                if self._on_error is not None:
                    self._on_error(error)
                raise
            if outage:
                log.info("Redis at %s is available again", redacted_url(self._url))
            return

    async def _write_once(self, flush: Flush) -> None:
        """Run the flush's commands as one atomic script call.

        A Lua script runs atomically, like MULTI/EXEC, but answers once instead of once per
        command, and the whole call is packed by hiredis in C: a flush writes thousands of
        hashes, and packing and reading them one by one cost more than all KPI computing.
        """
        payload = script_arguments(flush_commands(flush, self._ttl_s))
        pool = self.client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                await self._evalsha(connection, payload)
            except NoScriptError:  # a restarted or flushed Redis: load the script again
                await connection.send_packed_command(_pack("EVAL", _APPLY_SCRIPT, 0, *payload))
                await connection.read_response()
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)

    @staticmethod
    async def _evalsha(connection: Any, payload: list[Scalar]) -> None:
        await connection.send_packed_command(_pack("EVALSHA", _APPLY_SCRIPT_SHA, 0, *payload))
        await connection.read_response()


# Runs the commands flattened by script_arguments: each is its argument count, then its
# arguments. (Lua's unpack takes a few thousand values at most, hence the chunked ZADDs.)
_APPLY_SCRIPT: Final = """
local i = 1
local n = #ARGV
while i <= n do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
return n
"""
_APPLY_SCRIPT_SHA: Final = hashlib.sha1(_APPLY_SCRIPT.encode()).hexdigest()
_MAX_MEMBERS_PER_COMMAND: Final = 1000


def _pack(*parts: Scalar) -> bytes:
    # hiredis's stub types the tuple as one element long; it takes any length.
    packed: bytes = hiredis.pack_command(parts)  # type: ignore[arg-type]
    return packed


def script_arguments(commands: Iterable[Command]) -> list[Scalar]:
    """Flatten commands for the script: each one's argument count, then its arguments."""
    arguments: list[Scalar] = []
    for command in commands:
        arguments.append(len(command))
        arguments.extend(command)
    return arguments


Command = tuple[Scalar, ...]


def flush_commands(flush: Flush, ttl_s: Mapping[str, int]) -> list[Command]:
    """The commands of one flush's transaction, in order (pure; see the module docstring).

    Sorted-set members are gathered per key, one ZADD (or ZREM) per key and flush. A hash is
    deleted before it is rewritten only where a field can disappear
    (:data:`~streams.domain.kpis.SHRINKING_LAYOUTS`); elsewhere fields only ever appear, so
    HSET alone leaves exactly the new set.
    """
    now = flush.updated_at_ms
    commands: list[Command] = []
    keys_by_campaign: dict[str, list[str]] = {}
    objective_by_campaign: dict[str, str | None] = {}
    members: dict[str, list[str | int | float]] = {}  # sorted set -> score, member, ...
    removed: dict[str, list[str]] = {}  # sorted set -> members to remove
    for kpi_set in flush.kpi_sets:
        cid = kpi_set.campaign_id
        key = redis_key(kpi_set)
        if (kpi_set.scope, kpi_set.window) in SHRINKING_LAYOUTS:
            commands.append(("DEL", key))
        commands.append(("HSET", key, *hash_items(kpi_set, now)))
        if kpi_set.window != ALL:
            commands.append(("EXPIRE", key, ttl_s[kpi_set.window]))
        keys_by_campaign.setdefault(cid, []).append(key)
        if kpi_set.scope in (INFLUENCER, POST):
            members.setdefault(index_key(cid, kpi_set.scope), []).extend((now, kpi_set.scope_id))
            if kpi_set.scope == INFLUENCER and kpi_set.window == ALL:
                _leaderboards(kpi_set, members, removed)
        elif kpi_set.window == ALL:
            objective = kpi_set.kpis.get("objective")
            objective_by_campaign[cid] = objective if isinstance(objective, str) else None
    step = 2 * _MAX_MEMBERS_PER_COMMAND
    for key, scored in members.items():
        commands.extend(("ZADD", key, *scored[i : i + step]) for i in range(0, len(scored), step))
    for key, gone in removed.items():
        commands.extend(
            ("ZREM", key, *gone[i : i + _MAX_MEMBERS_PER_COMMAND])
            for i in range(0, len(gone), _MAX_MEMBERS_PER_COMMAND)
        )
    for cid, keys in keys_by_campaign.items():
        commands.append(("ZADD", campaigns_key(), now, cid))
        if cid in objective_by_campaign:
            objective = objective_by_campaign[cid]
            for other in sorted(OBJECTIVES):
                if other != objective:
                    commands.append(("ZREM", objective_key(other), cid))
            if objective is not None:
                commands.append(("ZADD", objective_key(objective), now, cid))
        else:
            for objective in sorted(OBJECTIVES):
                commands.append(("ZADD", objective_key(objective), "XX", now, cid))
        message = {"campaign_id": cid, "keys": sorted(set(keys))}
        commands.append(("PUBLISH", UPDATES_CHANNEL, dumps(message).decode("utf-8")))
    return commands


def _leaderboards(
    kpi_set: KpiSet,
    members: dict[str, list[str | int | float]],
    removed: dict[str, list[str]],
) -> None:
    for kpi in LEADERBOARD_KPIS:
        key = leaderboard_key(kpi_set.campaign_id, kpi)
        value = kpi_set.kpis.get(kpi)
        if isinstance(value, int | float) and not isinstance(value, bool):
            members.setdefault(key, []).extend((value, kpi_set.scope_id))
        else:
            removed.setdefault(key, []).append(kpi_set.scope_id)
