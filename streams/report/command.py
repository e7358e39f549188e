"""``campaign-kpi report``: one campaign's report, or the portfolio of one objective.

Exit status: 0 written; 1 nothing known of the campaign (no KPI set in Redis and no
definition); 2 bad usage, a refused comparison (another objective), or Redis unreachable.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from redis.exceptions import RedisError

from streams import codec
from streams.config import Settings
from streams.connections import redis_client
from streams.domain.vocabulary import OBJECTIVES
from streams.report.model import (
    ComparisonRefused,
    build_campaign,
    build_portfolio,
    check_comparable,
)
from streams.report.render import campaign_html, pdf_bytes, portfolio_html, to_json
from streams.report.sources import ReportSettings, SourceError, gather, gather_portfolio
from streams.sinks.redis import redacted_url

__all__ = ["ReportRequest", "main", "make_report"]


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What the command line asked for."""

    campaign_id: str | None = None
    all_objective: str | None = None
    out: str | None = None
    pdf: str | None = None
    as_json: bool = False
    definition_file: str | None = None
    compare_with: tuple[str, ...] | None = None
    as_of: str | None = None


class UsageError(ValueError):
    """A request that cannot be served as asked: the message says why."""


def _refuse_objectives(value: str) -> str:
    names = [part.strip() for part in value.replace("+", ",").split(",") if part.strip()]
    if len(names) != 1 or names[0] == "all":
        raise ComparisonRefused(
            f"--all-objective takes one objective, not {value!r}: campaigns of different "
            "objectives are never put side by side (their KPIs measure different things)"
        )
    if names[0] not in OBJECTIVES:
        raise UsageError(f"unknown objective {names[0]!r}: one of {', '.join(sorted(OBJECTIVES))}")
    return names[0]


async def make_report(
    request: ReportRequest, settings: Settings, report: ReportSettings,
    *, now_s: float | None = None,
) -> tuple[dict[str, Any], str]:
    """The report's data and its HTML (a campaign's or a portfolio's)."""
    now = time.time() if now_s is None else now_s
    client = redis_client(settings)
    try:
        if request.all_objective is not None:
            objective = _refuse_objectives(request.all_objective)
            found = await gather_portfolio(client, settings, report, objective)
            sets, definitions, problems = found
            data = build_portfolio(
                objective, sets, definitions, problems, report, generated_at_s=now, now_s=now
            )
            return data, portfolio_html(data)
        assert request.campaign_id is not None
        as_of = None
        if request.as_of is not None:
            as_of_us = codec.parse_time(request.as_of)
            if as_of_us is None:
                raise UsageError(f"--as-of {request.as_of!r} is not a time (2025-03-01T09:00:00Z)")
            as_of = as_of_us / 1_000_000
        gathered = await gather(
            client, settings, report, request.campaign_id,
            definition_file=request.definition_file, peers_named=request.compare_with,
            now_s=now,
        )
    finally:
        await client.aclose()
    if gathered.campaign is None and gathered.definition is None:
        raise LookupError(
            f"nothing is known of campaign {request.campaign_id}: no KPI set in Redis at "
            f"{redacted_url(settings.redis_url)} and no definition"
        )
    if request.compare_with is not None:
        ours: object = gathered.campaign.kpis.get("objective") if gathered.campaign else None
        if ours is None and gathered.definition is not None:
            ours = gathered.definition.event.objective
        check_comparable(ours, gathered.peers)
        missing = set(request.compare_with) - {p.kpi_set.campaign_id for p in gathered.peers}
        if missing:
            raise UsageError(f"no KPI set in Redis for --compare-with {', '.join(sorted(missing))}")
    data = build_campaign(gathered, report, generated_at_s=now, as_of_s=as_of)
    return data, campaign_html(data)


def _write(path: str, payload: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)


def main(
    request: ReportRequest,
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    time_zone: str | None = None,
    history: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command; the exit status is returned (see the module docstring)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if (request.campaign_id is None) == (request.all_objective is None):
        print("campaign-kpi report: give a CAMPAIGN or --all-objective OBJECTIVE (not both)",
              file=err)
        return 2
    try:
        report = ReportSettings.from_env(os.environ if env is None else env)
        if time_zone is not None:
            report = replace(report, time_zone=time_zone)
        if history is not None:
            report = replace(report, history=history)
        data, html = asyncio.run(make_report(request, settings, report))
    except (ComparisonRefused, UsageError, SourceError, ValueError) as error:
        print(f"campaign-kpi report: {error}", file=err)
        return 2
    except LookupError as error:
        print(f"campaign-kpi report: {error}", file=err)
        return 1
    except (RedisError, OSError) as error:
        print(
            f"campaign-kpi report: cannot read Redis at {redacted_url(settings.redis_url)}: "
            f"{type(error).__name__}: {error}",
            file=err,
        )
        return 2
    written = _outputs(request, data, html)
    for problem in data["missing"]:
        print(f"campaign-kpi report: missing: {problem}", file=err)
    for path in written:
        print(path, file=out)
    return 0


def _outputs(request: ReportRequest, data: dict[str, Any], html: str) -> list[str]:
    stem = (
        f"portfolio-{data['objective']}" if data["report"] == "portfolio"
        else f"report-{data['campaign_id']}"
    )
    written = []
    if request.as_json:
        payload = to_json(data) + b"\n"
        if request.out is None or request.out == "-":
            sys.stdout.buffer.write(payload)
            sys.stdout.flush()
        else:
            _write(request.out, payload)
            written.append(request.out)
    else:
        path = request.out or f"{stem}.html"
        _write(path, html.encode("utf-8"))
        written.append(path)
    if request.pdf is not None:
        _write(request.pdf, pdf_bytes(html))
        written.append(request.pdf)
    return written


def split_ids(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """``--compare-with a,b --compare-with c`` -> ("a", "b", "c")."""
    if values is None:
        return None
    return tuple(part for value in values for part in value.split(",") if part)
