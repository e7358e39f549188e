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


# What each objective's section must show, non-zero (the labels of the terminal view).
HEADLINES = {
    # Its posts are tracked by platform snapshots, whose reach is summed, not distinct.
    "AWARENESS": ("reach (sum)", "impressions"),
    "ENGAGEMENT": ("engagements",),
    "CONVERSION": ("valid clicks", "orders"),
}


def _sections(text: str) -> dict[str, str]:
    """The text of each `== OBJECTIVE campaigns` section, in order."""
    parts = re.split(r"^== (\w+) campaigns.*==$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _check_reports(stdout: str) -> None:
    """The paths printed at the end are real reports: one HTML and one PDF per campaign."""
    reports = [Path(p) for p in re.findall(r"^  (\S+\.(?:html|pdf))$", stdout, re.MULTILINE)]
    assert sorted(p.suffix for p in reports) == [".html"] * 3 + [".pdf"] * 3, stdout[-2000:]
    for report in reports:
        assert report.stat().st_size > 1000, report
        head = report.read_bytes()[:64]
        assert head.startswith(b"%PDF-") if report.suffix == ".pdf" else b"<!" in head, report


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
        "DEMO_WEB_PORT": "0",
        "DEMO_REPORTS_DIR": str(tmp_path / "reports"),
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

    marker = "--- final snapshot ---"
    assert marker in done.stdout, done.stdout[-3000:]
    final = done.stdout.split(marker)[-1]
    assert "Pipeline: events/s" in final
    sections = _sections(final)
    assert list(sections) == ["AWARENESS", "ENGAGEMENT", "CONVERSION"], final
    # Each objective's section shows its own campaign and its own headline KPIs, live.
    for objective, headline in HEADLINES.items():
        section = sections[objective]
        assert f"[{demo_id}-" in section, section
        for label in headline:
            value = re.search(rf"(?:^\s*|\| ){re.escape(label)} ([\d,.]+)", section, re.MULTILINE)
            assert value, f"{label!r} missing for {objective}:\n{section}"
            assert float(value.group(1).replace(",", "")) > 0, f"{label} is 0:\n{section}"
        assert "top influencers by " in section, section
    # The reports were written, HTML and PDF, one pair per campaign.
    _check_reports(done.stdout)

    # Nothing left running.
    pids = [int(pid) for pid in re.findall(r"(?:worker|simulator) pid (\d+)", done.stdout)]
    assert pids, done.stdout[:2000]
    assert [pid for pid in set(pids) if _alive(pid)] == []
