"""``campaign-kpi worker``: the Faust worker process around :func:`streams.app.create_app`."""

from __future__ import annotations

import logging
import os

import faust

from streams.app import create_app
from streams.config import Settings
from streams.metrics import watch_gc_pauses

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; Faust handles the signals and a clean shutdown."""
    app = create_app(settings)
    watch_gc_pauses(app.registry)
    log.info(
        "worker %s: Kafka %s, Redis %s, metrics on http://%s:%d/metrics",
        settings.app_id, settings.kafka_bootstrap, settings.redis_url,
        settings.web_bind, settings.web_port,
    )
    worker = faust.Worker(app, loglevel="INFO")
    app.on_fatal = _exit_now
    worker.execute_from_commandline()  # exits the process itself
    return 0


# The exit status of a worker that stopped on an unexpected error (EX_SOFTWARE).
EXIT_FATAL = 70


def _exit_now(error: BaseException) -> None:
    """End the process at once: crash-only, since a restart resumes exactly.

    A graceful Faust shutdown from inside a failing agent can wait on that agent for ever;
    nothing needs it, because state and outputs are committed per flush in transactions.
    """
    log.critical("exiting with status %d after %r; a restarted worker resumes from its "
                 "last committed flush", EXIT_FATAL, error)
    logging.shutdown()
    os._exit(EXIT_FATAL)
