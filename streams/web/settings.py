"""The web view's settings (``WEB_VIEW_*``), read and validated like :mod:`streams.config`.

Redis, Kafka and topic names come from the one :class:`streams.config.Settings`; these are
the web server's own. Each variable names what it accepts; a bad value stops ``campaign-kpi
serve`` at start with the variable, the value (``(secret)`` for secrets) and what is allowed.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from streams.config import SettingsError

__all__ = ["WEB_VARIABLES", "WebSettings", "WebVariable"]


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Everything ``campaign-kpi serve`` can be told (see :data:`WEB_VARIABLES`)."""

    bind: str = "127.0.0.1"
    port: int = 8080
    basic_auth: str | None = None  # "user:password"
    token: str | None = None
    reports_dir: str = "reports"
    minutes: int = 180
    hours: int = 48
    days: int = 90
    max_campaigns: int = 500
    top_posts: int = 20
    push_interval_s: float = 0.25
    heartbeat_s: float = 15.0
    max_streams: int = 200
    linger_s: float = 30.0
    definitions: bool = True
    definitions_refresh_s: float = 60.0
    kafka_timeout_s: float = 15.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """Read and validate ``WEB_VIEW_*``; absent variables keep their defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        errors: list[str] = []
        for variable in WEB_VARIABLES:
            raw = env.get(variable.name)
            if raw is None:
                continue
            try:
                values[variable.setting] = variable.parse(raw)
            except ValueError as error:
                shown = "(secret)" if variable.secret else repr(raw)
                errors.append(f"{variable.name}={shown}: {error} (allowed: {variable.allowed})")
        if errors:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(errors))
        return replace(cls(), **values)

    @property
    def auth_required(self) -> bool:
        """Basic auth or a bearer token is configured."""
        return self.basic_auth is not None or self.token is not None

    @property
    def loopback_only(self) -> bool:
        """The server listens on a loopback address only."""
        if self.bind == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.bind).is_loopback
        except ValueError:
            return False

    def describe(self) -> dict[str, object]:
        """The settings for a log line, secrets replaced by whether they are set."""
        shown: dict[str, object] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in ("basic_auth", "token"):
                value = "(set)" if value else "(unset)"
            shown[item.name] = value
        return shown


@dataclass(frozen=True, slots=True)
class WebVariable:
    """One environment variable: its name, how it is read, what it accepts, what it does."""

    name: str
    setting: str  # the WebSettings field
    parse: Callable[[str], object]
    allowed: str
    doc: str
    secret: bool = False


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("not an integer") from None
        if not low <= value <= high:
            raise ValueError("out of range")
        return value

    return parse


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError("not a number") from None
        if not low <= value <= high:  # also refuses nan
            raise ValueError("out of range")
        return value

    return parse


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean")


def _address(raw: str) -> str:
    value = raw.strip()
    if value == "localhost":
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("not an IP address") from None
    return value


def _user_password(raw: str) -> str | None:
    if not raw:
        return None
    user, colon, password = raw.partition(":")
    if not colon or not user or len(password) < 8:
        raise ValueError("not user:password with a password of 8 characters or more")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in raw):
        raise ValueError("holds spaces or control characters")
    return raw


def _token(raw: str) -> str | None:
    if not raw:
        return None
    # The characters of an RFC 6750 bearer token, so it travels in a header unchanged.
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")
    if len(raw) < 16 or not set(raw) <= allowed:
        raise ValueError("not 16 or more characters of A-Z a-z 0-9 - . _ ~ + / =")
    return raw


def _directory(raw: str) -> str:
    if not raw.strip():
        raise ValueError("empty")
    return raw


WEB_VARIABLES: Final[tuple[WebVariable, ...]] = (
    WebVariable("WEB_VIEW_BIND", "bind", _address, "an IP address or localhost",
                "Address `campaign-kpi serve` listens on (--bind overrides)."),
    WebVariable("WEB_VIEW_PORT", "port", _integer(1, 65535), "a port 1..65535",
                "Port `campaign-kpi serve` listens on (--port overrides)."),
    WebVariable("WEB_VIEW_BASIC_AUTH", "basic_auth", _user_password,
                "user:password (password 8+ characters); empty: none",
                "Require HTTP basic auth with these credentials.", secret=True),
    WebVariable("WEB_VIEW_TOKEN", "token", _token,
                "16+ characters of A-Z a-z 0-9 - . _ ~ + / =; empty: none",
                "Require this bearer token (Authorization header, or once ?token= in a "
                "browser, which sets an HttpOnly cookie).", secret=True),
    WebVariable("WEB_VIEW_REPORTS_DIR", "reports_dir", _directory, "a directory path",
                "Where campaign pages look for report-<campaign>.html/.pdf to link."),
    WebVariable("WEB_VIEW_MINUTES", "minutes", _integer(10, 2880), "an integer 10..2880",
                "Minutes of 1m windows in a campaign's live chart."),
    WebVariable("WEB_VIEW_HOURS", "hours", _integer(2, 336), "an integer 2..336",
                "Hours of 1h windows in a campaign's hourly chart."),
    WebVariable("WEB_VIEW_DAYS", "days", _integer(2, 366), "an integer 2..366",
                "Days of 1d windows in a campaign's daily chart."),
    WebVariable("WEB_VIEW_MAX_CAMPAIGNS", "max_campaigns", _integer(1, 100_000),
                "an integer 1..100000",
                "Most campaigns on the list page (the most recently updated)."),
    WebVariable("WEB_VIEW_TOP_POSTS", "top_posts", _integer(1, 1000), "an integer 1..1000",
                "Posts listed with their content scores on a campaign page."),
    WebVariable("WEB_VIEW_PUSH_INTERVAL_S", "push_interval_s", _number(0.0, 10.0), "0..10",
                "Least time between two pushes to the pages: updates in between are merged."),
    WebVariable("WEB_VIEW_HEARTBEAT_S", "heartbeat_s", _number(1.0, 300.0), "1..300",
                "Seconds between keep-alive comments on an idle event stream."),
    WebVariable("WEB_VIEW_MAX_STREAMS", "max_streams", _integer(1, 100_000),
                "an integer 1..100000", "Most event streams (open pages) served at once."),
    WebVariable("WEB_VIEW_LINGER_S", "linger_s", _number(0.0, 3600.0), "0..3600",
                "How long a campaign's data stays cached after its last viewer left."),
    WebVariable("WEB_VIEW_DEFINITIONS", "definitions", _boolean, "true or false",
                "Read campaign definitions (schedules, targets, currency) from the campaigns "
                "topic for pacing; without them pacing is unknown."),
    WebVariable("WEB_VIEW_DEFINITIONS_REFRESH_S", "definitions_refresh_s",
                _number(1.0, 86_400.0), "1..86400",
                "Seconds between two reads of the campaigns topic."),
    WebVariable("WEB_VIEW_KAFKA_TIMEOUT_S", "kafka_timeout_s", _number(1.0, 600.0), "1..600",
                "Bound of one read of the campaigns topic."),
)
