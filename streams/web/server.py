"""Running the web view: ``campaign-kpi serve``, or in-process beside another program (the demo).

``campaign-kpi serve [--bind ADDRESS] [--port PORT]`` runs until SIGINT/SIGTERM.
:func:`start_web_view` starts the same application inside a running event loop and returns
its URL and a ``stop()``; ``port=0`` takes a free port.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace

from aiohttp import web

from streams.config import Settings, SettingsError
from streams.sinks.redis import redacted_url
from streams.web.app import AccessLogger, create_app
from streams.web.settings import WebSettings

__all__ = ["RunningWebView", "main", "start_web_view"]

log = logging.getLogger(__name__)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _warn_if_open(web_settings: WebSettings) -> None:
    if not web_settings.loopback_only and not web_settings.auth_required:
        log.warning(
            "listening on %s without WEB_VIEW_BASIC_AUTH or WEB_VIEW_TOKEN: anyone who "
            "reaches this address can read every campaign's KPIs", web_settings.bind,
        )


@dataclass(slots=True)
class RunningWebView:
    """A web view started with :func:`start_web_view`."""

    url: str
    runner: web.AppRunner

    async def stop(self) -> None:
        """Close the streams and the server."""
        await self.runner.cleanup()


async def start_web_view(
    settings: Settings,
    web_settings: WebSettings | None = None,
    *,
    bind: str | None = None,
    port: int | None = None,
) -> RunningWebView:
    """Start the web view in the running loop (for ``make demo``); returns its URL.

    Redis, Kafka and topic names come from ``settings`` (the demo's), the rest from
    ``web_settings`` (default: ``settings.web``, the ``WEB_VIEW_*`` variables).
    """
    chosen = web_settings if web_settings is not None else settings.web
    chosen = replace(
        chosen, bind=bind if bind is not None else chosen.bind,
        port=port if port is not None else chosen.port,
    )
    _warn_if_open(chosen)
    # Open streams end at shutdown (the hub closes them): no need to wait long for them.
    runner = web.AppRunner(
        create_app(settings, chosen), access_log_class=AccessLogger, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, chosen.bind, chosen.port)
    await site.start()
    addresses = runner.addresses  # the bound port, for port 0
    bound = addresses[0][1] if addresses else chosen.port
    return RunningWebView(_url(chosen.bind, int(bound)), runner)


def main(
    settings: Settings,
    *,
    bind: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """``campaign-kpi serve``: run until stopped; the exit status is returned."""
    web_settings = settings.web
    if env is not None:
        try:
            web_settings = Settings.from_env(env).web
        except SettingsError as error:
            print(f"campaign-kpi serve: {error}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Each read of the campaigns topic would log its consumer's subscription at INFO.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)

    async def run() -> None:
        view = await start_web_view(settings, web_settings, bind=bind, port=port)
        print(
            f"campaign-kpi serve: {view.url} (Redis {redacted_url(settings.redis_url)}; "
            "Ctrl-C stops)",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await view.stop()

    try:
        asyncio.run(run())
    except OSError as error:  # the port is taken, the address is not ours
        print(f"campaign-kpi serve: cannot listen: {error}", file=sys.stderr)
        return 2
    return 0
