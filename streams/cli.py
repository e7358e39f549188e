"""The ``campaign-kpi`` command line."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from typing import Final

from streams.config import Settings, SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campaign-kpi",
        description="Real-time KPIs for influencer-marketing campaigns (contract v2, "
        "docs/contract.md). Settings come from environment variables (README, 'Settings').",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="compute the KPIs of a JSON Lines file of records (batch replay)",
        description="Apply the contract to the records of FILE in file order and write the "
        "final KPI sets (the KPI topic's values, sorted by key) to OUT.",
    )
    replay.add_argument("file", metavar="FILE", help="JSON Lines input; '-' reads stdin")
    replay.add_argument("--out", required=True, metavar="OUT.json", help="KPI output file")
    replay.add_argument("--dlq", metavar="DLQ.jsonl", help="also write dead-letter records")
    replay.add_argument("--alerts", metavar="ALERTS.json",
                        help="also write the alerts the event-time rules raise at the end "
                        "(the open ones; feed_silent needs processing time and is left out)")

    kpis = commands.add_parser(
        "kpis",
        help="show the live KPIs of a campaign from Redis",
        description="Read one KPI set from Redis (REDIS_URL) and print it as a table, or as "
        "JSON with --json. A windowed set without --start shows the most recent window. "
        "Exit status: 1 when the set is not in Redis, 2 when Redis cannot be read.",
    )
    kpis.add_argument("campaign", metavar="CAMPAIGN", help="campaign id")
    kpis.add_argument("--scope", choices=("campaign", "influencer", "post"), default="campaign")
    kpis.add_argument("--id", dest="scope_id", metavar="ID", help="influencer or post id")
    kpis.add_argument("--window", choices=("all", "1d", "1h", "1m"), default="all")
    kpis.add_argument("--start", type=int, metavar="EPOCH_S", help="window start")
    kpis.add_argument("--json", action="store_true", help="print the JSON object")
    report = commands.add_parser(
        "report",
        help="write a campaign's report (HTML, PDF or JSON) from the live KPIs",
        description="Read a campaign's KPI sets from Redis (REDIS_URL), its definition from "
        "the campaigns topic (KAFKA_BOOTSTRAP) or --definition, its dead letters from the "
        "dead-letter topic, and write one self-contained report: the brief, the objective's "
        "headline KPIs against their targets with pacing, time series, influencers and posts, "
        "content quality, brand lift, data quality, recommendations and a comparison with "
        "campaigns of the same objective. --all-objective writes the portfolio of one "
        "objective instead. Exit status: 1 when nothing is known of the campaign, 2 on bad "
        "usage, a refused comparison or an unreachable Redis.",
    )
    report.add_argument("campaign", metavar="CAMPAIGN", nargs="?", help="campaign id")
    report.add_argument("--all-objective", metavar="OBJECTIVE",
                        help="the portfolio view of one objective (campaigns side by side)")
    report.add_argument("--out", metavar="PATH",
                        help="output file (default report-<campaign>.html or "
                        "portfolio-<objective>.html; with --json, default stdout)")
    report.add_argument("--pdf", metavar="PATH", help="also print the report into a PDF")
    report.add_argument("--json", action="store_true", help="write the report's data as JSON")
    report.add_argument("--definition", metavar="FILE",
                        help="read the campaign definition from FILE (a campaign event, or "
                        "JSON Lines in the replay format) instead of the campaigns topic")
    report.add_argument("--compare-with", metavar="CAMPAIGN", action="append",
                        help="compare with these campaigns only (repeat or comma-separate); "
                        "they must have the campaign's objective. Default: every campaign "
                        "of its objective in Redis")
    report.add_argument("--as-of", metavar="TIME",
                        help="read pacing at this time (default: the data's latest window)")
    report.add_argument("--tz", metavar="ZONE",
                        help="show times in this IANA zone (REPORT_TZ; default: the offset "
                        "of the brief's starts_at)")
    report.add_argument("--history", choices=("auto", "redis", "topic"),
                        help="where windowed series come from (REPORT_HISTORY, default auto: "
                        "the KPI topic too when the schedule is older than a window's TTL)")
    commands.add_parser(
        "worker",
        help="run the streaming worker (Faust) until stopped",
        description="Consume the six input topics and keep the KPIs live in Redis, the KPI "
        "topic and /metrics. Configured by environment variables (see the README).",
    )
    simulate = commands.add_parser(
        "simulate",
        help="send realistic simulated campaigns to Kafka, or write them to a file",
        description="Generate influencer campaigns (rosters, posts, interactions with a "
        "Weibull decay or platform snapshots on the insights tools' polling schedule, clicks, "
        "orders and refunds, sign-ups and installs, reviews, brand-lift survey answers) plus "
        "configurable shares of duplicates, late events, bot clicks and invalid records, and "
        "on request the problems that fire each campaign alert. Deterministic for a given "
        "--seed and --start.",
    )
    from streams.simulate import add_arguments  # noqa: PLC0415 (its options live with it)

    add_arguments(simulate)
    republish = commands.add_parser(
        "republish",
        help="make the running workers write campaigns' KPI sets into Redis again",
        description="Ask the running workers to rewrite the KPI sets of the given campaigns "
        "(all campaigns Redis lists when none is given) from their committed state, and wait "
        "until they have. Workers also do it by themselves when Redis loses its data. "
        "Exit status: 0 done, 1 not every campaign rewritten in time, 2 Redis unreachable.",
    )
    republish.add_argument("campaigns", nargs="*", metavar="CAMPAIGN")
    republish.add_argument("--timeout", type=float, default=60.0, metavar="S",
                           help="seconds to wait for the workers (default 60)")
    forget = commands.add_parser(
        "forget",
        help="erase a campaign: its state, KPI-topic and alerts-topic keys, Redis keys, series",
        description="Send a forget request for CAMPAIGN through the control topic "
        "(KPI_TOPIC_CONTROL) to the worker that owns its partition, wait until that worker "
        "acknowledges it, sweep what is left of the campaign in Redis, and print what was "
        "removed. Records of the campaign that come later start a new campaign state. Exit "
        "status: 0 erased, 1 no worker acknowledged in time (the request stays queued), "
        "2 Kafka or Redis unreachable, 3 the workers held nothing of the campaign.",
    )
    forget.add_argument("campaign", metavar="CAMPAIGN", help="campaign id")
    forget.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="seconds to wait for the worker's acknowledgement (default 60)")
    serve = commands.add_parser(
        "serve",
        help="serve the live web view of the KPIs in Redis",
        description="A read-only web application: campaigns grouped by objective, a page per "
        "campaign (headline KPIs with targets and pacing, live charts, leaderboard, content "
        "scores, data quality, alerts, report link), updated live from kpi:updates. Settings: "
        "WEB_VIEW_* (README, 'Live web view').",
    )
    serve.add_argument("--bind", metavar="ADDRESS",
                       help="address to listen on (WEB_VIEW_BIND, default 127.0.0.1)")
    serve.add_argument("--port", type=int, metavar="PORT",
                       help="port to listen on (WEB_VIEW_PORT, default 8080)")
    commands.add_parser(
        "settings",
        help="print every setting (environment variable), its default and what it accepts",
        description="Print the table of every environment variable the commands read, with "
        "its default, what it accepts and what it does (the README's table), then check the "
        "current environment: exit status 2 when a value is not allowed.",
    )
    demo = commands.add_parser(
        "demo",
        help="run the worker and the simulator against the services and show live KPIs",
        description="Create the demo topics, start a worker and the simulator (three "
        "campaigns, one per objective, accelerated clock) and show the KPIs every second "
        "until Ctrl-C, or for DEMO_SECONDS seconds.",
    )
    demo.add_argument("--speed", type=float, default=None, metavar="N",
                      help="simulated seconds per wall second")
    demo.add_argument("--rate", type=float, default=None, metavar="EVENTS_PER_S")
    return parser


# Python's defaults (700, 10, 10) made the worker walk its whole state in a full collection
# every 2-3 s under load (0.2 s each at 300k events of state): the KPI sets of each flush live
# long enough to be promoted, then die, so the full collection's 25 % rule keeps tripping.
# A larger young generation lets them die before a collection sees them. Measured on the
# 300k-event bench: 26 full collections down to 1, CPU per event -14 %, freshness p99 at
# 6,300 events/s 1.98 s -> 1.34 s; the replay runs 9 % faster. Set for every command.
GC_THRESHOLDS: Final = (50_000, 20, 100)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    args = _parser().parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"campaign-kpi: {error}", file=sys.stderr)
        return 2
    if args.command == "worker":
        from streams.worker import run_worker  # noqa: PLC0415

        return run_worker(settings)
    if args.command == "replay":
        from streams import replay  # noqa: PLC0415 (each command loads only what it needs)

        try:
            return replay.main(args.file, args.out, args.dlq, settings, args.alerts)
        except OSError as error:
            print(f"campaign-kpi replay: {error}", file=sys.stderr)
            return 2
    if args.command == "kpis":
        from streams import kpi_view  # noqa: PLC0415

        return kpi_view.main(
            args.campaign,
            scope=args.scope,
            scope_id=args.scope_id,
            window=args.window,
            start=args.start,
            as_json=args.json,
            settings=settings,
        )
    if args.command == "report":
        from streams.report import command  # noqa: PLC0415

        return command.main(
            command.ReportRequest(
                campaign_id=args.campaign,
                all_objective=args.all_objective,
                out=args.out,
                pdf=args.pdf,
                as_json=args.json,
                definition_file=args.definition,
                compare_with=command.split_ids(args.compare_with),
                as_of=args.as_of,
            ),
            settings,
            time_zone=args.tz,
            history=args.history,
        )
    if args.command == "simulate":
        from streams import simulate  # noqa: PLC0415

        return simulate.main_from_args(args, settings)
    if args.command == "settings":
        from streams.config import settings_table  # noqa: PLC0415

        print(settings_table(), end="")
        return 0
    if args.command == "republish":
        from streams import operations  # noqa: PLC0415

        return operations.main(args.campaigns, args.timeout, settings)
    if args.command == "forget":
        from streams import operations  # noqa: PLC0415

        return operations.forget_main(args.campaign, args.timeout, settings)
    if args.command == "serve":
        from streams.web import server  # noqa: PLC0415

        return server.main(settings, bind=args.bind, port=args.port)
    if args.command == "demo":
        from streams import demo  # noqa: PLC0415

        return demo.main(settings, speed=args.speed, rate=args.rate)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
