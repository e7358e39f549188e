"""The web view's part of the settings: ``Settings.web`` (variables ``WEB_VIEW_*``).

They are read and validated with every other setting by :mod:`streams.config`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields

__all__ = ["WebSettings"]


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Everything ``campaign-kpi serve`` can be told (``WEB_VIEW_*``, streams.config)."""

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
