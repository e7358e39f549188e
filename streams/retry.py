"""The one retry policy for services that come back: capped exponential backoff, for ever.

Kafka and Redis outages are waited out, never turned into lost records: an operation that
fails with a transient error is tried again after 0.1 s, 0.2 s, ... up to 5 s between tries.
The first failure of an outage is logged as a warning, the recovery once, the tries between
at debug level.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
)

INITIAL_S: Final = 0.1
MAX_S: Final = 5.0

T = TypeVar("T")


async def retry_forever(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    transient: tuple[type[BaseException], ...],
    log: logging.Logger,
    on_error: Callable[[BaseException], None] | None = None,
    max_s: float = MAX_S,
) -> T:
    """Run ``operation`` until it succeeds; errors outside ``transient`` are raised."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None and on_error is not None:
            on_error(error)
        level = logging.WARNING if state.attempt_number == 1 else logging.DEBUG
        log.log(level, "%s failed (%s: %s); retrying", what, type(error).__name__, error)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(transient),
        wait=wait_exponential(multiplier=INITIAL_S, min=INITIAL_S, max=max_s),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0
    async for attempt in retrying:
        attempts = attempt.retry_state.attempt_number
        with attempt:
            result = await operation()
    if attempts > 1:
        log.info("%s succeeded again after %d attempts", what, attempts)
    return result
