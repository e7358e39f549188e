"""The Redis sink: live reads of contract section 5.1, on a single Redis or a Redis Cluster.

Every write of one campaign is ONE call of a small Lua script that touches keys of that
campaign only — all of them carry the ``{<campaign_id>}`` hash tag, so they live in one
Cluster slot, and the call declares them. The call:

* refuses to run when Redis holds a newer write of the campaign: ``kpi:{<cid>}:flush_seq``
  keeps the flush sequence of the last write, which only grows whichever worker writes
  (streams.pipeline), so a frozen or rebalanced-away worker's late write never wins;
* writes each KPI set's hash (:func:`redis_key`, fields :func:`hash_items`), deleted first:
  any field can disappear (a ratio whose denominator went back to 0 when a snapshot lowered
  a counter, a definition that lost its budget), and none may linger;
* gives windowed hashes ``EXPIRE`` with the TTL of their window, counted **from the
  write**: event time may be far behind processing time (a backfill), and a TTL anchored on
  the window's end would make old windows vanish as they are written;
* from influencer-scope ``all`` sets, updates the leaderboards
  ``kpi:{<cid>}:leaderboard:<kpi>`` (:data:`LEADERBOARD_KPIS`; an absent KPI removes the
  influencer) and the id indexes ``kpi:{<cid>}:influencers`` / ``kpi:{<cid>}:posts``;
* writes the alerts that changed into ``kpi:{<cid>}:alerts`` (field
  ``<rule>|<scope>|<scope_id>``, value the alert record's JSON);
* publishes ``{"campaign_id", "keys"}`` on ``kpi:updates`` (cluster-wide pub/sub).

A campaign erased by ``campaign-kpi forget`` is one call too, fenced the same way: it deletes
the hashes of the KPI sets the erased state held, the leaderboards, id indexes and alerts,
keeps ``flush_seq`` at the erasing flush (an older, late write stays refused) and writes the
request's acknowledgement ``kpi:forgotten:{<cid>}:<request_id>``; the campaign then leaves
the global indexes where an older write put it. The command sweeps what is left (SCAN).

The global indexes ``kpi:campaigns`` and ``kpi:campaigns:<objective>`` hold campaigns of
every slot, so each is written by a call of its own (one key, one slot): scores are set with
``GT`` (only later updates win) and a campaign leaves the sets of its former objectives
only if its score there is older than this write (docs/contract-decisions.md, "Redis").

Everything is written with absolute values, so writing the same flush twice leaves the same
state. Transient failures (connection lost, timeouts, a loading or failing-over server) are
retried for ever (streams.retry); an error of one campaign's call (say, a key of the wrong
type) is logged with the campaign's keys and counted, and the other campaigns are written.

A campaign is *lost* when its ``flush_seq`` key is gone although this sink wrote it (Redis
was flushed, or restarted without persistence), or when Redis restarted at all (its
``run_id`` changed: data from an older snapshot may be back): the pipeline then writes the
campaign's KPI sets whole again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field, replace
from typing import Any, Final, cast

import hiredis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ConnectionError,
    DataError,
    MasterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from streams.codec import dumps, loads
from streams.config import Settings, redacted
from streams.domain.engine import KpiSet
from streams.domain.kpis import ATTRIBUTES, LEADERBOARD_KPIS
from streams.domain.vocabulary import OBJECTIVES, Scope, Window
from streams.retry import retry_forever
from streams.sinks import Flush

__all__ = [
    "ACK_TTL_S",
    "LEADERBOARD_KPIS",
    "META_FIELDS",
    "UPDATES_CHANNEL",
    "Call",
    "ClusterUnreachableError",
    "RedisSink",
    "alerts_key",
    "campaign_calls",
    "campaign_prefix",
    "campaigns_key",
    "client_from_url",
    "encode_value",
    "erasure_calls",
    "flush_seq_key",
    "forgotten_key",
    "hash_fields",
    "hash_items",
    "index_calls",
    "index_key",
    "key_for",
    "keys_with_prefix",
    "leaderboard_key",
    "objective_key",
    "parse_fields",
    "parse_value",
    "redacted_url",
    "redis_key",
    "unindex_calls",
    "unreachable_cluster_is_transient",
]

log = logging.getLogger(__name__)

UPDATES_CHANNEL: Final = "kpi:updates"
META_FIELDS: Final[tuple[str, ...]] = ("updated_at", "window_start", "window_end")
"""Hash fields that are not KPIs (integers: epoch ms, epoch seconds, epoch seconds)."""
_TEXT_FIELDS: Final = frozenset(ATTRIBUTES) - {"published_at"}

TRANSIENT_ERRORS: Final[tuple[type[BaseException], ...]] = (
    ConnectionError,  # BusyLoadingError is one
    TimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    MasterDownError,
    TryAgainError,
    ClusterDownError,
    OSError,
)
# A value that cannot become a Redis argument: no known type (encode_value, hiredis),
# text that is not Unicode (UTF-8 encoding; a UnicodeError is a ValueError), or what
# redis-py's own encoder refuses on a cluster.
UNENCODABLE_ERRORS: Final[tuple[type[BaseException], ...]] = (TypeError, ValueError, DataError)


class ClusterUnreachableError(ConnectionError):
    """No node of the Redis Cluster could be reached: an outage like any other, retried.

    redis-py's cluster client reports it as a RedisClusterException (not a RedisError),
    which the retries would otherwise take for a fault of the call and the worker would
    end on, where a single Redis away is waited for.
    """


@contextlib.contextmanager
def unreachable_cluster_is_transient() -> Iterator[None]:
    """Turn a RedisClusterException caused by a connection failure into a ConnectionError."""
    try:
        yield
    except RedisClusterException as error:
        cause: BaseException | None = error.__cause__ or error.__context__
        seen: set[int] = set()  # a chain can loop (an error re-raised as its own cause)
        while cause is not None and not isinstance(cause, TRANSIENT_ERRORS):
            if id(cause) in seen:
                cause = None
                break
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        raise ClusterUnreachableError(str(error)) from error


# --------------------------------------------------------------------------------------------
# Keys


def key_for(
    campaign_id: str, scope: str, scope_id: str | None, window: str, start: int | None
) -> str:
    """The hash key of a KPI set (contract 5.1); ``scope_id`` is ignored at campaign scope."""
    head = f"kpi:{{{campaign_id}}}:{scope}"
    if scope in (Scope.INFLUENCER, Scope.POST):
        if scope_id is None:
            raise ValueError(f"scope {scope} needs an id")
        head = f"{head}:{scope_id}"
    if window == Window.ALL:
        return f"{head}:{Window.ALL}"
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


def alerts_key(campaign_id: str) -> str:
    """``kpi:{<cid>}:alerts``: the campaign's alerts, field ``<rule>|<scope>|<scope_id>``."""
    return f"kpi:{{{campaign_id}}}:alerts"


def flush_seq_key(campaign_id: str) -> str:
    """``kpi:{<cid>}:flush_seq``: the flush sequence of the campaign's last write."""
    return f"kpi:{{{campaign_id}}}:flush_seq"


def campaigns_key() -> str:
    """``kpi:campaigns``."""
    return "kpi:campaigns"


def objective_key(objective: str) -> str:
    """``kpi:campaigns:<objective>``."""
    return f"kpi:campaigns:{objective}"


def campaign_prefix(campaign_id: str) -> str:
    """``kpi:{<cid>}:``: what every key of the campaign starts with."""
    return f"kpi:{{{campaign_id}}}:"


def forgotten_key(campaign_id: str, request_id: str) -> str:
    """``kpi:forgotten:{<cid>}:<request_id>``: a forget request's acknowledgement (a hash).

    In the campaign's slot (the erasing call writes it), outside its ``kpi:{<cid>}:`` keys.
    """
    return f"kpi:forgotten:{{{campaign_id}}}:{request_id}"


_GLOB_SPECIAL: Final = frozenset("*?[]\\")


async def keys_with_prefix(client: Redis, prefix: str) -> AsyncIterator[str]:
    """Every key starting with ``prefix`` (SCAN), as text.

    The prefix of a campaign's keys holds its ``{<campaign_id>}`` hash tag: on a Redis
    Cluster only the master of that slot is scanned (a cluster client would visit every one).
    """
    where: dict[str, Any] = {}
    if isinstance(client, RedisCluster):
        await client.initialize()  # the slot map (a no-op once known)
        where["target_nodes"] = client.get_node_from_key(prefix)
    pattern = "".join(f"\\{ch}" if ch in _GLOB_SPECIAL else ch for ch in prefix) + "*"
    async for raw in client.scan_iter(match=pattern, count=1000, **where):
        yield _text(raw)


# --------------------------------------------------------------------------------------------
# Values


# A Redis argument as hiredis packs it.
Scalar = str | int | float
_AS_IS: Final = frozenset({int, float, str})


def encode_value(name: str, value: object) -> str:
    """One KPI as hash field text.

    Integers as decimal text (exact however large); floats as ``repr`` (the shortest decimal
    that reads back as the same double, always with a ``.``, an exponent, or ``inf``/``nan``,
    so never mistaken for an integer); object KPIs as JSON objects; strings as they are.
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
    """Inverse of :func:`encode_value`: int, float, dict (object KPIs) or str (attributes)."""
    text = _text(raw)
    if name in _TEXT_FIELDS:
        return text
    if text.startswith("{"):
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
    return redacted(url)


def client_from_url(
    url: str, *, decode_responses: bool = False, cluster: bool = False, **options: Any
) -> Redis:
    """An asyncio client without redis-py's own retries (callers decide how to retry).

    With ``cluster``, a Redis Cluster client (typed as :class:`Redis`: the commands used
    here are common to both).
    """
    common: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_connect_timeout": 2.0,
        "socket_timeout": 10.0,
        **options,
    }
    if cluster:
        return cast(Redis, RedisCluster.from_url(url, **common))
    return Redis.from_url(url, retry=Retry(NoBackoff(), 0), **common)


# --------------------------------------------------------------------------------------------
# Script calls


@dataclass(slots=True)
class Call:
    """One script call: the keys it declares (all in one slot) and its arguments."""

    campaign_id: str | None  # None for the global indexes
    keys: list[str] = field(default_factory=list)
    argv: list[Scalar] = field(default_factory=list)

    def add(self, *command: Scalar) -> None:
        """Append a command: its argument count, then its arguments."""
        self.argv.append(len(command))
        self.argv.extend(command)


# Refuses an older write, then runs the flattened commands. Returns 1 when the campaign's
# flush_seq key existed, 0 when it did not (a new campaign, or lost data), -1 when refused.
_CAMPAIGN_SCRIPT: Final = """
local seq = tonumber(ARGV[1])
local held = redis.call('GET', KEYS[1])
if held and tonumber(held) > seq then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1])
local i = 2
local n = #ARGV
while i <= n do
  local argc = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + argc))
  i = i + argc + 1
end
if held then
  return 1
end
return 0
"""
# One global index: ARGV = now, then members to add, '|', members to drop if older than now.
_INDEX_SCRIPT: Final = """
local now = ARGV[1]
local i = 2
while ARGV[i] ~= '|' do
  redis.call('ZADD', KEYS[1], 'GT', now, ARGV[i])
  i = i + 1
end
i = i + 1
while i <= #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) < tonumber(now) then
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
  i = i + 1
end
return 1
"""
# Refresh the score of members already in the set (a campaign whose objective this flush
# does not say): ARGV = now, members.
_REFRESH_SCRIPT: Final = """
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', 'GT', ARGV[1], ARGV[i])
end
return 1
"""
# Erases a campaign: KEYS = flush_seq, the acknowledgement, the keys to delete; ARGV = the
# erasing flush's sequence, the acknowledgement's TTL, the acknowledgement field that gets
# the count of keys deleted, a message to publish when some were, then more acknowledgement
# fields (name, value, ...). Refused (-1, nothing deleted) when Redis holds a newer write:
# records that followed the erasure. flush_seq stays, at the erasing flush, so that an
# older write of a frozen worker cannot bring the keys back.
_ERASE_SCRIPT: Final = f"""
local seq = tonumber(ARGV[1])
local held = redis.call('GET', KEYS[1])
local removed = -1
if not (held and tonumber(held) > seq) then
  removed = 0
  for i = 3, #KEYS do
    removed = removed + redis.call('DEL', KEYS[i])
  end
  if held or removed > 0 then
    redis.call('SET', KEYS[1], ARGV[1])
  end
  if removed > 0 then
    redis.call('PUBLISH', '{UPDATES_CHANNEL}', ARGV[4])
  end
end
redis.call('HSET', KEYS[2], ARGV[3], removed, unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[2], ARGV[2])
return removed
"""
_SCRIPTS: Final = {
    name: (text, hashlib.sha1(text.encode()).hexdigest())
    for name, text in (
        ("campaign", _CAMPAIGN_SCRIPT), ("index", _INDEX_SCRIPT), ("refresh", _REFRESH_SCRIPT),
        ("erase", _ERASE_SCRIPT),
    )
}
ACK_TTL_S: Final = 86_400
"""How long a forget request's acknowledgement stays in Redis."""
_MAX_MEMBERS_PER_COMMAND: Final = 1000


def campaign_calls(flush: Flush, ttl_s: Mapping[str, int]) -> list[Call]:
    """One script call per campaign of the flush, in order (pure; see the module docstring)."""
    now = flush.updated_at_ms
    calls: dict[str, Call] = {}
    members: dict[str, dict[str, list[Scalar]]] = {}  # cid -> sorted set -> score, member...
    removed: dict[str, dict[str, list[str]]] = {}  # cid -> sorted set -> members to remove
    written: dict[str, list[str]] = {}
    for kpi_set in flush.kpi_sets:
        cid = kpi_set.campaign_id
        call = calls.get(cid)
        if call is None:
            call = calls[cid] = Call(cid, [flush_seq_key(cid)], [flush.sequences.get(cid, 0)])
            members[cid], removed[cid], written[cid] = {}, {}, []
        key = redis_key(kpi_set)
        # Any field can disappear (a ratio whose denominator went back to 0 after a snapshot
        # lowered a counter, a definition that lost its budget): absolute values, whole sets.
        call.add("DEL", key)
        call.add("HSET", key, *hash_items(kpi_set, now))
        if kpi_set.window != Window.ALL:
            call.add("EXPIRE", key, ttl_s[kpi_set.window])
        written[cid].append(key)
        if kpi_set.scope in (Scope.INFLUENCER, Scope.POST):
            members[cid].setdefault(index_key(cid, kpi_set.scope), []).extend(
                (now, kpi_set.scope_id)
            )
            if kpi_set.scope == Scope.INFLUENCER and kpi_set.window == Window.ALL:
                _leaderboards(kpi_set, members[cid], removed[cid])
    for record in flush.alerts:
        cid = record.campaign_id
        call = calls.get(cid)
        if call is None:
            call = calls[cid] = Call(cid, [flush_seq_key(cid)], [flush.sequences.get(cid, 0)])
            members[cid], removed[cid], written[cid] = {}, {}, []
        key = alerts_key(cid)
        field_name = f"{record.rule}|{record.scope}|{record.scope_id}"
        call.add("HSET", key, field_name, dumps(record.to_value()).decode("utf-8"))
        written[cid].append(key)
    step = 2 * _MAX_MEMBERS_PER_COMMAND
    for cid, call in calls.items():
        for key, scored in members[cid].items():
            for i in range(0, len(scored), step):
                call.add("ZADD", key, *scored[i : i + step])
        for key, gone in removed[cid].items():
            for i in range(0, len(gone), _MAX_MEMBERS_PER_COMMAND):
                call.add("ZREM", key, *gone[i : i + _MAX_MEMBERS_PER_COMMAND])
        keys = sorted(set(written[cid]))
        message = {"campaign_id": cid, "keys": keys}
        call.add("PUBLISH", UPDATES_CHANNEL, dumps(message).decode("utf-8"))
        call.keys.extend(sorted({*keys, *members[cid], *removed[cid]}))
    return list(calls.values())


def index_calls(flush: Flush) -> list[tuple[str, Call]]:
    """The global index calls of a flush: (script, call), one key each."""
    now = flush.updated_at_ms
    campaigns = sorted({kpi_set.campaign_id for kpi_set in flush.kpi_sets})
    objectives: dict[str, str | None] = {}
    for kpi_set in flush.kpi_sets:
        if kpi_set.scope == Scope.CAMPAIGN and kpi_set.window == Window.ALL:
            objective = kpi_set.kpis.get("objective")
            objectives[kpi_set.campaign_id] = objective if isinstance(objective, str) else None
    calls = [("index", Call(None, [campaigns_key()], [now, *campaigns, "|"]))]
    unknown = [cid for cid in campaigns if cid not in objectives]
    for objective in OBJECTIVES:
        adding = [cid for cid, o in sorted(objectives.items()) if o == objective]
        dropping = [cid for cid, o in sorted(objectives.items()) if o != objective]
        if adding or dropping:
            call = Call(None, [objective_key(objective)], [now, *adding, "|", *dropping])
            calls.append(("index", call))
        if unknown:
            calls.append(("refresh", Call(None, [objective_key(objective)], [now, *unknown])))
    return calls


def erasure_calls(flush: Flush) -> list[tuple[str, Call]]:
    """The erasing calls of a flush's erasures, then their removal from the global indexes.

    Each erasure deletes the hashes of the KPI sets the erased state held, the leaderboards,
    the id indexes and the alerts of the campaign, and writes the acknowledgement of its
    request; pages showing the campaign are told of the deleted `all` sets and alerts.
    """
    now = flush.updated_at_ms
    calls: list[tuple[str, Call]] = []
    for erasure in flush.erasures:
        cid = erasure.campaign_id
        seq = flush.sequences.get(cid, 0)
        hashes = [key_for(cid, *key) for key in erasure.set_keys] if erasure.known else []
        keys = [*hashes, alerts_key(cid)] if erasure.known else []
        if erasure.known:
            keys += [leaderboard_key(cid, kpi) for kpi in LEADERBOARD_KPIS]
            keys += [index_key(cid, Scope.INFLUENCER), index_key(cid, Scope.POST)]
        shown = [key for key in hashes if key.endswith(f":{Window.ALL}")]
        message = {"campaign_id": cid, "keys": sorted([*shown, alerts_key(cid)])}
        call = Call(cid, [flush_seq_key(cid), forgotten_key(cid, erasure.request_id), *keys])
        call.argv = [
            seq, ACK_TTL_S, "redis_keys", dumps(message).decode("utf-8"),
            "known", int(erasure.known), "state_cells", erasure.state_cells,
            "kpi_sets", len(erasure.set_keys), "kpi_past_retention", erasure.past_retention,
            "alert_keys", erasure.alert_keys,
            "flush_seq", seq, "updated_at", now,
        ]
        calls.append(("erase", call))
    calls += unindex_calls(sorted({e.campaign_id for e in flush.erasures}), now)
    return calls


def unindex_calls(campaign_ids: Sequence[str], now_ms: int) -> list[tuple[str, Call]]:
    """Remove campaigns from the global indexes, where a write older than ``now_ms`` put them.

    A later write (records that followed the erasure) keeps its campaign indexed.
    """
    if not campaign_ids:
        return []
    keys = [campaigns_key(), *(objective_key(objective) for objective in OBJECTIVES)]
    return [("index", Call(None, [key], [now_ms, "|", *campaign_ids])) for key in keys]


def _leaderboards(
    kpi_set: KpiSet, members: dict[str, list[Scalar]], removed: dict[str, list[str]]
) -> None:
    for kpi in LEADERBOARD_KPIS:
        key = leaderboard_key(kpi_set.campaign_id, kpi)
        value = kpi_set.kpis.get(kpi)
        if isinstance(value, int | float) and not isinstance(value, bool):
            members.setdefault(key, []).extend((value, kpi_set.scope_id))
        else:
            removed.setdefault(key, []).append(kpi_set.scope_id)


# --------------------------------------------------------------------------------------------
# The sink


class RedisSink:
    """Writes each flush to Redis, one script call per campaign (see the module docstring)."""

    name = "redis"

    def __init__(
        self,
        settings: Settings,
        *,
        client: Redis | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_set_error: Callable[[str], None] | None = None,
    ) -> None:
        """Prepare the sink; ``client`` replaces the one built from the settings."""
        self._settings = settings
        self._ttl_s = dict(settings.ttl_s)
        self._client = client
        self._owns_client = client is None
        self._on_error = on_error
        self._on_set_error = on_set_error
        # Campaigns this sink wrote, so a missing flush_seq key means lost, not new.
        self._written: set[str] = set()
        self._run_ids: frozenset[str] | None = None

    @property
    def client(self) -> Redis:
        """The client (built on first use)."""
        if self._client is None:
            from streams.connections import redis_client  # noqa: PLC0415 (no import cycle)

            self._client = redis_client(self._settings)
        return self._client

    @property
    def _cluster(self) -> bool:
        return isinstance(self.client, RedisCluster)

    async def start(self) -> None:
        """Build the client. Connecting is lazy: an absent Redis must not stop the worker."""
        _ = self.client

    async def stop(self) -> None:
        """Close the client if this sink built it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def forget(self, campaign_ids: Iterable[str]) -> None:
        """Stop watching campaigns another worker writes now."""
        self._written.difference_update(campaign_ids)

    async def write(self, flush: Flush) -> Collection[str]:
        """Store one flush; retry transient failures until it is stored.

        Returns the campaigns whose earlier writes Redis had lost.
        """
        if flush.erasures:
            await self._erase(flush)
        if not flush.kpi_sets:
            return ()
        try:
            calls = campaign_calls(flush, self._ttl_s)
            replies = await self._run("writing a flush", [("campaign", call) for call in calls])
        except UNENCODABLE_ERRORS:
            # Found only now, not checked set by set on every flush (packing is a tenth of
            # the worker's CPU): the sets that cannot be written are left out, the rest is
            # written again (absolute values, fenced: writing twice changes nothing).
            flush = replace(flush, kpi_sets=self._encodable(flush))
            calls = campaign_calls(flush, self._ttl_s)
            replies = await self._run("writing a flush", [("campaign", call) for call in calls])
        lost: set[str] = set()
        for call, reply in zip(calls, replies, strict=True):
            cid = cast(str, call.campaign_id)
            if isinstance(reply, Exception):
                self._set_failed(cid, call, reply)
            elif reply == 0 and cid in self._written and cid not in flush.whole:
                lost.add(cid)
            self._written.add(cid)
        indexes = index_calls(flush)
        replies = await self._run("updating the campaign indexes", indexes)
        for (_, call), reply in zip(indexes, replies, strict=True):
            if isinstance(reply, Exception):
                self._set_failed(None, call, reply)
        return lost

    async def _erase(self, flush: Flush) -> None:
        """Erase the flush's forgotten campaigns (before its KPI sets: they come after)."""
        self._written.difference_update(erasure.campaign_id for erasure in flush.erasures)
        calls = erasure_calls(flush)
        replies = await self._run("erasing campaigns", calls)
        for (_, call), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):
                self._set_failed(call.campaign_id, call, reply)
            elif reply == -1:
                log.warning(
                    "campaign %s: Redis holds a write newer than its erasure (records that "
                    "followed it); its keys were left", call.campaign_id,
                )

    async def sweep(self, campaign_id: str, request_id: str, seq: int, now_ms: int) -> int:
        """Delete every key of an erased campaign still in Redis (``campaign-kpi forget``).

        What the erasing worker did not know of: windows its state no longer held, or all of
        it when the worker stopped between its flush and its Redis step. Fenced like the
        erasure, at its flush ``seq``: refused (-1) when records that followed the erasure
        were written since. The count goes to the request's acknowledgement too.
        """
        fence = flush_seq_key(campaign_id)
        found = [
            key async for key in keys_with_prefix(self.client, campaign_prefix(campaign_id))
            if key != fence
        ]
        call = Call(campaign_id, [fence, forgotten_key(campaign_id, request_id), *found])
        message = {"campaign_id": campaign_id, "keys": sorted(found)}
        call.argv = [seq, ACK_TTL_S, "redis_keys_swept", dumps(message).decode("utf-8")]
        replies = await self._run(
            "sweeping an erased campaign",
            [("erase", call), *unindex_calls([campaign_id], now_ms)],
        )
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return int(replies[0])

    async def lost(self, campaign_ids: Collection[str]) -> Collection[str]:
        """The campaigns among these whose ``flush_seq`` key vanished, or all on a restart."""
        watched = sorted(set(campaign_ids) & self._written)
        if not watched:
            return ()
        try:
            run_ids = await self._server_ids()
            exists = await self._pipeline(("EXISTS", flush_seq_key(cid)) for cid in watched)
        except TRANSIENT_ERRORS:
            return ()  # unknown for now; the next write or check will tell
        restarted = self._run_ids is not None and run_ids != self._run_ids
        self._run_ids = run_ids
        if restarted:
            log.warning("Redis restarted (run id changed): writing every campaign again")
            return watched
        return [cid for cid, found in zip(watched, exists, strict=True) if found == 0]

    def _encodable(self, flush: Flush) -> list[KpiSet]:
        """The flush's sets that can be written; each other one is logged and counted."""
        kept = []
        for kpi_set in flush.kpi_sets:
            try:
                key = redis_key(kpi_set)
                _pack("HSET", key, *hash_items(kpi_set, flush.updated_at_ms))
                dumps([key])  # the update message names it
            except UNENCODABLE_ERRORS as error:
                log.error("KPI set %s cannot be written to Redis (%r); it is left out",
                          kpi_set.key, error)
                if self._on_set_error is not None:
                    self._on_set_error(f"KPI set {kpi_set.key}")
            else:
                kept.append(kpi_set)
        return kept

    def _set_failed(self, campaign_id: str | None, call: Call, error: Exception) -> None:
        where = f"campaign {campaign_id}" if campaign_id is not None else "a campaign index"
        log.error("Redis refused the write of %s (keys %s): %s", where, call.keys[:5], error)
        if self._on_set_error is not None:
            self._on_set_error(where)

    async def _server_ids(self) -> frozenset[str]:
        if self._cluster:
            # A cluster client sends INFO to one node only: every master is asked, since any
            # of them restarting (or a failover replacing it) may lose or roll back data.
            cluster = cast(RedisCluster, self.client)
            with unreachable_cluster_is_transient():
                replies: dict[Any, Any] = await cluster.info(
                    "server", target_nodes=RedisCluster.PRIMARIES
                )
            # One master answers with its INFO itself, several with INFO by node name.
            infos = [replies] if "run_id" in replies else list(replies.values())
            return frozenset(str(info["run_id"]) for info in infos)
        info = await self.client.info("server")
        return frozenset({str(info["run_id"])})

    async def _run(self, what: str, calls: Sequence[tuple[str, Call]]) -> list[Any]:
        """Run script calls, loading the scripts when Redis lost them; retry outages."""

        async def attempt() -> list[Any]:
            replies = await self._pipeline(
                ("EVALSHA", _SCRIPTS[script][1], len(call.keys), *call.keys, *call.argv)
                for script, call in calls
            )
            if any(isinstance(reply, NoScriptError) for reply in replies):
                await self._load_scripts()
                replies = await self._pipeline(
                    ("EVALSHA", _SCRIPTS[script][1], len(call.keys), *call.keys, *call.argv)
                    for script, call in calls
                )
            return replies

        return await retry_forever(
            attempt,
            what=f"Redis at {redacted_url(self._settings.redis_url)}: {what}",
            transient=TRANSIENT_ERRORS,
            log=log,
            on_error=self._on_error,
        )

    async def _load_scripts(self) -> None:
        for text, _ in _SCRIPTS.values():
            if self._cluster:
                cluster = cast(RedisCluster, self.client)
                with unreachable_cluster_is_transient():
                    await cluster.script_load(text)  # redis-py loads it on every primary
            else:
                await self.client.script_load(text)

    async def _pipeline(self, commands: Iterable[tuple[Scalar, ...]]) -> list[Any]:
        """Send commands, read every reply; an error reply comes back as its exception."""
        commands = list(commands)
        if self._cluster:
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            with unreachable_cluster_is_transient():
                answers: list[Any] = list(await pipe.execute(raise_on_error=False))
            # A node lost mid-call answers with its connection error in place of a reply: an
            # outage of the call, retried whole (absolute, fenced writes), not one campaign's
            # refusal (a single Redis's connection raises instead).
            for answer in answers:
                if isinstance(answer, TRANSIENT_ERRORS):
                    raise answer
            return answers
        # One buffer packed by hiredis in C, one round trip: a flush writes thousands of
        # hashes, and packing them argument by argument in Python cost more than the KPIs.
        pool = self.client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(
                b"".join(_pack(*command) for command in commands)
            )
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as error:
                    replies.append(error)
            return replies
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)


def _pack(*parts: Scalar) -> bytes:
    # hiredis's stub types the tuple as one element long; it takes any length.
    packed: bytes = hiredis.pack_command(parts)  # type: ignore[arg-type]
    return packed

