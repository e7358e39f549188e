"""The web pages' content as data: built from a state, rendered by the templates (pure).

Figures are the KPI sets' own; verdicts come from :mod:`streams.domain.objectives` (headline
KPIs per objective, pacing, leaderboard KPI), text from the report's formatting
(:mod:`streams.report.formatting`), so the live view, the report and the terminal demo say
the same thing. Campaigns are grouped by objective and never ranked across objectives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from streams.domain.objectives import (
    elapsed_share,
    headline_kpis,
    leaderboard_kpi,
    lower_is_better,
    pacing,
    pacing_moment,
    worst_status,
)
from streams.domain.vocabulary import CRITERIA, OBJECTIVES, WINDOW_SIZES_S, Window
from streams.kpi_view import Alert, StoredKpis
from streams.report.formatting import Formatter, label, short_label, time_zone
from streams.report.sources import Definition
from streams.web.state import CHART_WINDOWS, CampaignState, ListState

__all__ = [
    "CHART_KPIS",
    "LIST_KPIS",
    "NO_OBJECTIVE",
    "QUALITY_KPIS",
    "Schedule",
    "campaign_page",
    "campaign_url",
    "chart_kpis",
    "chart_points",
    "formatter",
    "list_page",
    "report_files",
    "schedule_of",
]

_US: Final = 1_000_000
NO_OBJECTIVE: Final = "none"
# Per objective, what the live charts draw: a volume, and a second figure on its own axis.
CHART_KPIS: Final[dict[str, tuple[str, str]]] = {
    "awareness": ("impressions", "reach"),
    "engagement": ("engagements", "engagement_rate_by_impressions"),
    "conversion": ("clicks_valid", "orders"),
    NO_OBJECTIVE: ("impressions", "engagements"),
}
# Data quality (campaign all set), each with what it does to the figures.
QUALITY_KPIS: Final[tuple[tuple[str, str], ...]] = (
    ("duplicate_events", "re-sent records, counted once"),
    ("late_events", "beyond the grace: counted in window all only"),
    ("clicks_bot", "bots and link previews: not valid clicks"),
    ("clicks_repeat", "the same visitor on the same link again: not valid clicks"),
    ("stale_snapshots", "platform snapshots older than the one in force: ignored"),
    ("refunds_unmatched", "refunds of orders never counted: ignored"),
    ("orders_out_of_window", "orders after the attribution window: not in orders"),
    ("conversions_out_of_window", "conversions after the attribution window"),
)
_WINDOW_TITLES: Final = {
    Window.MINUTE: "last {n} minutes (1m windows)",
    Window.HOUR: "last {n} hours (1h windows)",
    Window.DAY: "last {n} days (1d windows)",
}
# The headline KPIs a list row shows, per objective (a subset of HEADLINE_KPIS, in its order).
LIST_KPIS: Final[dict[str, tuple[str, ...]]] = {
    "awareness": ("reach", "impressions", "frequency", "cpm_minor"),
    "engagement": (
        "engagements", "engagement_rate_by_reach", "engagement_rate_by_impressions", "cpe_minor",
    ),
    "conversion": ("clicks_valid", "orders", "revenue_minor", "cpa_minor", "roas"),
    NO_OBJECTIVE: ("impressions", "engagements", "clicks_valid"),
}


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _objective(kpis: Mapping[str, object], definition: Definition | None) -> str | None:
    objective = kpis.get("objective")
    if isinstance(objective, str):
        return objective
    return definition.event.objective if definition is not None else None


def _group(objective: str | None) -> str:
    return objective if objective in OBJECTIVES else NO_OBJECTIVE


def formatter(definition: Definition | None) -> Formatter:
    """Money in the definition's currency and times in its offset; else minor units, UTC."""
    zone, _ = time_zone(None, definition.utc_offset if definition is not None else None)
    return Formatter(definition.event.currency if definition is not None else None, "en", zone)


def _ms_text(fmt: Formatter, epoch_ms: object) -> str:
    value = _num(epoch_ms)
    return fmt.time(value / 1000) if value is not None else "—"


def _clock_text(epoch_ms: object) -> str:
    value = _num(epoch_ms)
    if value is None:
        return "—"
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%H:%M:%S UTC")


# --------------------------------------------------------------------------------------------
# Schedule and targets


@dataclass(frozen=True, slots=True)
class Schedule:
    """The campaign's schedule as the definition says, and where pacing is read."""

    starts_s: float | None
    ends_s: float | None
    moment_s: float  # the data's clock, capped at now
    elapsed: float | None  # share of the schedule elapsed at moment_s; None when unknown
    status: str  # not started | running | ended | unknown


def schedule_of(
    definition: Definition | None, latest_window_end_s: float | None, now_s: float
) -> Schedule:
    """Where the campaign stands in its schedule (pacing is read at the data's clock)."""
    moment = pacing_moment(latest_window_end_s, now_s)
    if definition is None:
        return Schedule(None, None, moment, None, "unknown")
    starts = definition.event.starts_at_us / _US
    ends = definition.event.ends_at_us / _US
    elapsed = elapsed_share(moment, starts, ends)
    status = "not started" if moment < starts else "ended" if moment >= ends else "running"
    return Schedule(starts, ends, moment, elapsed, status)


def _entry(
    name: str, kpis: Mapping[str, object], definition: Definition | None,
    elapsed: float | None, fmt: Formatter,
) -> dict[str, Any]:
    progress_map = kpis.get("target_progress")
    progress_map = progress_map if isinstance(progress_map, Mapping) else {}
    value = kpis.get(name)
    target = definition.event.targets.get(name) if definition is not None else None
    share = _num(progress_map.get(name))
    entry: dict[str, Any] = {
        "kpi": name,
        "label": label(name),
        "short": short_label(name),
        "present": name in kpis,
        "text": _text(name, value, fmt) if name in kpis else "—",
        "lower_is_better": lower_is_better(name),
        "target_text": fmt.kpi(name, target) if target is not None else None,
        "targeted": share is not None or target is not None,
        "progress": share,
        "progress_text": fmt.share(share) if share is not None else "—",
        "meter": None,  # how much of the target is attained, 0..1
        "pace": None,
        "pace_text": "—",
        "status": None,
    }
    if share is not None:
        standing = pacing(name, share, elapsed)
        entry["meter"] = standing.attained if math.isfinite(share) else None
        entry["status"] = standing.status or "schedule unknown"
        if standing.pace is not None:
            entry["pace"] = standing.pace
            entry["pace_text"] = (
                "\N{INFINITY}" if math.isinf(standing.pace)
                else fmt.number(standing.pace, 2) + "\N{MULTIPLICATION SIGN}"
            )
    return entry


def _text(name: str, value: object, fmt: Formatter) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return ", ".join(f"{key} {fmt.kpi(name, item)}" for key, item in value.items())
    return fmt.kpi(name, value)


def _headline(
    kpis: Mapping[str, object], objective: str | None, definition: Definition | None,
    elapsed: float | None, fmt: Formatter,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The objective's headline KPIs, then the targets on other KPIs."""
    names = headline_kpis(objective)
    progress = kpis.get("target_progress")
    targeted = list(progress) if isinstance(progress, Mapping) else []
    if definition is not None:
        targeted += [k for k in definition.event.targets if k not in targeted]
    headline = [_entry(n, kpis, definition, elapsed, fmt) for n in names]
    others = [_entry(n, kpis, definition, elapsed, fmt) for n in targeted if n not in names]
    return headline, others


# --------------------------------------------------------------------------------------------
# The campaign list


def _summary(
    campaign_id: str, stored: StoredKpis, alerts: Sequence[Alert],
    definition: Definition | None, *, latest_end_s: float | None, now_s: float,
) -> dict[str, Any]:
    kpis = stored.kpis
    fmt = formatter(definition)
    objective = _objective(kpis, definition)
    when = schedule_of(definition, latest_end_s, now_s)
    headline, others = _headline(kpis, objective, definition, when.elapsed, fmt)
    targets = [e for e in (*headline, *others) if e["targeted"]]
    opened = [a for a in alerts if a.is_open]
    return {
        "campaign_id": campaign_id,
        "url": campaign_url(campaign_id),
        "name": definition.event.name if definition is not None else None,
        "objective": objective,
        "schedule": when.status,
        "elapsed_text": fmt.share(when.elapsed) if when.elapsed is not None else "—",
        "cells": [
            {"kpi": n, "text": _text(n, kpis[n], fmt) if n in kpis else "—"}
            for n in LIST_KPIS[_group(objective)]
        ],
        "targets": targets,
        "standing": worst_status(e["status"] for e in targets),
        "spend_text": fmt.kpi("spend_minor", kpis.get("spend_minor")),
        "budget_used_text": fmt.kpi("budget_used", kpis.get("budget_used")),
        "alerts_open": len(opened),
        "alerts_critical": sum(1 for a in opened if a.severity == "critical"),
        "alert_first": opened[0].message if opened else None,
        "updated_text": _clock_text(stored.updated_at_ms),
    }


def list_page(
    state: ListState, definitions: Mapping[str, Definition], clocks: Mapping[str, float],
    now_s: float,
) -> dict[str, Any]:
    """The campaigns grouped by objective (each group sorted by id: no ranking at all)."""
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in (*OBJECTIVES, NO_OBJECTIVE)}
    for cid in sorted(state.campaigns):
        definition = definitions.get(cid)
        row = _summary(
            cid, state.campaigns[cid], state.alerts.get(cid, []), definition,
            latest_end_s=clocks.get(cid), now_s=now_s,
        )
        groups[_group(row["objective"])].append(row)
    return {
        "groups": [
            {"objective": g, "id": f"group-{g}", "rows": rows,
             "labels": [short_label(n) for n in LIST_KPIS[g]]}
            for g, rows in groups.items()
        ],
        "count": len(state.campaigns),
        "not_shown": state.not_shown,
    }


def campaign_url(campaign_id: str) -> str:
    """The campaign page's path (ids may hold any character but space, braces and bar)."""
    return "/campaigns/" + quote(campaign_id, safe="")


# --------------------------------------------------------------------------------------------
# A campaign's page


def _leaderboard(
    state: CampaignState, objective: str | None, fmt: Formatter, headline: Sequence[str]
) -> dict[str, Any]:
    available = {k for s in state.influencers.values() for k in s.kpis}
    kpi = leaderboard_kpi(objective, available)
    columns = [n for n in headline if n in available][:5]

    def rank_key(stored: StoredKpis) -> tuple[float, str]:
        value = _num(stored.kpis.get(kpi)) if kpi is not None else None
        return (-(value if value is not None else -math.inf), stored.kpi_set.scope_id)

    rows = []
    for rank, stored in enumerate(sorted(state.influencers.values(), key=rank_key), start=1):
        kpis = stored.kpis
        rows.append(
            {
                "rank": rank,
                "influencer_id": stored.kpi_set.scope_id,
                "tier": kpis.get("tier"),
                "posts": fmt.kpi("posts", kpis.get("posts")),
                "spend": fmt.kpi("spend_minor", kpis.get("spend_minor")),
                "cells": [_text(n, kpis[n], fmt) if n in kpis else "—" for n in columns],
                "content_score": fmt.kpi("content_score", kpis.get("content_score")),
            }
        )
    return {
        "kpi": kpi,
        "kpi_label": label(kpi) if kpi else None,
        "columns": [short_label(n) for n in columns],
        "rows": rows,
    }


def _content(state: CampaignState, fmt: Formatter, top: int) -> dict[str, Any]:
    kpis = state.campaign.kpis if state.campaign is not None else {}
    criteria = [
        {"label": label(f"content_score_{c}"),
         "text": fmt.kpi(f"content_score_{c}", kpis.get(f"content_score_{c}"))}
        for c in CRITERIA
    ]
    reviewed = [s for s in state.posts.values() if _num(s.kpis.get("content_score")) is not None]
    reviewed.sort(key=lambda s: (-(_num(s.kpis.get("content_score")) or 0.0), s.kpi_set.scope_id))
    posts = [
        {
            "post_id": s.kpi_set.scope_id,
            "influencer_id": s.kpis.get("influencer_id") or "—",
            "platform": s.kpis.get("platform") or "—",
            "format": s.kpis.get("format") or "—",
            "reviews": fmt.kpi("reviews", s.kpis.get("reviews")),
            "score": fmt.kpi("content_score", s.kpis.get("content_score")),
            "criteria": [fmt.kpi(f"content_score_{c}", s.kpis.get(f"content_score_{c}"))
                         for c in CRITERIA],
        }
        for s in reviewed[:top]
    ]
    return {
        "score": fmt.kpi("content_score", kpis.get("content_score")),
        "reviews": fmt.kpi("reviews", kpis.get("reviews")),
        "criteria": criteria,
        "criteria_short": [c.replace("_", " ") for c in CRITERIA],
        "posts": posts,
        "reviewed": len(reviewed),
        "posts_total": len(state.posts),
    }


def _quality(kpis: Mapping[str, object], fmt: Formatter) -> dict[str, Any]:
    rows = [
        {"kpi": name, "label": label(name), "text": fmt.kpi(name, kpis.get(name)), "note": note}
        for name, note in QUALITY_KPIS
        if name in kpis
    ]
    clicks, bots = _num(kpis.get("clicks")), _num(kpis.get("clicks_bot"))
    share = bots / clicks if clicks and bots is not None else None
    return {"rows": rows, "bot_share_text": fmt.share(share), "bot_share": share}


def _alert_view(alert: Alert, fmt: Formatter) -> dict[str, Any]:
    figures = ", ".join(
        f"{name.replace('_', ' ')} {_figure(value, fmt)}" for name, value in alert.figures.items()
    )
    scope = "campaign" if alert.scope == "campaign" else f"{alert.scope} {alert.scope_id}"
    return {
        "field": alert.field,
        "rule": alert.rule.replace("_", " "),
        "scope": scope,
        "severity": alert.severity,
        "state": alert.state,
        "message": alert.message,
        "figures": figures,
        "first_seen": _ms_text(fmt, alert.first_seen_ms),
        "last_seen": _ms_text(fmt, alert.last_seen_ms),
        "resolved_at": _ms_text(fmt, alert.resolved_at_ms),
    }


def _figure(value: object, fmt: Formatter) -> str:
    number = _num(value)
    if number is None:
        return str(value)
    if isinstance(value, float) and 0 < abs(value) < 1:
        return fmt.share(value)
    return fmt.number(number, 2)


def report_files(reports_dir: str, campaign_id: str) -> dict[str, Path]:
    """The campaign's report files present in the reports directory (``html``, ``pdf``).

    Only the exact names ``report-<campaign>.html`` / ``.pdf`` (what ``campaign-kpi report``
    writes by default) directly inside the directory: an id holding ``/`` or ``..`` cannot
    name a file elsewhere.
    """
    base = Path(reports_dir).resolve()
    found: dict[str, Path] = {}
    for kind in ("html", "pdf"):
        name = f"report-{campaign_id}.{kind}"
        if "/" in name or "\\" in name or name.startswith("."):
            continue
        path = base / name
        if path.parent == base and path.is_file():
            found[kind] = path
    return found


def _report(reports_dir: str, campaign_id: str, fmt: Formatter) -> dict[str, Any]:
    files = report_files(reports_dir, campaign_id)
    query = "?campaign=" + quote(campaign_id, safe="")
    html = files.get("html")
    return {
        "html_url": "/report.html" + query if html else None,
        "pdf_url": "/report.pdf" + query if "pdf" in files else None,
        "written": fmt.time(html.stat().st_mtime) if html else None,
        "command": (
            f"campaign-kpi report {campaign_id} --out "
            f"{Path(reports_dir) / f'report-{campaign_id}.html'}"
        ),
    }


def chart_kpis(objective: str | None) -> tuple[str, str]:
    """The two figures the campaign's charts draw."""
    return CHART_KPIS[_group(objective)]


def chart_points(
    state: CampaignState, window: str, kpis: Sequence[str], starts: Sequence[int] | None = None
) -> list[list[float | None]]:
    """``[start, value, value]`` rows of one chart (every stored window, or these starts)."""
    series = state.series[window]
    chosen = sorted(series) if starts is None else sorted(s for s in starts if s in series)
    return [
        [float(start), *(_num(series[start].kpis.get(k)) for k in kpis)] for start in chosen
    ]


def _charts(
    state: CampaignState, objective: str | None, spans: Mapping[str, int]
) -> dict[str, Any]:
    kpis = chart_kpis(objective)
    return {
        "kpis": list(kpis),
        "labels": [short_label(k) for k in kpis],
        "windows": {
            str(window): {
                "title": _WINDOW_TITLES[window].format(
                    n=spans[window] // WINDOW_SIZES_S[window]
                ),
                "size_s": WINDOW_SIZES_S[window],
                "span_s": spans[window],
                "points": chart_points(state, window, kpis),
            }
            for window in CHART_WINDOWS
        },
    }


def campaign_page(
    state: CampaignState, definition: Definition | None, *, now_s: float,
    reports_dir: str, top_posts: int, spans: Mapping[str, int],
    definitions_problem: str | None = None,
) -> dict[str, Any]:
    """Everything a campaign page shows, by section."""
    kpis = state.campaign.kpis if state.campaign is not None else {}
    fmt = formatter(definition)
    objective = _objective(kpis, definition)
    when = schedule_of(definition, state.latest_window_end_s(), now_s)
    headline, others = _headline(kpis, objective, definition, when.elapsed, fmt)
    event = definition.event if definition is not None else None
    notes = []
    if definition is None:
        notes.append(
            "no campaign definition read"
            + (f" ({definitions_problem})" if definitions_problem else "")
            + ": schedule, currency and targets' values are unknown; pacing needs them"
        )
    return {
        "campaign_id": state.campaign_id,
        "exists": state.exists,
        "objective": objective,
        "summary": {
            "name": event.name if event else None,
            "brand": event.brand if event else None,
            "objective": objective,
            "starts": fmt.time(when.starts_s),
            "ends": fmt.time(when.ends_s),
            "schedule": when.status,
            "elapsed_text": fmt.share(when.elapsed) if when.elapsed is not None else "—",
            "moment": fmt.time(when.moment_s),
            "currency": event.currency if event else None,
            "budget": fmt.money(event.budget_minor) if event and event.budget_minor else "—",
            "spend": fmt.kpi("spend_minor", kpis.get("spend_minor")),
            "budget_used": fmt.kpi("budget_used", kpis.get("budget_used")),
            "budget_meter": _num(kpis.get("budget_used")),
            "influencers": len(state.influencers),
            "posts": len(state.posts),
            "updated": _clock_text(state.campaign.updated_at_ms if state.campaign else None),
            "notes": notes,
        },
        "headline": {"entries": headline, "others": others},
        "charts": _charts(state, objective, spans),
        "leaderboard": _leaderboard(state, objective, fmt, headline_kpis(objective)),
        "content": _content(state, fmt, top_posts),
        "quality": _quality(kpis, fmt),
        "alerts": {
            "open": [_alert_view(a, fmt) for a in state.alerts if a.is_open],
            "resolved": [_alert_view(a, fmt) for a in state.alerts if not a.is_open],
            "unreadable": state.unreadable_alerts,
        },
        "report": _report(reports_dir, state.campaign_id, fmt),
    }
