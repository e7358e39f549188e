"""Run one fault scenario from the command line and print its figures.

    python -m tests.faults.run kills-2          # the quick variant
    python -m tests.faults.run zombie --long    # the long one (as make chaos)

Service addresses come from the environment or .local/services.env, as for the tests. Each
run gets fresh topics, an emptied Redis database (``--redis-db``) and a run directory (the
workers' logs, the records, the replay's output, the state topic's meta timeline,
result.json). Exit status 0 when every output matched the replay.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from dataclasses import replace
from pathlib import Path

from ..integration.support import load_addresses
from ..integration.worker_harness import empty_database
from .scenario import Scenario
from .test_faults import LONG, QUICK, one_line


async def _main(args: argparse.Namespace) -> int:
    addresses = load_addresses()
    presets = LONG if args.long else QUICK
    name = f"fault-{args.scenario}-{uuid.uuid4().hex[:6]}"
    config = replace(presets[args.scenario], name=name)
    redis_url = await empty_database(addresses.redis_url, args.redis_db)
    scenario = Scenario(config, addresses.kafka_bootstrap, redis_url, args.out / name)
    try:
        result = await scenario.run()
    finally:
        await scenario.stop_all()
    print(result.summary())
    print(one_line(args.scenario, result))
    return 0 if result.comparison.exact and not result.stalled else 1


def main() -> int:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scenario", choices=sorted(QUICK))
    parser.add_argument("--long", action="store_true", help="the make chaos variant")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kpi-faults"))
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
