"""The ``campaign-kpi`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streams.config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="campaign-kpi",
        description="Real-time KPIs for influencer-marketing campaigns (contract v1).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="compute the KPIs of a JSON Lines file of records (batch replay)",
        description="Apply contract v1 to the records of FILE in file order and write the "
        "final KPI sets (the KPI topic's values, sorted by key) to OUT.",
    )
    replay.add_argument("file", metavar="FILE", help="JSON Lines input; '-' reads stdin")
    replay.add_argument("--out", required=True, metavar="OUT.json", help="KPI output file")
    replay.add_argument("--dlq", metavar="DLQ.jsonl", help="also write dead-letter records")

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
    commands.add_parser(
        "worker",
        help="run the streaming worker (Faust) until stopped",
        description="Consume the six input topics and keep the KPIs live in Redis, the KPI "
        "topic and /metrics. Configured by environment variables (see the README).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.command == "worker":
        from streams.worker import run_worker  # noqa: PLC0415

        return run_worker(settings)
    if args.command == "replay":
        from streams import replay  # noqa: PLC0415 (each command loads only what it needs)

        try:
            return replay.main(args.file, args.out, args.dlq, settings)
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
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
