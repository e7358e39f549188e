"""``campaign-kpi demo``: worker + simulator against the local services, with a live view.

What it does, in order:

1. checks that Kafka and Redis answer (else: "run `make services`") and that the metrics port
   (``KPI_WEB_PORT``, default 16066: the port the local Prometheus scrapes) is free;
2. empties its own Redis database (``DEMO_REDIS_DB``, default 2) and deletes the topics of
   earlier demo runs; every run has its own topic prefix (``<DEMO_ID>-<run>-``) and app id
   (``<DEMO_ID>-campaign-kpi``), so it never mixes with tests or other workers;
3. creates the topics, starts ``campaign-kpi worker`` and ``campaign-kpi simulate`` as
   subprocesses (logs in ``.local/logs/demo-*.log``): three campaigns, one per objective,
   launched together, on an accelerated clock;
4. refreshes a terminal view every second (a snapshot every few seconds when stdout is not a
   terminal): per campaign, its objective's headline KPIs, target progress and pacing, top
   influencers from the Redis leaderboards, brand lift and open alerts (the simulator injects a
   bot flood and a leaked promo code); pipeline health from the worker's ``/metrics``; the
   live web view runs alongside (``DEMO_WEB_PORT``, default 8080; its URL is printed);
5. after Ctrl-C (or ``DEMO_SECONDS``) stops the simulator, prints a last snapshot, writes
   every campaign's report (HTML and PDF, in ``DEMO_REPORTS_DIR``), stops the worker and
   exits 0.

Campaigns of different objectives are shown in separate sections and never ranked together.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis

from streams.config import Settings
from streams.connections import kafka_options, redis_client
from streams.domain.objectives import (
    LEADERBOARD_BY_OBJECTIVE,
    headline_kpis,
    lower_is_better,
    pacing,
)
from streams.domain.vocabulary import OBJECTIVES, QUESTIONS
from streams.kpi_view import Alert, read_alerts, read_stored
from streams.report.formatting import Formatter, short_label
from streams.simulate import CampaignPlan, SimConfig, default_start_us, iso, plan
from streams.sinks.redis import leaderboard_key, redacted_url
from streams.web.server import RunningWebView, start_web_view

DEFAULT_SPEED: Final = 900.0  # 15 simulated minutes per second
DEFAULT_RATE: Final = 5000.0  # records per second, all campaigns together
_SNAPSHOT_EVERY_S: Final = 5.0
_SEED: Final = 2026
_LOG_DIR: Final = Path(".local/logs")
# |z| at or above this: a brand lift significant at 95 % (two-sided).
_Z_95: Final = 1.96
# The problems the demo's simulator injects, so that alerts fire (and clear) while it runs.
_PROBLEMS: Final = ("bot-flood:4%+3h@3", "leaked-code:8%@3")


class DemoError(Exception):
    """Something the user has to fix; the message says what."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Everything the demo is told by the environment and the command line."""

    settings: Settings  # the demo worker's settings
    prometheus_url: str | None
    seconds: float | None  # DEMO_SECONDS: stop after that long (None: until Ctrl-C)
    speed: float
    rate: float
    sim: SimConfig
    run_id: str
    demo_id: str
    log_dir: Path
    web_port: int  # DEMO_WEB_PORT: the live web view (0: any free port)
    reports_dir: Path  # DEMO_REPORTS_DIR: the reports written at the end

    @property
    def metrics_url(self) -> str:
        """The worker's /metrics."""
        return f"http://{self.settings.web_bind}:{self.settings.web_port}/metrics"

    def env(self) -> dict[str, str]:
        """The subprocesses' environment."""
        s = self.settings
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "REDIS_URL": s.redis_url,
            "KPI_APP_ID": s.app_id,
            "KPI_TOPIC_PREFIX": s.topic_prefix,
            "KPI_WEB_PORT": str(s.web_port),
            "KPI_WEB_BIND": s.web_bind,
            "KPI_DATA_DIR": s.data_dir,
            "KPI_FLUSH_INTERVAL_S": str(s.flush_interval_s),
            "PYTHONUNBUFFERED": "1",
        }


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def options_from_env(
    base: Settings,
    env: Mapping[str, str] | None = None,
    *,
    speed: float | None = None,
    rate: float | None = None,
) -> DemoOptions:
    """The demo's settings: the services of ``base``, its own names, database and port."""
    env = os.environ if env is None else env
    demo_id = env.get("DEMO_ID", "demo")
    run_id = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    seconds = float(env["DEMO_SECONDS"]) if env.get("DEMO_SECONDS") else None
    speed = float(env.get("DEMO_SPEED", DEFAULT_SPEED)) if speed is None else speed
    rate = float(env.get("DEMO_RATE", DEFAULT_RATE)) if rate is None else rate
    settings = replace(
        base,
        redis_url=_with_db(base.redis_url, int(env.get("DEMO_REDIS_DB", "2"))),
        app_id=f"{demo_id}-campaign-kpi",
        topic_prefix=f"{demo_id}-{run_id}-",
        web_port=int(env.get("KPI_WEB_PORT", "16066")),
        data_dir=str(Path(".local") / demo_id / "worker"),
        flush_interval_s=1.0,
    )
    sim = SimConfig(
        seed=int(env.get("DEMO_SEED", _SEED)),
        campaigns=3,
        influencers=6,
        max_tier="mid",
        days=5.0,
        id_prefix=f"{demo_id}-",
    )
    sim = replace(sim, start_us=default_start_us(sim, speed))
    return DemoOptions(
        settings=settings,
        prometheus_url=env.get("PROMETHEUS_URL"),
        seconds=seconds,
        speed=speed,
        rate=rate,
        sim=sim,
        run_id=run_id,
        demo_id=demo_id,
        log_dir=Path(env.get("DEMO_LOG_DIR", str(_LOG_DIR))),
        web_port=int(env.get("DEMO_WEB_PORT", "8080")),
        reports_dir=Path(env.get("DEMO_REPORTS_DIR", str(Path(".local") / demo_id / "reports"))),
    )


# --------------------------------------------------------------------------------------------
# Checks and set-up


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def check_services(options: DemoOptions) -> None:
    """Kafka and Redis must answer, the metrics port must be free."""
    s = options.settings
    hint = "run `make services` (it starts Kafka, Redis and Prometheus on loopback)"
    first = s.kafka_bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not _reachable(host or "127.0.0.1", int(port or 9092)):
        raise DemoError(f"Kafka is not reachable at {s.kafka_bootstrap}: {hint}")
    redis_parts = urlsplit(s.redis_url)
    if not _reachable(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379):
        raise DemoError(f"Redis is not reachable at {redacted_url(s.redis_url)}: {hint}")
    if _reachable(s.web_bind, s.web_port):
        raise DemoError(
            f"port {s.web_port} is already in use (another worker or demo?): stop it, or set "
            "KPI_WEB_PORT to a free port (the local Prometheus only scrapes 16066)"
        )


async def prepare(options: DemoOptions, client: Redis) -> list[str]:
    """Empty the demo database, drop earlier demo runs' topics, create this run's."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415

    from streams.topics import ensure_topics  # noqa: PLC0415

    await client.flushdb()
    await asyncio.to_thread(Path(options.settings.data_dir).mkdir, parents=True, exist_ok=True)
    admin = AIOKafkaAdminClient(**kafka_options(options.settings))
    await admin.start()
    try:
        stale = [
            name for name in await admin.list_topics()
            if name.startswith(f"{options.demo_id}-2") and not name.startswith(
                options.settings.topic_prefix)
        ]
        if stale:
            with contextlib.suppress(Exception):  # best effort: they only take disk space
                await admin.delete_topics(stale)
    finally:
        await admin.close()
    await ensure_topics(options.settings)
    return stale


# --------------------------------------------------------------------------------------------
# Reading the live state


@dataclass(slots=True)
class CampaignView:
    """What the view shows of one campaign."""

    plan: CampaignPlan
    kpis: dict[str, object] = field(default_factory=dict)
    top: list[tuple[str, float]] = field(default_factory=list)
    event_time_us: int | None = None  # the latest 1-minute window's end seen in Redis
    alerts: list[Alert] = field(default_factory=list)


@dataclass(slots=True)
class Health:
    """Pipeline health from the worker's /metrics (and Prometheus)."""

    processed: float | None = None  # all outcomes
    by_outcome: dict[str, float] = field(default_factory=dict)
    dead_letters: float | None = None
    consumer_lag: float | None = None
    events_per_s: float | None = None
    prometheus_up: bool | None = None
    error: str | None = None


def _fetch(url: str, timeout_s: float = 1.5) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body: bytes = response.read()
    return body.decode("utf-8")


def parse_metrics(text: str) -> Health:
    """Sum the worker's processing counters, dead letters and consumer lag."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    health = Health(processed=0.0, dead_letters=0.0, consumer_lag=0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "campaign_kpi_events_total":
                outcome = sample.labels.get("outcome", "?")
                health.by_outcome[outcome] = health.by_outcome.get(outcome, 0) + sample.value
                health.processed = (health.processed or 0) + sample.value
            elif sample.name == "campaign_kpi_invalid_events_total":
                health.dead_letters = (health.dead_letters or 0) + sample.value
            elif sample.name == "campaign_kpi_consumer_lag_records":
                health.consumer_lag = (health.consumer_lag or 0) + sample.value
    return health


async def read_health(options: DemoOptions, previous: tuple[float, float] | None,
                      ask_prometheus: bool) -> tuple[Health, tuple[float, float] | None]:
    """The worker's health now, and (time, processed) for the next events/s."""
    try:
        text = await asyncio.to_thread(_fetch, options.metrics_url)
    except OSError as error:
        return Health(error=f"/metrics not answering yet ({type(error).__name__})"), previous
    health = parse_metrics(text)
    now = time.monotonic()
    current = (now, health.processed or 0.0)
    if previous is not None and now > previous[0]:
        health.events_per_s = max(current[1] - previous[1], 0) / (now - previous[0])
    if ask_prometheus and options.prometheus_url:
        query = options.prometheus_url.rstrip("/") + (
            "/api/v1/query?query=up%7Bjob%3D%22campaign-kpi-worker%22%7D"
        )
        with contextlib.suppress(OSError, ValueError):
            answer = await asyncio.to_thread(_fetch, query)
            health.prometheus_up = '"1"]' in answer
    return health, current


async def read_campaigns(client: Redis, plans: list[CampaignPlan]) -> list[CampaignView]:
    """Each campaign's `all` KPI set, top influencers and how far event time has got."""
    latest: dict[str, int] = {}
    async for raw in client.scan_iter(match="kpi:*:campaign:1m:*", count=5000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        head, _, start = key.rpartition(":")
        campaign_id = head[len("kpi:{") : -len("}:campaign:1m")]
        if start.isdigit():
            latest[campaign_id] = max(latest.get(campaign_id, 0), int(start))
    views = []
    for campaign in plans:
        view = CampaignView(campaign)
        stored = await read_stored(client, campaign.campaign_id)
        if stored is not None:
            view.kpis = stored.kpis
        view.alerts, _ = await read_alerts(client, campaign.campaign_id)
        board = leaderboard_key(campaign.campaign_id, _ranked_by(campaign.objective, view.kpis))
        pairs: Any = await client.zrevrange(board, 0, 2, withscores=True)
        view.top = [
            (member.decode() if isinstance(member, bytes) else str(member), float(score))
            for member, score in pairs
        ]
        if campaign.campaign_id in latest:
            view.event_time_us = (latest[campaign.campaign_id] + 60) * 1_000_000
        views.append(view)
    return views


# --------------------------------------------------------------------------------------------
# Rendering


def _ranked_by(objective: str, kpis: Mapping[str, object]) -> str:
    """The leaderboard of the objective that the campaign's figures fill.

    ``reach_sum`` when its posts are tracked by platform snapshots (whose reach never
    enters distinct reach).
    """
    for kpi in LEADERBOARD_BY_OBJECTIVE.get(objective, ("engagements",)):
        if kpis.get(kpi):
            return kpi
    return LEADERBOARD_BY_OBJECTIVE.get(objective, ("engagements",))[0]


def _bar(share: float, width: int = 20) -> str:
    filled = min(max(round(share * width), 0), width)
    return "#" * filled + "." * (width - filled)


def render_campaign(view: CampaignView) -> list[str]:
    """The lines of one campaign: headline KPIs, targets and pacing, brand lift, alerts."""
    campaign, kpis = view.plan, view.kpis
    fmt = Formatter(campaign.currency)
    length = campaign.ends_us - campaign.starts_us
    elapsed = None
    if view.event_time_us is not None:
        elapsed = min(max((view.event_time_us - campaign.starts_us) / length, 0.0), 1.0)
    when = (
        f"event time {iso(view.event_time_us)[:16]}Z, {elapsed * 100:.1f}% of the campaign"
        if view.event_time_us is not None and elapsed is not None
        else "no events yet"
    )
    lines = [f"  {campaign.name}  [{campaign.campaign_id}]  {when}"]
    cells = []
    for name in headline_kpis(campaign.objective):
        value = kpis.get(name)
        if name == "conversions_by_action":
            if isinstance(value, dict) and value:
                by_action = ", ".join(f"{action} {count}" for action, count in value.items())
                cells.append(f"by action: {by_action}")
            continue
        cells.append(f"{short_label(name)} {fmt.kpi(name, value)}")
    lines.append("    " + " | ".join(cells))
    lines.append(
        f"    spend {fmt.kpi('spend_minor', kpis.get('spend_minor'))} of "
        f"{fmt.money(campaign.budget_minor)} ({fmt.share(_float(kpis.get('budget_used')))})"
        f" | posts {fmt.kpi('posts', kpis.get('posts'))}"
        f" | content score {fmt.kpi('content_score', kpis.get('content_score'))}"
        f" | duplicates {fmt.kpi('duplicate_events', kpis.get('duplicate_events', 0))}"
        f" | late {fmt.kpi('late_events', kpis.get('late_events', 0))}"
        f" | stale snapshots {fmt.kpi('stale_snapshots', kpis.get('stale_snapshots', 0))}"
    )
    progress = kpis.get("target_progress")
    progress = progress if isinstance(progress, dict) else {}
    for name, target in campaign.targets.items():
        share = progress.get(name)
        if not isinstance(share, int | float):
            lines.append(f"    target {name:<25} {fmt.kpi(name, target):>14}  (no value yet)")
            continue
        standing = pacing(name, float(share), elapsed)
        lines.append(
            f"    target {name:<25} {fmt.kpi(name, target):>14}  [{_bar(standing.attained)}] "
            f"{share * 100:6.1f}%{' (lower is better)' if lower_is_better(name) else ''}  "
            f"{standing.status or ''}"
            + (f" (pace {standing.pace:.2f})" if standing.pace is not None else "")
        )
    lift = kpis.get("brand_lift")
    if isinstance(lift, dict) and lift:
        lines.append("    brand lift (exposed vs control, answers in force):")
        for question in QUESTIONS:
            entry = lift.get(question)
            if not isinstance(entry, dict):
                continue
            z = entry.get("z")
            verdict = (
                "significant at 95 %" if isinstance(z, float) and abs(z) >= _Z_95
                else "not significant"
            )
            lines.append(
                f"      {question:<13} {entry.get('exposed_positive')}/{entry.get('exposed')} vs "
                f"{entry.get('control_positive')}/{entry.get('control')}  lift "
                f"{fmt.share(_float(entry.get('lift')))}  z "
                f"{'-' if z is None else f'{z:.2f}'}  {verdict}"
            )
    if view.top:
        kpi = _ranked_by(campaign.objective, kpis)
        tiers = {inf.influencer_id: inf.tier for inf in campaign.influencers}
        ranked = ", ".join(
            f"{n}. {member} ({tiers.get(member, '?')}) {fmt.kpi(kpi, _num(score))}"
            for n, (member, score) in enumerate(view.top, start=1)
        )
        lines.append(f"    top influencers by {kpi}: {ranked}")
    for alert in view.alerts:
        mark = "ALERT" if alert.state == "open" else "cleared"
        lines.append(f"    {mark} {alert.severity} {alert.rule} ({alert.scope} "
                     f"{alert.scope_id}): {alert.message}")
    return lines


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _num(score: float) -> float | int:
    """A leaderboard score (a double) as the KPI's type."""
    return int(score) if score.is_integer() else score


def render(options: DemoOptions, views: list[CampaignView], health: Health,
           elapsed_s: float, pids: Mapping[str, int], *, web_url: str | None = None) -> str:
    """The whole view, as text."""
    s = options.settings
    lines = [
        f"Campaign KPI Streams - live demo   running {elapsed_s:5.0f}s   "
        f"clock x{options.speed:g}, at most {options.rate:,.0f} events/s   (Ctrl-C to stop)",
        f"  web view    {web_url or '(starting)'}   (open it in a browser: it updates by itself)",
        f"  Redis       {redacted_url(s.redis_url)}   "
        f"(campaign-kpi kpis <campaign> with REDIS_URL={redacted_url(s.redis_url)})",
        f"  Prometheus  {options.prometheus_url or '(PROMETHEUS_URL not set)'}   "
        f"worker /metrics {options.metrics_url}",
        f"  topics      {s.topic_prefix}*   worker pid {pids.get('worker', '-')}, "
        f"simulator pid {pids.get('simulator', '-')}, logs in {options.log_dir}/demo-*.log",
    ]
    if health.error is not None:
        pipeline = health.error
    else:
        rate = "-" if health.events_per_s is None else f"{health.events_per_s:,.0f}"
        outcomes = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(health.by_outcome.items()) if v)
        pipeline = (
            f"events/s {rate} | processed {health.processed or 0:,.0f} ({outcomes or 'none'}) | "
            f"consumer lag {health.consumer_lag or 0:,.0f} | "
            f"dead letters {health.dead_letters or 0:,.0f}"
        )
        if health.prometheus_up is not None:
            pipeline += f" | Prometheus scrape {'up' if health.prometheus_up else 'not yet'}"
    lines += ["", f"Pipeline: {pipeline}"]
    for objective in OBJECTIVES:
        group = [view for view in views if view.plan.objective == objective]
        if not group:
            continue
        lines += ["", f"== {objective.upper()} campaigns (compared only with each other) =="]
        for view in group:
            lines += render_campaign(view)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Processes


class Child:
    """A subprocess of the demo, in its own session so Ctrl-C reaches only the demo."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        """Start it now, logging to ``log``."""
        self.name, self.log = name, log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def running(self) -> bool:
        """Still alive."""
        return self.process.poll() is None

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)

    def tail(self, lines: int = 15) -> str:
        """The end of its log."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def _simulator_command(options: DemoOptions) -> list[str]:
    sim = options.sim
    assert sim.start_us is not None
    return [
        sys.executable, "-m", "streams.cli", "simulate", "--to", "kafka",
        "--seed", str(sim.seed), "--campaigns", str(sim.campaigns),
        "--influencers", str(sim.influencers), "--max-tier", sim.max_tier,
        "--days", str(sim.days), "--start", iso(sim.start_us),
        "--speed", str(options.speed), "--rate", str(options.rate),
        "--id-prefix", sim.id_prefix,
        *(arg for problem in _PROBLEMS for arg in ("--problem", problem)),
    ]


async def run(options: DemoOptions, out: TextIO, stop: asyncio.Event) -> int:
    """Set up, run and tear down; the exit status."""
    check_services(options)
    client = redis_client(options.settings)
    children: list[Child] = []
    web: RunningWebView | None = None
    try:
        try:
            await client.ping()
        except Exception as error:
            raise DemoError(
                f"Redis at {redacted_url(options.settings.redis_url)} does not answer "
                f"({error}): run `make services`"
            ) from None
        try:
            await prepare(options, client)
        except DemoError:
            raise
        except Exception as error:  # aiokafka's errors are not OSError
            raise DemoError(
                f"cannot create the demo topics on Kafka {options.settings.kafka_bootstrap} "
                f"({type(error).__name__}: {error}): run `make services`"
            ) from None
        env = options.env()
        log_dir = options.log_dir
        children.append(Child("worker", [sys.executable, "-m", "streams.cli", "worker"], env,
                              log_dir / "demo-worker.log"))
        children.append(Child("simulator", _simulator_command(options), env,
                              log_dir / "demo-simulator.log"))
        plans = plan(options.sim)
        web = await start_web_view(
            options.settings,
            replace(options.settings.web, port=options.web_port,
                    reports_dir=str(options.reports_dir)),
        )
        print(f"demo: live web view at {web.url}", file=sys.stderr, flush=True)
        previous = await _loop(options, client, plans, children, out, stop=stop, web_url=web.url)
        simulator, worker = children[1], children[0]
        simulator.stop(5)
        if not worker.running():
            print(f"the worker stopped unexpectedly; its log ({worker.log}) ends with:\n"
                  f"{worker.tail()}", file=sys.stderr)
            return 1
        # A last snapshot: what the worker has flushed by now.
        await asyncio.sleep(options.settings.flush_interval_s * 1.5)
        views = await read_campaigns(client, plans)
        health, _ = await read_health(options, previous, ask_prometheus=False)
        pids = {child.name: child.pid for child in children}
        with contextlib.suppress(OSError):  # a terminal already gone
            out.write("\n--- final snapshot ---\n")
            out.write(render(options, views, health, time.monotonic() - _started(options), pids,
                             web_url=web.url))
            out.flush()
        reports = await write_reports(options, plans)
        with contextlib.suppress(OSError):
            out.write("\nreports (HTML and PDF), also linked from the web view:\n")
            out.writelines(f"  {path}\n" for path in reports)
            out.flush()
        return 0
    finally:
        for child in reversed(children):  # the simulator first, then the worker
            child.stop(30)
        if web is not None:
            await web.stop()
        await client.aclose()
        if children:
            print(f"demo: stopped {', '.join(f'{c.name} (pid {c.pid})' for c in children)}; "
                  f"KPIs stay in {redacted_url(options.settings.redis_url)}", file=sys.stderr)


_START: dict[str, float] = {}


def _started(options: DemoOptions) -> float:
    return _START.setdefault(options.run_id, time.monotonic())


async def write_reports(options: DemoOptions, plans: list[CampaignPlan]) -> list[Path]:
    """Each campaign's report, HTML and PDF, by ``campaign-kpi report``: the written paths."""
    options.reports_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for campaign in plans:
        html = options.reports_dir / f"report-{campaign.campaign_id}.html"
        pdf = html.with_suffix(".pdf")
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "streams.cli", "report", campaign.campaign_id,
             "--out", str(html), "--pdf", str(pdf)],
            env=options.env(), capture_output=True, text=True, check=False,
        )
        if done.returncode == 0:
            written += [html, pdf]
        else:
            print(f"demo: the report of {campaign.campaign_id} failed: {done.stderr.strip()}",
                  file=sys.stderr)
    return written


async def _loop(options: DemoOptions, client: Redis, plans: list[CampaignPlan],
                children: list[Child], out: TextIO, *, stop: asyncio.Event,
                web_url: str | None = None) -> tuple[float, float] | None:
    """Refresh the view until stopped; the last (time, processed) reading."""
    started = _started(options)
    tty = out.isatty()
    previous: tuple[float, float] | None = None
    last_snapshot = 0.0
    ticks = 0
    pids = {child.name: child.pid for child in children}
    if not tty:
        out.write(render(options, [], Health(error="starting"), 0.0, pids))
        out.flush()
    while not stop.is_set():
        now = time.monotonic()
        if options.seconds is not None and now - started >= options.seconds:
            return previous
        worker = children[0]
        if not worker.running():
            raise DemoError(
                f"the worker exited (status {worker.process.returncode}); its log "
                f"({worker.log}) ends with:\n{worker.tail()}"
            )
        health, previous = await read_health(options, previous, ask_prometheus=ticks % 5 == 0)
        views = await read_campaigns(client, plans)
        ticks += 1
        if tty:
            out.write("\x1b[H\x1b[2J" + render(options, views, health, now - started, pids,
                                                 web_url=web_url))
            out.flush()
        elif now - last_snapshot >= _SNAPSHOT_EVERY_S:
            last_snapshot = now
            out.write(f"\n--- snapshot at {now - started:.0f}s ---\n")
            out.write(render(options, views, health, now - started, pids, web_url=web_url))
            out.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return previous


def main(settings: Settings, *, speed: float | None = None, rate: float | None = None,
         out: TextIO | None = None) -> int:
    """``campaign-kpi demo``: the exit status (0 after Ctrl-C or DEMO_SECONDS)."""
    out = sys.stdout if out is None else out
    try:
        options = options_from_env(settings, speed=speed, rate=rate)
    except ValueError as error:
        print(f"campaign-kpi demo: bad setting: {error}", file=sys.stderr)
        return 2

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _started(options)
        return await run(options, out, stop)

    try:
        return asyncio.run(_main())
    except DemoError as error:
        print(f"campaign-kpi demo: {error}", file=sys.stderr)
        return 2
