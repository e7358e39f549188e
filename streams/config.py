"""One frozen Settings object, built once from the environment, validated, passed down.

Every variable is read through :data:`VARIABLES`, which names it, says what it accepts and
documents it; a bad value stops the program at start with a message that names the
variable, the value and what is allowed (:class:`SettingsError`), never a bare ``ValueError``
from deep inside. The README's settings table lists the same variables (a test checks it).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from streams.domain.alerts import AlertRules
from streams.domain.rules import Rules
from streams.domain.vocabulary import Topic
from streams.web.settings import WebSettings

_S_TO_US: Final = 1_000_000
_TOPIC_NAME: Final = re.compile(r"[a-zA-Z0-9._-]{1,249}")
# KPI_STATE_MAX_<KIND>: default ceilings and what each counts (docs/capacity.md).
STATE_CEILINGS: Final = {
    "campaigns": 50_000, "kpi_sets": 2_000_000, "open_windows": 1_000_000,
    "window_blocks": 1_000_000,
}


def topic_env_suffix(topic: str) -> str:
    """``content-reviews`` -> ``CONTENT_REVIEWS`` (the suffix of its variables)."""
    return topic.upper().replace("-", "_")


class SettingsError(ValueError):
    """One or more environment variables hold values the program cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker, the replay and the CLI can be told (see :data:`VARIABLES`)."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_key_password: str = ""
    redis_url: str = "redis://127.0.0.1:16379/0"
    redis_cluster: bool = False
    redis_ssl_cafile: str = ""
    redis_ssl_certfile: str = ""
    redis_ssl_keyfile: str = ""
    redis_ssl_key_password: str = ""
    app_id: str = "campaign-kpi"
    topic_prefix: str = ""
    input_topics: Mapping[str, str] = field(
        default_factory=lambda: {topic: str(topic) for topic in Topic}
    )
    kpi_topic: str = "campaign-kpis"
    dlq_topic: str = "kpi-dlq"
    alerts_topic: str = "campaign-alerts"
    control_topic: str = "kpi-control"
    partitions: int = 4
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    flush_interval_s: float = 1.0
    batch_max: int = 20_000
    session_timeout_s: float = 30.0
    transaction_timeout_s: float = 60.0
    dedup_horizon_s: int = 600
    grace_s: Mapping[str, int] = field(
        default_factory=lambda: dict.fromkeys(map(str, Topic), 6 * 3600)
    )
    ttl_s: Mapping[str, int] = field(
        default_factory=lambda: {"1m": 2 * 86_400, "1h": 14 * 86_400, "1d": 180 * 86_400}
    )
    metrics_campaigns: int = 200
    # Most state one worker should hold, by kind (streams.metrics.STATE_KINDS); an alert fires
    # above (docs/capacity.md sizes them: a few GiB of memory at these defaults).
    state_ceilings: Mapping[str, int] = field(
        default_factory=lambda: dict(STATE_CEILINGS)
    )
    web_port: int = 16066
    web_bind: str = "127.0.0.1"
    data_dir: str = ".local/worker"
    pseudonym_key: str = ""
    production: bool = False
    fault_delays: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    # KPI_ALERT_<NAME>: thresholds of the alert rules (AlertRules' fields; absent: defaults).
    alert_thresholds: Mapping[str, float] = field(default_factory=dict)
    web: WebSettings = field(default_factory=WebSettings)  # WEB_VIEW_*: campaign-kpi serve

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; absent variables keep their defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        errors: list[str] = []
        default = cls()
        for variable in VARIABLES:
            raw = env.get(variable.name)
            if raw is None:
                continue
            try:
                value = variable.parse(raw)
            except ValueError as error:
                shown = "(secret)" if variable.secret else repr(raw)
                errors.append(f"{variable.name}={shown}: {error} (allowed: {variable.allowed})")
                continue
            variable.store(values, value, default)
        if errors:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(errors))
        settings = replace(default, **values)
        settings.check()
        return settings

    def check(self) -> None:
        """Rules between settings; SettingsError when they contradict each other."""
        problems = []
        isr = self.min_insync_replicas
        if isr is not None and isr > self.replication_factor:
            problems.append(
                f"KPI_MIN_INSYNC_REPLICAS={self.min_insync_replicas} is more than "
                f"KPI_REPLICATION_FACTOR={self.replication_factor}: no write could succeed"
            )
        names = [self.topic(topic) for topic in Topic]
        names += [self.kpi_topic_name, self.dlq_topic_name, self.state_topic_name,
                  self.alerts_topic_name, self.control_topic_name]
        if len(set(names)) != len(names):
            problems.append(f"two topics share a name: {sorted(names)}")
        problems += self._security_problems()
        if problems:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))

    def _security_problems(self) -> list[str]:
        """Contradictions of the TLS and SASL settings: each would connect other than meant."""
        problems = []
        protocol = self.kafka_security_protocol
        sasl_set = [name for name, value in (("KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                                             ("KAFKA_SASL_PASSWORD", self.kafka_sasl_password))
                    if value]
        if protocol.startswith("SASL_"):
            if len(sasl_set) < 2:
                problems.append(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME "
                                "and KAFKA_SASL_PASSWORD")
        elif sasl_set:
            # Credentials silently ignored would leave the connection anonymous.
            problems.append(f"{' and '.join(sasl_set)} set, but KAFKA_SECURITY_PROTOCOL="
                            f"{protocol} does not authenticate with SASL: use SASL_SSL or "
                            "SASL_PLAINTEXT, or unset them")
        tls_in_use = {
            "KAFKA": protocol in ("SSL", "SASL_SSL"),
            "REDIS": urlsplit(self.redis_url).scheme == "rediss",
        }
        uses = {"KAFKA": "KAFKA_SECURITY_PROTOCOL is neither SSL nor SASL_SSL",
                "REDIS": "REDIS_URL is not a rediss:// URL"}
        for files in (self.kafka_tls, self.redis_tls):
            given = files.given()
            if given and not tls_in_use[files.prefix]:
                problems.append(f"{', '.join(given)} set, but {uses[files.prefix]} (no TLS)")
            elif files.prefix == "REDIS" and files.key_password and self.redis_cluster:
                # redis-py's cluster client has no key password option.
                problems.append("REDIS_SSL_KEY_PASSWORD is not supported with "
                                "KPI_REDIS_CLUSTER: give the cluster client an unencrypted key")
            elif (files.keyfile or files.key_password) and not files.certfile:
                problems.append(f"{files.prefix}_SSL_KEYFILE and {files.prefix}_SSL_KEY_PASSWORD "
                                f"belong to a client certificate: set {files.prefix}_SSL_CERTFILE")
            elif files.cafile or files.certfile:
                # Unreadable PEM, a key that does not match, a wrong key password: said now,
                # naming the variable, rather than as an SSL error at the first connection.
                from streams.connections import tls_context  # noqa: PLC0415 (it imports us)

                try:
                    tls_context(files)
                except ValueError as error:
                    problems.append(str(error))
        return problems

    @property
    def kafka_tls(self) -> TlsFiles:
        """The Kafka clients' TLS files."""
        return TlsFiles("KAFKA", self.kafka_ssl_cafile, self.kafka_ssl_certfile,
                        self.kafka_ssl_keyfile, self.kafka_ssl_key_password)

    @property
    def redis_tls(self) -> TlsFiles:
        """The Redis clients' TLS files."""
        return TlsFiles("REDIS", self.redis_ssl_cafile, self.redis_ssl_certfile,
                        self.redis_ssl_keyfile, self.redis_ssl_key_password)

    def topic(self, logical: str) -> str:
        """The full name of an input topic."""
        return self.topic_prefix + self.input_topics[logical]

    @property
    def kpi_topic_name(self) -> str:
        """The full name of the KPI topic."""
        return self.topic_prefix + self.kpi_topic

    @property
    def dlq_topic_name(self) -> str:
        """The full name of the dead-letter topic."""
        return self.topic_prefix + self.dlq_topic

    @property
    def alerts_topic_name(self) -> str:
        """The full name of the (compacted) campaign alerts topic."""
        return self.topic_prefix + self.alerts_topic

    @property
    def control_topic_name(self) -> str:
        """The full name of the control topic (operator requests such as forget)."""
        return self.topic_prefix + self.control_topic

    def consumed_topics(self) -> list[str]:
        """Every topic the worker consumes: the inputs, then the control topic."""
        return [*self.logical_topics(), self.control_topic_name]

    def production_problems(self) -> list[str]:
        """What production mode (KPI_PRODUCTION) refuses in these settings."""
        if self.production and not self.pseudonym_key:
            return [
                "KPI_PRODUCTION=true needs KPI_PSEUDONYM_KEY (16 characters or more, e.g. "
                "`openssl rand -hex 32`): without it viewer, visitor, reviewer and respondent "
                "ids are hashed with a key anyone knows"
            ]
        return []

    def alert_rules(self) -> AlertRules:
        """The alert rules' thresholds under these settings."""
        defaults = AlertRules()
        values = {
            name: type(getattr(defaults, name))(value)
            for name, value in self.alert_thresholds.items()
        }
        return replace(defaults, **values)

    @property
    def state_topic_name(self) -> str:
        """The compacted topic journaling the worker's state (one partition per input one)."""
        return f"{self.topic_prefix}{self.app_id}-state"

    def logical_topics(self) -> dict[str, Topic]:
        """Full input topic name -> logical topic."""
        return {self.topic(logical): logical for logical in Topic}

    def rules(self) -> Rules:
        """The domain's rules under these settings."""
        return Rules(
            dedup_horizon_us=self.dedup_horizon_s * _S_TO_US,
            grace_us={topic: grace * _S_TO_US for topic, grace in self.grace_s.items()},
            pseudonym_key=self.pseudonym_key.encode(),
            final_retention_us={w: ttl * _S_TO_US for w, ttl in self.ttl_s.items()},
        )

    def describe(self) -> dict[str, object]:
        """The settings for a log line, secrets redacted."""
        shown: dict[str, object] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "redis_url":
                value = redacted(value)
            elif item.name == "web":
                value = value.describe()
            elif item.name in _SECRET_SETTINGS:
                value = "(set)" if value else "(empty)"
            shown[item.name] = value
        return shown


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The TLS files of one service's clients; ``prefix`` names their variables."""

    prefix: str  # KAFKA or REDIS: the variables are <prefix>_SSL_CAFILE, ...
    cafile: str
    certfile: str
    keyfile: str
    key_password: str = field(repr=False)

    def given(self) -> list[str]:
        """The names of the variables set."""
        values = {"CAFILE": self.cafile, "CERTFILE": self.certfile, "KEYFILE": self.keyfile,
                  "KEY_PASSWORD": self.key_password}
        return [f"{self.prefix}_SSL_{name}" for name, value in values.items() if value]


def redacted(url: str) -> str:
    """A URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------------------------
# The variables


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: its name, how it is read, what it accepts, what it does."""

    name: str
    setting: str  # the Settings field (``grace_s.orders`` names one key of a mapping)
    parse: Callable[[str], object]
    allowed: str
    doc: str
    secret: bool = False

    def store(self, values: dict[str, Any], value: object, default: Settings) -> None:
        """Put the parsed value where its setting lives."""
        name, _, key = self.setting.partition(".")
        if not key:
            values[name] = value
            return
        if is_dataclass(getattr(default, name)):
            values[name] = replace(values.get(name, getattr(default, name)), **{key: value})
            return
        mapping = values.setdefault(name, dict(getattr(default, name)))
        if key == "*":
            for each in mapping:
                mapping[each] = value
        else:
            mapping[key] = value


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("not an integer") from None
        if value < low or (high is not None and value > high):
            raise ValueError("out of range")
        return value

    return parse


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError("not a number") from None
        if not low <= value <= high:
            raise ValueError("out of range")
        return value

    return parse


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not a boolean")


def _text(pattern: str = r".+") -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def parse(raw: str) -> str:
        if compiled.fullmatch(raw) is None:
            raise ValueError("not of the expected form")
        return raw

    return parse


def _topic_name(raw: str) -> str:
    if _TOPIC_NAME.fullmatch(raw) is None:
        raise ValueError("not a Kafka topic name")
    return raw


def _bootstrap(raw: str) -> str:
    hosts = [host.strip() for host in raw.split(",")]
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{host!r} is not host:port")
    return ",".join(hosts)


def _redis_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ValueError("not a redis:// or rediss:// URL")
    return raw


def _readable_file(raw: str) -> str:
    if raw and not os.path.isfile(raw):
        raise ValueError("no such file")
    if raw and not os.access(raw, os.R_OK):
        raise ValueError("not readable")
    return raw


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in allowed:
            raise ValueError("not one of these")
        return value

    return parse


def _optional_integer(low: int) -> Callable[[str], int | None]:
    read = _integer(low)

    def parse(raw: str) -> int | None:
        return None if not raw.strip() else read(raw)

    return parse


def _delays(raw: str) -> dict[str, tuple[float, int]]:
    from streams.faults import FAULT_POINTS  # noqa: PLC0415 (faults imports this module)

    delays: dict[str, tuple[float, int]] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, value = item.partition("=")
        if name not in FAULT_POINTS:
            raise ValueError(f"unknown fault point {name!r}")
        seconds, _, every = value.partition("/")
        delays[name] = (_number(0, 600)(seconds), _integer(1)(every) if every else 1)
    return delays


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


_ID_CHARS: Final = r"[a-zA-Z0-9._-]+"
_STATE_DOCS: Final = {
    "campaigns": "campaigns",
    "kpi_sets": "live KPI sets (`all` sets and open windows)",
    "open_windows": "open (not yet final) windows",
    "window_blocks": "blocks of packed final windows",
}
_ALERT_DOCS: Final = {
    "pacing_after_share": "Alert on pacing only after this share of the schedule (0.10).",
    "pacing_behind_below": "pacing_behind fires under this pace (0.8); critical under "
                           "KPI_ALERT_PACING_CRITICAL_BELOW (0.5).",
    "pacing_critical_below": "Pace under which pacing_behind is critical (0.5).",
    "trend_baseline_hours": "Hours before the last one that kpi_drop/kpi_spike compare with (24).",
    "trend_min_hours": "Fewer hours of history than this: no trend judged (6).",
    "trend_min_per_hour": "A baseline (or a spike) below this count is too few events (30).",
    "drop_below": "kpi_drop: the last hour under this share of its baseline (0.25).",
    "spike_above": "kpi_spike: the last hour over this multiple of its baseline (3).",
    "silent_after_s": "feed_silent: in flight and no event for this many seconds (1800).",
    "bot_share_above": "bot_clicks: a link's bot-click share above this (0.15) ...",
    "bot_min_clicks": "... with at least this many clicks (50).",
    "leaked_min_orders": "leaked_code: this many code orders with no click (5).",
    "budget_after_share": "Alert on budget only after this share of the schedule (0.10).",
    "budget_ahead_margin": "budget_ahead: budget used more than this ahead of the elapsed share, "
                           "or over budget (0.5).",
}
VARIABLES: Final[tuple[Variable, ...]] = (
    Variable("KAFKA_BOOTSTRAP", "kafka_bootstrap", _bootstrap, "host:port[,host:port...]",
             "Kafka bootstrap servers."),
    Variable("KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol",
             _choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
             "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
             "security.protocol of every Kafka client (worker, replay's and report's reads, "
             "simulator, demo)."),
    Variable("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism",
             _choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
             "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", "SASL mechanism (SASL_* protocols)."),
    Variable("KAFKA_SASL_USERNAME", "kafka_sasl_username", _text(".*"), "a user name",
             "SASL user (SASL_* protocols)."),
    Variable("KAFKA_SASL_PASSWORD", "kafka_sasl_password", _text(".*"), "a password",
             "SASL password (SASL_* protocols).", secret=True),
    Variable("KAFKA_SSL_CAFILE", "kafka_ssl_cafile", _readable_file, "a readable PEM file",
             "CA certificates that sign the brokers' (SSL, SASL_SSL; default: the system's)."),
    Variable("KAFKA_SSL_CERTFILE", "kafka_ssl_certfile", _readable_file, "a readable PEM file",
             "Client certificate (chain), for brokers that require one; may hold the key too."),
    Variable("KAFKA_SSL_KEYFILE", "kafka_ssl_keyfile", _readable_file, "a readable PEM file",
             "Private key of the client certificate (when not in KAFKA_SSL_CERTFILE)."),
    Variable("KAFKA_SSL_KEY_PASSWORD", "kafka_ssl_key_password", _text(".*"), "a password",
             "Password of an encrypted client key.", secret=True),
    Variable("REDIS_URL", "redis_url", _redis_url, "redis://[user:password@]host:port/db or "
             "rediss://...", "Redis for live reads (database number included).", secret=True),
    Variable("KPI_REDIS_CLUSTER", "redis_cluster", _boolean, "true or false",
             "REDIS_URL names a node of a Redis Cluster."),
    Variable("REDIS_SSL_CAFILE", "redis_ssl_cafile", _readable_file, "a readable PEM file",
             "CA certificates that sign Redis's (rediss:// only; default: the system's)."),
    Variable("REDIS_SSL_CERTFILE", "redis_ssl_certfile", _readable_file, "a readable PEM file",
             "Client certificate for a Redis that requires one (tls-auth-clients yes)."),
    Variable("REDIS_SSL_KEYFILE", "redis_ssl_keyfile", _readable_file, "a readable PEM file",
             "Private key of the Redis client certificate (when not in REDIS_SSL_CERTFILE)."),
    Variable("REDIS_SSL_KEY_PASSWORD", "redis_ssl_key_password", _text(".*"), "a password",
             "Password of an encrypted Redis client key.", secret=True),
    Variable("KPI_APP_ID", "app_id", _text(_ID_CHARS), "letters, digits, '.', '_', '-'",
             "Consumer group, transactional ids and the state topic's stem."),
    Variable("KPI_TOPIC_PREFIX", "topic_prefix", _text(r"[a-zA-Z0-9._-]*"),
             "letters, digits, '.', '_', '-' (may be empty)",
             "Prefixes every topic, inputs and outputs, and the transactional ids."),
    *(
        Variable(f"KPI_TOPIC_{topic_env_suffix(topic)}", f"input_topics.{topic}", _topic_name,
                 "a Kafka topic name", f"Name of the {topic} input topic (before the prefix).")
        for topic in Topic
    ),
    Variable("KPI_TOPIC_KPIS", "kpi_topic", _topic_name, "a Kafka topic name",
             "Name of the KPI topic (before the prefix)."),
    Variable("KPI_TOPIC_DLQ", "dlq_topic", _topic_name, "a Kafka topic name",
             "Name of the dead-letter topic (before the prefix)."),
    Variable("KPI_TOPIC_ALERTS", "alerts_topic", _topic_name, "a Kafka topic name",
             "Name of the campaign alerts topic (compacted; before the prefix)."),
    Variable("KPI_TOPIC_CONTROL", "control_topic", _topic_name, "a Kafka topic name",
             "Name of the control topic that carries `campaign-kpi forget` requests to the "
             "workers (before the prefix; partitioned as the inputs)."),
    *(
        Variable(f"KPI_ALERT_{name.upper()}", f"alert_thresholds.{name}",
                 _number(0, 10**9), "a number >= 0", doc)
        for name, doc in _ALERT_DOCS.items()
    ),
    Variable("KPI_PARTITIONS", "partitions", _integer(1, 10_000), "an integer 1..10000",
             "Partition count of the topics the worker creates."),
    Variable("KPI_REPLICATION_FACTOR", "replication_factor", _integer(1, 32),
             "an integer 1..32", "Replication factor of the topics the worker creates."),
    Variable("KPI_MIN_INSYNC_REPLICAS", "min_insync_replicas", _optional_integer(1),
             "an integer >= 1, at most the replication factor (empty: the broker's default)",
             "min.insync.replicas of the topics the worker creates."),
    Variable("KPI_FLUSH_INTERVAL_S", "flush_interval_s", _number(0.01, 60), "0.01..60",
             "Longest a processed record waits to be written (flushes come sooner once the "
             "worker has caught up with its input)."),
    Variable("KPI_BATCH_MAX", "batch_max", _integer(1, 1_000_000), "an integer 1..1000000",
             "Most records applied between two flushes."),
    Variable("KPI_SESSION_TIMEOUT_S", "session_timeout_s", _number(6, 1800), "6..1800",
             "How long the group waits for a silent (crashed) worker before its partitions "
             "move; heartbeats go every third of it."),
    Variable("KPI_TRANSACTION_TIMEOUT_S", "transaction_timeout_s", _number(1, 900), "1..900",
             "How long a flush's Kafka transaction may stay open before the broker aborts it "
             "(a worker that loses Kafka longer than this redoes the flush from its state)."),
    Variable("KPI_DEDUP_HORIZON_S", "dedup_horizon_s", _integer(0, 365 * 86_400),
             "an integer 0..31536000", "Duplicate horizon of interactions and clicks."),
    Variable("KPI_GRACE_S", "grace_s.*", _integer(0, 365 * 86_400), "an integer 0..31536000",
             "Lateness grace of every topic."),
    *(
        Variable(f"KPI_GRACE_S_{topic_env_suffix(topic)}", f"grace_s.{topic}",
                 _integer(0, 365 * 86_400), "an integer 0..31536000",
                 f"Lateness grace of {topic} (overrides KPI_GRACE_S).")
        for topic in Topic
    ),
    *(
        Variable(f"KPI_TTL_{window.upper()}_S", f"ttl_s.{window}", _integer(1), "seconds >= 1",
                 f"Expiry of {window} windowed Redis keys, counted from their last write "
                 f"(default {days} days).")
        for window, days in (("1m", 2), ("1h", 14), ("1d", 180))
    ),
    Variable("KPI_METRICS_CAMPAIGNS", "metrics_campaigns", _integer(0, 100_000),
             "an integer 0..100000", "Campaigns with KPI series on /metrics (most recent)."),
    *(
        Variable(f"KPI_STATE_MAX_{kind.upper()}", f"state_ceilings.{kind}", _integer(1),
                 "an integer >= 1",
                 f"Alert (CampaignKpiStateAboveCeiling) when one worker holds more {what} "
                 "than this, over all its partitions.")
        for kind, what in _STATE_DOCS.items()
    ),
    Variable("KPI_WEB_PORT", "web_port", _integer(1, 65535), "a port 1..65535",
             "Port of the worker's web server (/metrics, /health)."),
    Variable("KPI_WEB_BIND", "web_bind", _text(r"[0-9a-fA-F.:]+|localhost"),
             "an IP address", "Address the worker's web server binds (0.0.0.0 in a container)."),
    Variable("KPI_DATA_DIR", "data_dir", _text(), "a directory path",
             "The worker's local directory (Faust's data directory)."),
    Variable("KPI_PSEUDONYM_KEY", "pseudonym_key", _text(r".{16,}"), "16 characters or more",
             "Secret key of the hash that replaces viewer, visitor, reviewer and respondent "
             "ids (required with KPI_PRODUCTION; README, 'Personal data and erasure').",
             secret=True),
    Variable("KPI_PRODUCTION", "production", _boolean, "true or false",
             "Production mode: the worker refuses to start (exit status 78) without "
             "KPI_PSEUDONYM_KEY."),
Variable("WEB_VIEW_BIND", "web.bind", _address, "an IP address or localhost",
                "Address `campaign-kpi serve` listens on (--bind overrides)."),
    Variable("WEB_VIEW_PORT", "web.port", _integer(1, 65535), "a port 1..65535",
                "Port `campaign-kpi serve` listens on (--port overrides)."),
    Variable("WEB_VIEW_BASIC_AUTH", "web.basic_auth", _user_password,
                "user:password (password 8+ characters); empty: none",
                "Require HTTP basic auth with these credentials.", secret=True),
    Variable("WEB_VIEW_TOKEN", "web.token", _token,
                "16+ characters of A-Z a-z 0-9 - . _ ~ + / =; empty: none",
                "Require this bearer token (Authorization header, or once ?token= in a "
                "browser, which sets an HttpOnly cookie).", secret=True),
    Variable("WEB_VIEW_REPORTS_DIR", "web.reports_dir", _directory, "a directory path",
                "Where campaign pages look for report-<campaign>.html/.pdf to link."),
    Variable("WEB_VIEW_MINUTES", "web.minutes", _integer(10, 2880), "an integer 10..2880",
                "Minutes of 1m windows in a campaign's live chart."),
    Variable("WEB_VIEW_HOURS", "web.hours", _integer(2, 336), "an integer 2..336",
                "Hours of 1h windows in a campaign's hourly chart."),
    Variable("WEB_VIEW_DAYS", "web.days", _integer(2, 366), "an integer 2..366",
                "Days of 1d windows in a campaign's daily chart."),
    Variable("WEB_VIEW_MAX_CAMPAIGNS", "web.max_campaigns", _integer(1, 100_000),
                "an integer 1..100000",
                "Most campaigns on the list page (the most recently updated)."),
    Variable("WEB_VIEW_TOP_POSTS", "web.top_posts", _integer(1, 1000), "an integer 1..1000",
                "Posts listed with their content scores on a campaign page."),
    Variable("WEB_VIEW_PUSH_INTERVAL_S", "web.push_interval_s", _number(0.0, 10.0), "0..10",
                "Least time between two pushes to the pages: updates in between are merged."),
    Variable("WEB_VIEW_HEARTBEAT_S", "web.heartbeat_s", _number(1.0, 300.0), "1..300",
                "Seconds between keep-alive comments on an idle event stream."),
    Variable("WEB_VIEW_MAX_STREAMS", "web.max_streams", _integer(1, 100_000),
                "an integer 1..100000", "Most event streams (open pages) served at once."),
    Variable("WEB_VIEW_LINGER_S", "web.linger_s", _number(0.0, 3600.0), "0..3600",
                "How long a campaign's data stays cached after its last viewer left."),
    Variable("WEB_VIEW_DEFINITIONS", "web.definitions", _boolean, "true or false",
                "Read campaign definitions (schedules, targets, currency) from the campaigns "
                "topic for pacing; without them pacing is unknown."),
    Variable("WEB_VIEW_DEFINITIONS_REFRESH_S", "web.definitions_refresh_s",
                _number(1.0, 86_400.0), "1..86400",
                "Seconds between two reads of the campaigns topic."),
    Variable("WEB_VIEW_KAFKA_TIMEOUT_S", "web.kafka_timeout_s", _number(1.0, 600.0), "1..600",
                "Bound of one read of the campaigns topic."),
    Variable("KPI_TEST_FAULT_DELAYS", "fault_delays", _delays,
             "name=seconds[/N][,...] with names fetched, mid_flush, committed (every Nth time)",
             "Test only: pause at these moments, so that a fault suite can kill a worker "
             "there."),
)
VARIABLE_NAMES: Final = frozenset(variable.name for variable in VARIABLES)
_SECRET_SETTINGS: Final = frozenset(variable.setting for variable in VARIABLES if variable.secret)


def _default_text(variable: Variable, default: Settings) -> str:
    name, _, key = variable.setting.partition(".")
    value: Any = getattr(default, name)
    if name == "alert_thresholds":
        value = getattr(default.alert_rules(), key)
    elif key == "*":
        value = next(iter(value.values()))
    elif key:
        value = getattr(value, key) if is_dataclass(value) else value.get(key)
    if name == "redis_url":
        return f"`{redacted(value)}`"
    if value is None or value == "" or variable.secret:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "(none)" if not value else ", ".join(f"{k}={v}" for k, v in value.items())
    return f"`{value}`"


def settings_table() -> str:
    """The README's table of every variable: name, default, what it accepts, what it does."""
    default = Settings()
    rows = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    for variable in VARIABLES:
        secret = " (secret: never shown)" if variable.secret else ""
        rows.append(
            f"| `{variable.name}` | {_default_text(variable, default)} | {variable.allowed} | "
            f"{variable.doc}{secret} |"
        )
    return "\n".join(rows) + "\n"
