"""The web application (aiohttp + Jinja2): read-only pages, their event streams, static assets.

Routes (GET and HEAD only; anything else is 405):

* ``/`` campaigns grouped by objective; ``/campaigns/<id>`` one campaign;
* ``/events`` (the list) and ``/events?campaign=<id>``: Server-Sent Events (:mod:`.live`);
* ``/api/campaigns``, ``/api/campaigns/<id>``: the same content as JSON;
* ``/report.html?campaign=<id>`` (and ``.pdf``): the campaign's report file, when one was
  written into ``WEB_VIEW_REPORTS_DIR``;
* ``/static/<digest>/<path>``: the assets, the vendored JS library included, cached for
  good since their URL changes with their content;
* ``/healthz``: whether Redis answers and the subscription is up (never authenticated).

With ``WEB_VIEW_BASIC_AUTH`` or ``WEB_VIEW_TOKEN`` every other route asks for credentials.
Pages carry no secret: no URL, password or token is ever rendered, and the access log
leaves query strings out (a ``?token=`` must not end in a log).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from streams.codec import dumps
from streams.config import Settings
from streams.connections import redis_client
from streams.web.definitions import Definitions
from streams.web.live import LiveHub, Viewer, sse_event
from streams.web.settings import WebSettings
from streams.web.views import report_files

__all__ = ["CLIENT_NAME", "HUB", "AccessLogger", "create_app"]

log = logging.getLogger(__name__)

HUB: Final = web.AppKey("hub", LiveHub)
_WEB: Final = web.AppKey("web_settings", WebSettings)
_HERE: Final = Path(__file__).resolve().parent
_TOKEN_COOKIE: Final = "kpi_view_token"
_SECTIONS: Final = ("summary", "alerts", "headline", "leaderboard", "content", "quality",
                    "report")
# What the assets are (not the system's MIME table: the answer must not vary by machine).
_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Pages and streams: scripts, styles and data from this server only; no frames, no forms.
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# A report is one self-contained file: inline styles and SVG, no script.
_REPORT_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _slug(value: object) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    digest: str


class Pages:
    """The templates, the static assets and how a page's sections are rendered."""

    def __init__(self) -> None:
        """Load the templates and read every static file once."""
        self.assets: dict[str, _Asset] = {}
        static = _HERE / "static"
        for path in sorted(static.rglob("*")):
            if path.is_file():
                body = path.read_bytes()
                kind = _TYPES.get(path.suffix, "text/plain; charset=utf-8")
                digest = hashlib.sha256(body).hexdigest()[:16]
                self.assets[path.relative_to(static).as_posix()] = _Asset(body, kind, digest)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["slug"] = _slug
        self.env.globals["static"] = self.static_url
        self._macros = self.env.get_template("sections.html.j2").module

    def static_url(self, path: str) -> str:
        """The URL of an asset: its content digest in the path, so it can be cached for good."""
        return f"/static/{self.assets[path].digest}/{path}"

    def page(self, name: str, **context: Any) -> str:
        """A whole page."""
        return self.env.get_template(name).render(**context)

    def sections(self, kind: str, view: Mapping[str, Any]) -> dict[str, str]:
        """The HTML of each section of a page's data (what the streams push)."""
        if kind == "list":
            group = self._macros.group  # type: ignore[attr-defined]
            return {g["id"]: str(group(g)) for g in view["groups"]}
        return {name: str(getattr(self._macros, name)(view[name])) for name in _SECTIONS}


_PAGES: Final = web.AppKey("pages", Pages)
_CLIENT: Final = web.AppKey("redis", Redis)
CLIENT_NAME: Final = web.AppKey("client_name", str)


# --------------------------------------------------------------------------------------------
# Middlewares


def _unauthorized(web_settings: WebSettings) -> web.Response:
    scheme = 'Basic realm="Campaign KPI Streams", charset="UTF-8"' if web_settings.basic_auth \
        else 'Bearer realm="Campaign KPI Streams"'
    return web.Response(
        status=401, text="authentication required\n",
        headers={"WWW-Authenticate": scheme, "Cache-Control": "no-store"},
    )


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def _credentials_ok(request: web.Request, web_settings: WebSettings) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic" and web_settings.basic_auth:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return _same(decoded, web_settings.basic_auth)
    if scheme.lower() == "bearer":
        return _same(value, web_settings.token)
    return _same(request.cookies.get(_TOKEN_COOKIE, ""), web_settings.token)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    web_settings = request.app[_WEB]
    if not web_settings.auth_required or request.path == "/healthz":
        return await handler(request)
    if _credentials_ok(request, web_settings):
        return await handler(request)
    given = request.query.get("token")
    if given is not None and _same(given, web_settings.token):
        # A browser cannot send a bearer header with EventSource: trade the token for an
        # HttpOnly cookie once, and take it out of the address bar (and of histories).
        rest = [(k, v) for k, v in request.query.items() if k != "token"]
        target = request.path + ("?" + urlencode(rest) if rest else "")
        response = web.HTTPSeeOther(target, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            _TOKEN_COOKIE, given, httponly=True, samesite="Strict", path="/",
            secure=request.secure,
        )
        raise response
    return _unauthorized(web_settings)


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except RedisError as error:
        log.warning("Redis unavailable for %s: %s: %s", request.path, type(error).__name__, error)
        response = web.Response(
            status=503, text="Redis is unavailable; try again shortly.\n",
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
        )
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cache-Control", "no-store")
    if request.app[_WEB].auth_required:
        headers.setdefault("Vary", "Authorization, Cookie")
        if headers["Cache-Control"].startswith("public"):
            headers["Cache-Control"] = headers["Cache-Control"].replace("public", "private")
    return response


class AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string: it may hold a token), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """One line per request."""
        self.logger.info(
            '%s "%s %s" %s %.3fs', request.remote, request.method, request.path,
            response.status, time,
        )

    @property
    def enabled(self) -> bool:
        """Logged at INFO."""
        return self.logger.isEnabledFor(logging.INFO)


# --------------------------------------------------------------------------------------------
# Handlers


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _not_found(pages: Pages, message: str) -> web.Response:
    return _html(pages.page("not_found.html.j2", message=message, stream_url=""), status=404)


async def _list(request: web.Request) -> web.Response:
    hub, pages = request.app[HUB], request.app[_PAGES]
    await hub.list_state()
    return _html(pages.page("campaigns.html.j2", page=hub.list_view(), stream_url="/events"))


async def _campaign(request: web.Request) -> web.Response:
    hub, pages = request.app[HUB], request.app[_PAGES]
    cid = request.match_info["cid"]
    state = await hub.campaign_state(cid)
    if not state.exists:
        return _not_found(pages, f"Redis holds no KPI set of campaign {cid}.")
    view = hub.campaign_view(cid)
    stream = "/events?" + urlencode({"campaign": cid})
    return _html(pages.page("campaign.html.j2", page=view, stream_url=stream))


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(data), status=status, content_type="application/json")


async def _api_list(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await hub.list_state()
    return _json(hub.list_view())


async def _api_campaign(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    cid = request.match_info["cid"]
    state = await hub.campaign_state(cid)
    if not state.exists:
        return _json({"error": f"no KPI set of campaign {cid}"}, status=404)
    return _json(hub.campaign_view(cid))


async def _events(request: web.Request) -> web.StreamResponse:
    hub, web_settings = request.app[HUB], request.app[_WEB]
    if len(hub.viewers()) >= web_settings.max_streams:
        return web.Response(status=503, text="too many open streams\n",
                            headers={"Retry-After": "10"})
    viewer = Viewer(request.query.get("campaign") or None)
    snapshot = await hub.join(viewer)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold events back
        }
    )
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n" + sse_event("snapshot", snapshot))
        while not viewer.closed.is_set():
            try:
                chunk = await asyncio.wait_for(viewer.queue.get(), web_settings.heartbeat_s)
            except TimeoutError:
                chunk = b": keep-alive\n\n"  # a comment: keeps proxies from closing idle streams
            await response.write(chunk)
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    finally:
        hub.leave(viewer)
    return response


async def _report(request: web.Request) -> web.StreamResponse:
    web_settings, pages = request.app[_WEB], request.app[_PAGES]
    cid = request.query.get("campaign", "")
    kind = "pdf" if request.path.endswith(".pdf") else "html"
    path = report_files(web_settings.reports_dir, cid).get(kind) if cid else None
    if path is None:
        return _not_found(pages, f"No {kind} report of campaign {cid} has been written.")
    response = web.FileResponse(path, headers={
        "Cache-Control": "no-cache",  # revalidated (Last-Modified, ETag): a report is rewritten
        "Content-Security-Policy": _REPORT_CSP,
        "Content-Type": "application/pdf" if kind == "pdf" else "text/html; charset=utf-8",
    })
    return response


async def _static(request: web.Request) -> web.Response:
    pages = request.app[_PAGES]
    asset = pages.assets.get(request.match_info["path"])
    if asset is None or asset.digest != request.match_info["digest"]:
        raise web.HTTPNotFound()
    return web.Response(
        body=asset.body,
        headers={
            "Content-Type": asset.content_type,
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": f'"{asset.digest}"',
        },
    )


async def _health(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    client: Redis = request.app[_CLIENT]
    try:
        redis_ok = bool(await client.ping())
    except (RedisError, OSError):
        redis_ok = False
    body = {
        "redis": redis_ok,
        "subscribed": hub.subscribed,
        "subscriptions_opened": hub.subscriptions_opened,
        "streams": len(hub.viewers()),
        "watched": hub.watched,
    }
    return _json(body, status=200 if redis_ok and hub.subscribed else 503)


def create_app(
    settings: Settings, web_settings: WebSettings, *, client: Redis | None = None
) -> web.Application:
    """The application; it connects on startup and closes what it opened on cleanup."""
    app = web.Application(middlewares=[_headers, _auth])
    pages = Pages()
    owns_client = client is None
    # Named, so that CLIENT LIST shows which connections are the web view's (and that one
    # of them, only one, holds the subscription).
    name = f"campaign-kpi-web-{os.getpid()}-{secrets.token_hex(3)}"
    reader = client if client is not None else redis_client(settings, client_name=name)
    subscriber = (
        redis_client(settings, subscriber=True, client_name=name)
        if client is None and settings.redis_cluster else None
    )
    definitions = Definitions(settings, web_settings)
    hub = LiveHub(reader, web_settings, definitions, pages.sections, pubsub_client=subscriber)
    definitions.on_change = hub.definitions_changed
    app[HUB], app[_WEB], app[_PAGES], app[_CLIENT] = hub, web_settings, pages, reader
    app[CLIENT_NAME] = name

    async def startup(_: web.Application) -> None:
        await hub.start()
        await definitions.start()

    async def shutdown(_: web.Application) -> None:
        hub.close_streams()

    async def cleanup(_: web.Application) -> None:
        await hub.stop()
        await definitions.stop()
        if owns_client:
            await reader.aclose()
        if subscriber is not None:
            await subscriber.aclose()

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    app.router.add_get("/", _list)
    app.router.add_get("/campaigns/{cid:.+}", _campaign)
    app.router.add_get("/events", _events)
    app.router.add_get("/api/campaigns", _api_list)
    app.router.add_get("/api/campaigns/{cid:.+}", _api_campaign)
    app.router.add_get("/report.html", _report)
    app.router.add_get("/report.pdf", _report)
    app.router.add_get("/static/{digest}/{path:.+}", _static)
    app.router.add_get("/healthz", _health)
    return app
