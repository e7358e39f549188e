"""How the Redis sink judges a Redis Cluster client's errors (no server needed)."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError, RedisClusterException, ResponseError

from streams.sinks.redis import (
    TRANSIENT_ERRORS,
    ClusterUnreachableError,
    unreachable_cluster_is_transient,
)


def cluster_error(cause: BaseException | None) -> RedisClusterException:
    """What redis-py raises when no startup node answers: the last node's error as cause."""
    try:
        raise RedisClusterException("Redis Cluster cannot be connected") from cause
    except RedisClusterException as error:
        return error


def test_no_node_reachable_is_a_transient_connection_error() -> None:
    with pytest.raises(ClusterUnreachableError) as raised, unreachable_cluster_is_transient():
        raise cluster_error(ConnectionError("Error 111 connecting to 127.0.0.1:7000"))
    assert isinstance(raised.value, TRANSIENT_ERRORS)  # retried for ever, as for one Redis
    assert "cannot be connected" in str(raised.value)


def test_other_cluster_errors_are_not_retried() -> None:
    not_enabled = cluster_error(ResponseError("ERR This instance has cluster support disabled"))
    with pytest.raises(RedisClusterException) as raised, unreachable_cluster_is_transient():
        raise not_enabled
    assert raised.value is not_enabled
    with pytest.raises(RedisClusterException), unreachable_cluster_is_transient():
        raise cluster_error(None)


def test_a_looping_chain_ends() -> None:
    first = RedisClusterException("a")
    second = RedisClusterException("b")
    first.__cause__, second.__cause__ = second, first
    with pytest.raises(RedisClusterException), unreachable_cluster_is_transient():
        raise first
