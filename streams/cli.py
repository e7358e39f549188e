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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is the return value."""
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.command == "replay":
        from streams import replay  # noqa: PLC0415 (each command loads only what it needs)

        try:
            return replay.main(args.file, args.out, args.dlq, settings)
        except OSError as error:
            print(f"campaign-kpi replay: {error}", file=sys.stderr)
            return 2
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
