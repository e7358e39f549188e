"""`campaign-kpi demo` end to end: real services, a real worker and simulator, then clean exit."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from .support import KafkaAdmin, ServiceAddresses
from .worker_harness import free_port

DEMO_SECONDS = 20


def _alive(pid: int) -> bool:
    """A process with that pid exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _logs(folder: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in sorted(folder.glob("demo-*.log"))
    )


async def test_demo_runs_shows_the_three_campaigns_and_cleans_up(
    service_addresses: ServiceAddresses,
    kafka_bootstrap: str,
    redis_url: str,
    admin: KafkaAdmin,
    tmp_path: Path,
) -> None:
    demo_id = f"it-demo-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "REDIS_URL": redis_url,
        "PROMETHEUS_URL": service_addresses.prometheus_url,
        "DEMO_SECONDS": str(DEMO_SECONDS),
        "DEMO_ID": demo_id,
        "DEMO_REDIS_DB": "3",
        "DEMO_LOG_DIR": str(tmp_path),
        "KPI_WEB_PORT": str(free_port()),  # 16066 may be taken by a `make demo` running
    }
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: ASYNC221 (the test only waits for the demo)
            [sys.executable, "-m", "streams.cli", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEMO_SECONDS + 60,
            check=False,
        )
    finally:
        topics = [name for name in await admin.list_topics() if name.startswith(demo_id)]
        admin.created.extend(topics)
    took = time.monotonic() - started
    assert done.returncode == 0, f"{done.stderr}\n{done.stdout[-3000:]}\n{_logs(tmp_path)}"
    assert took < DEMO_SECONDS + 30

    final = done.stdout.rpartition("--- final snapshot ---")[2]
    assert final, done.stdout[-3000:]
    for objective in ("awareness", "engagement", "conversion"):
        assert f"[{demo_id}-0" in final
        assert f"== {objective.upper()} campaigns" in final
    # Every campaign shows live, non-zero headline KPIs.
    reach = re.search(r"\breach ([\d,]+) \|", final)
    engagements = re.search(r"\bengagements ([\d,]+) \|", final)
    clicks = re.search(r"\bvalid clicks ([\d,]+) \|", final)
    assert reach, final
    assert engagements, final
    assert clicks, final
    assert int(reach.group(1).replace(",", "")) > 0
    assert int(engagements.group(1).replace(",", "")) > 0
    assert int(clicks.group(1).replace(",", "")) > 0
    assert "top influencers by reach: 1. " in final
    assert "Pipeline: events/s" in final

    # Nothing left running.
    pids = [int(pid) for pid in re.findall(r"(?:worker|simulator) pid (\d+)", done.stdout)]
    assert pids, done.stdout[:2000]
    assert [pid for pid in set(pids) if _alive(pid)] == []
