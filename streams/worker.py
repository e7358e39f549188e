"""``campaign-kpi worker``: the Faust worker process around :func:`streams.app.create_app`."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import faust

from streams.app import create_app
from streams.config import Settings, redacted
from streams.connections import ConnectionSetupError, check_connections
from streams.metrics import watch_gc_pauses

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; Faust handles the signals and a clean shutdown.

    First connect as the worker will: refused credentials, an untrusted certificate or a
    protocol the listener does not speak end it here, with status :data:`EXIT_CONFIG`
    and a message naming the setting, instead of Faust retrying or crashing somewhere later.
    Production mode without a pseudonym key ends it the same way, before it connects.
    """
    for problem in settings.production_problems():
        print(f"campaign-kpi worker: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    # A loop of its own, never set as the current one: Faust then makes and runs its own.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(check_connections(settings))
    except ConnectionSetupError as error:
        print(f"campaign-kpi worker: {error}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        loop.close()
    app = create_app(settings)
    watch_gc_pauses(app.registry)
    kafka_login = settings.kafka_security_protocol
    if kafka_login.startswith("SASL_"):
        kafka_login += f" {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username}"
    log.info(
        "worker %s: Kafka %s (%s), Redis %s, metrics on http://%s:%d/metrics",
        settings.app_id, settings.kafka_bootstrap, kafka_login, redacted(settings.redis_url),
        settings.web_bind, settings.web_port,
    )
    worker = faust.Worker(app, loglevel="INFO")
    app.on_fatal = _exit_now
    worker.execute_from_commandline()  # exits the process itself
    return 0


# The exit status of a worker that stopped on an unexpected error (EX_SOFTWARE).
EXIT_FATAL = 70
# The exit status of a worker whose settings cannot work: Kafka or Redis refused it at
# start, or production mode lacks what it requires (EX_CONFIG).
EXIT_CONFIG = 78


def _exit_now(error: BaseException) -> None:
    """End the process at once: crash-only, since a restart resumes exactly.

    A graceful Faust shutdown from inside a failing agent can wait on that agent for ever;
    nothing needs it, because state and outputs are committed per flush in transactions.
    """
    log.critical("exiting with status %d after %r; a restarted worker resumes from its "
                 "last committed flush", EXIT_FATAL, error)
    logging.shutdown()
    os._exit(EXIT_FATAL)
