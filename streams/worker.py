"""``campaign-kpi worker``: the Faust worker process around :func:`streams.app.create_app`."""

from __future__ import annotations

import logging

import faust

from streams.app import create_app
from streams.config import Settings

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; Faust handles the signals and a clean shutdown."""
    app = create_app(settings)
    log.info(
        "worker %s: Kafka %s, Redis %s, metrics on http://%s:%d/metrics",
        settings.app_id, settings.kafka_bootstrap, settings.redis_url,
        settings.web_bind, settings.web_port,
    )
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()  # exits the process itself
    return 0
