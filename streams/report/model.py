"""The report's content as data: built once, rendered as HTML (and PDF) or written as JSON.

Every figure in the report is a KPI of a KPI set read back from Redis (or the KPI topic), or
a value derived here with the contract's formulas and said to be derived; ``--json`` writes
this same structure, so the HTML and the data never disagree. Sections list what they miss
(``missing``), in plain words, instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streams.domain.breakdowns import group_by
from streams.domain.objectives import (
    HEADLINE_KPIS,
    Pacing,
    elapsed_share,
    headline_kpis,
    lower_is_better,
    pacing,
    pacing_moment,
    percentile_rank,
)
from streams.domain.recommendations import (
    BASIS,
    MIN_EVENTS,
    RULES,
    CampaignFacts,
    ScopeFigures,
    read_brand_lift,
    recommend,
)
from streams.domain.vocabulary import CRITERIA, OBJECTIVES, WINDOW_SIZES_S, Window
from streams.kpi_view import StoredKpis
from streams.report.formatting import (
    V2_KPIS,
    Formatter,
    is_money,
    label,
    short_label,
    time_zone,
)
from streams.report.sources import CampaignData, Definition, ReportSettings

__all__ = ["ComparisonRefused", "build_campaign", "build_portfolio", "check_comparable"]

_US: Final = 1_000_000
_KPI_ORDER: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(
        (
            "posts", "influencers_active", "potential_reach", "spend_minor", "budget_used",
            "impressions", "views", "reach", "reach_sum", "frequency",
            "likes", "comments", "shares", "saves", "replies", "engagements",
            "engagement_rate_by_reach", "engagement_rate_by_reach_sum",
            "engagement_rate_by_impressions", "engagement_rate_by_views",
            "engagement_rate_by_followers",
            "clicks", "clicks_valid", "clicks_bot", "clicks_repeat", "ctr",
            "orders", "orders_code", "orders_link", "orders_unattributed", "orders_out_of_window",
            "conversion_rate", "revenue_minor", "refunds", "refunded_minor", "revenue_net_minor",
            "refunds_unmatched", "aov_minor", "conversions", "conversions_code",
            "conversions_link", "conversions_unattributed", "conversions_out_of_window",
            "conversions_by_action", "conversion_value_minor", "action_rate",
            "cpm_minor", "cpe_minor", "cpc_minor", "cpa_minor", "cost_per_conversion_minor",
            "roas", "roas_net", "content_score",
            *(f"content_score_{c}" for c in CRITERIA),
            "reviews", "survey_responses", "duplicate_events", "late_events", "stale_snapshots",
        )
    )
)
# Shown in their own sections, not in the context list.
_OWN_SECTION: Final = frozenset(
    {"objective", "target_progress", "brand_lift", "content_score",
     *(f"content_score_{c}" for c in CRITERIA)}
)
# Attributes of contract v2 (descriptions of a scope, not measures).
_ATTRIBUTES: Final = frozenset(
    {"influencer_id", "platform", "format", "published_at", "metrics_source", "tier"}
)
# Per objective, the figures a breakdown row shows (ratios of sums, see domain.breakdowns).
_BREAKDOWN_COLUMNS: Final[dict[str | None, tuple[str, ...]]] = {
    "awareness": ("reach_sum", "impressions", "cpm_minor"),
    "engagement": (
        "engagements", "engagement_rate_by_reach_sum", "engagement_rate_by_impressions",
        "cpe_minor",
    ),
    "conversion": ("clicks_valid", "ctr", "orders", "revenue_minor", "cpa_minor", "roas"),
    None: ("impressions", "engagements", "clicks_valid"),
}


class ComparisonRefused(ValueError):
    """Campaigns of different objectives were asked to be compared: the message says why."""


def check_comparable(objective: object, others: Sequence[StoredKpis]) -> None:
    """Refuse a comparison with any campaign of another (or no) objective."""
    if not isinstance(objective, str):
        raise ComparisonRefused(
            "this campaign has no objective (no definition): it cannot be compared with "
            "other campaigns, which are compared only within one objective"
        )
    for other in others:
        theirs = other.kpis.get("objective")
        if theirs != objective:
            raise ComparisonRefused(
                f"campaign {other.kpi_set.campaign_id} has objective {theirs or 'none'}, this "
                f"one {objective}: campaigns are compared only with campaigns of the same "
                "objective (their KPIs measure different things)"
            )


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class _Brief:
    """The brief, from the definition or derived from the KPI set."""

    data: dict[str, Any]
    objective: str | None
    currency: str | None
    starts_s: float | None
    ends_s: float | None
    targets: dict[str, float]


def _brief(
    data: CampaignData, fmt: Formatter, zone_note: str, zone_name: str | None
) -> _Brief:
    kpis = data.campaign.kpis if data.campaign is not None else {}
    definition = data.definition
    missing: list[str] = []
    progress = kpis.get("target_progress")
    progress = progress if isinstance(progress, Mapping) else {}
    if definition is not None:
        event = definition.event
        objective: str | None = event.objective
        currency: str | None = event.currency
        starts_s: float | None = event.starts_at_us / _US
        ends_s: float | None = event.ends_at_us / _US
        targets = dict(event.targets)
        budget: int | None = event.budget_minor
        source: str | None = definition.source
        brief: dict[str, Any] = {
            "name": event.name,
            "brand": event.brand,
            "attribution_window_days": event.attribution_window_days,
            "roster": [
                {"influencer_id": entry.influencer_id, "tier": entry.tier}
                for entry in event.influencers
            ],
        }
    else:
        raw_objective = kpis.get("objective")
        objective = raw_objective if isinstance(raw_objective, str) else None
        currency, starts_s, ends_s = None, None, None
        # target = value / progress, for the targets whose KPI is present and not 0.
        targets = {}
        for name, share in progress.items():
            value, ratio = _num(kpis.get(name)), _num(share)
            if value is not None and ratio:
                targets[name] = value / ratio
        spent, used = _num(kpis.get("spend_minor")), _num(kpis.get("budget_used"))
        budget = round(spent / used) if spent is not None and used else None
        source = "derived from the campaign KPI set" if kpis else None
        brief = {"name": None, "brand": None, "attribution_window_days": None, "roster": []}
        missing.append(
            "no campaign definition: name, dates, currency, time zone and roster are unknown"
            + ("; objective, budget and targets are derived from the KPI set" if kpis else "")
        )
    if not targets:
        missing.append("no targets in the brief: progress and pacing cannot be shown")
    spend = kpis.get("spend_minor")
    brief.update(
        {
            "campaign_id": data.campaign_id,
            "objective": objective,
            "source": source,
            "starts_at": starts_s,
            "ends_at": ends_s,
            "starts_text": fmt.time(starts_s),
            "ends_text": fmt.time(ends_s),
            "time_zone": zone_note,
            "zone": {
                "name": zone_name,
                "utc_offset": data.definition.utc_offset if data.definition else None,
            },
            "currency": currency,
            "budget_minor": budget,
            "budget_text": fmt.money(budget) if budget is not None else "—",
            "spend_minor": spend,
            "spend_text": fmt.kpi("spend_minor", spend),
            "budget_used": kpis.get("budget_used"),
            "budget_used_text": fmt.kpi("budget_used", kpis.get("budget_used")),
            "targets": [
                {"kpi": name, "label": label(name), "target": target,
                 "text": fmt.kpi(name, target), "lower_is_better": lower_is_better(name)}
                for name, target in targets.items()
            ],
            "missing": missing,
        }
    )
    return _Brief(brief, objective, currency, starts_s, ends_s, targets)


def _as_of(data: CampaignData, explicit: float | None) -> tuple[float, str]:
    """The moment pacing is read at, and why that one."""
    if explicit is not None:
        return explicit, "the time given with --as-of"
    ends = [s.window_end for s in (data.hourly or data.daily) if s.window_end is not None]
    moment = pacing_moment(float(max(ends)) if ends else None, data.read_at_s)
    if moment < data.read_at_s:
        return moment, (
            "the end of the latest window with events (the data's clock: a delayed or "
            "replayed campaign is paced where its data is)"
        )
    return data.read_at_s, "the time the report was made"


def _entry(
    name: str, kpis: Mapping[str, object], fmt: Formatter, brief: _Brief,
    *, progress: Mapping[str, object], elapsed: float | None,
) -> dict[str, Any]:
    value = kpis.get(name)
    present = name in kpis
    entry: dict[str, Any] = {
        "kpi": name,
        "label": label(name),
        "present": present,
        "value": value,
        "text": _text(name, value, fmt) if present else "absent",
        "lower_is_better": lower_is_better(name),
        "note": None if present else _absence(name, kpis),
    }
    target = brief.targets.get(name)
    share = _num(progress.get(name))
    entry["target"] = target
    entry["target_text"] = fmt.kpi(name, target) if target is not None else None
    entry["progress"] = share
    if share is not None:
        standing: Pacing = pacing(name, share, elapsed)
        entry.update(
            {"pace": standing.pace, "status": standing.status,
             "target_reached": standing.target_reached, "attained": standing.attained}
        )
    else:
        entry.update({"pace": None, "status": None, "target_reached": None, "attained": None})
    return entry


def _text(name: str, value: object, fmt: Formatter) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return ", ".join(f"{key} {fmt.kpi(name, item)}" for key, item in value.items())
    return fmt.kpi(name, value)


def _absence(name: str, kpis: Mapping[str, object]) -> str:
    if not kpis:
        return "no KPI set"
    if name in V2_KPIS:
        return "a contract v2 KPI: the engine that wrote these KPI sets does not produce it"
    return "not computed: its denominator is 0 or absent (contract 2)"


def _context(
    kpis: Mapping[str, object], headline: Sequence[str], fmt: Formatter
) -> list[dict[str, Any]]:
    names = [n for n in _KPI_ORDER if n in kpis and n not in headline and n not in _OWN_SECTION]
    names += sorted(
        n for n in kpis
        if n not in _KPI_ORDER and n not in headline and n not in _OWN_SECTION
        and n not in _ATTRIBUTES
    )
    return [
        {"kpi": n, "label": label(n), "value": kpis[n], "text": _text(n, kpis[n], fmt)}
        for n in names
    ]


def _series(
    sets: Sequence[StoredKpis], names: Sequence[str], fmt: Formatter,
) -> dict[str, Any]:
    present = [n for n in names if any(n in s.kpis for s in sets)]
    return {
        "kpis": present,
        "points": [
            {
                "start": s.window_start,
                "end": s.window_end,
                "start_text": fmt.time(s.window_start),
                "values": {n: s.kpis.get(n) for n in present},
            }
            for s in sets
        ],
    }


def _launch(
    hourly: Sequence[StoredKpis], starts_s: float | None, hours: int
) -> list[StoredKpis]:
    if not hourly:
        return []
    first = starts_s if starts_s is not None else float(hourly[0].window_start or 0)
    first -= first % WINDOW_SIZES_S[Window.HOUR]
    last = first + hours * WINDOW_SIZES_S[Window.HOUR]
    return [s for s in hourly if s.window_start is not None and first <= s.window_start < last]


def _attr(kpis: Mapping[str, object], name: str) -> str | None:
    value = kpis.get(name)
    # Attributes are text (contract v2); the Redis parser is taught to keep them so.
    return None if value is None else str(value)


def _scores(kpis: Mapping[str, object], fmt: Formatter) -> dict[str, Any]:
    names = ["content_score", *(f"content_score_{c}" for c in CRITERIA)]
    return {
        "reviews": kpis.get("reviews"),
        "values": {n: kpis.get(n) for n in names},
        "texts": {n: fmt.kpi(n, kpis.get(n)) for n in names},
    }


def _tiers(data: CampaignData) -> dict[str, tuple[str, str]]:
    """Influencer -> (tier, where it comes from): the v2 attribute, else the roster."""
    tiers: dict[str, tuple[str, str]] = {}
    if data.definition is not None:
        for entry in data.definition.event.influencers:
            if entry.tier is not None:  # listed twice: the later entry (contract v2)
                tiers[entry.influencer_id] = (entry.tier, "roster")
    for stored in data.influencers:
        tier = _attr(stored.kpis, "tier")
        if tier is not None:
            tiers[stored.kpi_set.scope_id] = (tier, "KPI set")
    return tiers


def _row(
    name: str, kpis: Mapping[str, object], fmt: Formatter
) -> dict[str, Any]:
    text = _text(name, kpis.get(name), fmt) if name in kpis else "—"
    return {"value": kpis.get(name), "text": text}


def _influencer_table(
    data: CampaignData, headline: Sequence[str], fmt: Formatter
) -> dict[str, Any]:
    tiers = _tiers(data)
    platforms: dict[str, set[str]] = {}
    for post in data.posts:
        owner, platform = _attr(post.kpis, "influencer_id"), _attr(post.kpis, "platform")
        if owner is not None and platform is not None:
            platforms.setdefault(owner, set()).add(platform)
    columns = [n for n in headline if any(n in s.kpis for s in data.influencers)]
    rows = []
    primary = headline[0] if headline else "posts"
    ordered = sorted(
        data.influencers,
        key=lambda s: (-(_num(s.kpis.get(primary)) or 0.0), s.kpi_set.scope_id),
    )
    for stored in ordered:
        iid = stored.kpi_set.scope_id
        tier = tiers.get(iid)
        rows.append(
            {
                "influencer_id": iid,
                "tier": tier[0] if tier else None,
                "tier_source": tier[1] if tier else None,
                "platforms": sorted(platforms.get(iid, ())),
                "posts": _row("posts", stored.kpis, fmt),
                "spend_minor": _row("spend_minor", stored.kpis, fmt),
                "kpis": {n: _row(n, stored.kpis, fmt) for n in columns},
                "content_score": _row("content_score", stored.kpis, fmt),
            }
        )
    missing = []
    if not data.influencers:
        missing.append("no influencer KPI sets")
    if data.influencers and not platforms:
        missing.append(
            "platforms per influencer need the post attributes influencer_id and platform "
            "(contract v2): absent from these KPI sets"
        )
    if data.influencers and not tiers:
        missing.append("tiers: neither the v2 attribute tier nor a roster with tiers")
    return {"columns": columns, "labels": {n: short_label(n) for n in columns}, "rows": rows,
            "missing": missing}


def _post_table(data: CampaignData, headline: Sequence[str], fmt: Formatter) -> dict[str, Any]:
    columns = [n for n in headline if any(n in s.kpis for s in data.posts)]
    rows = []
    for stored in sorted(data.posts, key=lambda s: s.kpi_set.scope_id):
        published = _num(stored.kpis.get("published_at"))
        rows.append(
            {
                "post_id": stored.kpi_set.scope_id,
                "influencer_id": _attr(stored.kpis, "influencer_id"),
                "platform": _attr(stored.kpis, "platform"),
                "format": _attr(stored.kpis, "format"),
                "published_at": published,
                "published_text": fmt.time(published) if published is not None else None,
                "metrics_source": _attr(stored.kpis, "metrics_source"),
                "spend_minor": _row("spend_minor", stored.kpis, fmt),
                "kpis": {n: _row(n, stored.kpis, fmt) for n in columns},
                "content_score": _row("content_score", stored.kpis, fmt),
            }
        )
    missing = []
    if not data.posts:
        missing.append("no post KPI sets")
    elif not any(r["platform"] for r in rows):
        missing.append(
            "influencer, platform, format, publication time and metrics source of each post "
            "are contract v2 attributes: absent from these KPI sets"
        )
    return {"columns": columns, "labels": {n: short_label(n) for n in columns}, "rows": rows,
            "missing": missing}


def _breakdowns(data: CampaignData, objective: str | None, fmt: Formatter) -> dict[str, Any]:
    columns = (
        "posts", "spend_minor", *_BREAKDOWN_COLUMNS.get(objective, _BREAKDOWN_COLUMNS[None])
    )
    result: dict[str, Any] = {
        "columns": list(columns), "labels": {n: short_label(n) for n in columns}
    }
    missing: list[str] = []

    def table(groups: Mapping[str, Mapping[str, object]]) -> list[dict[str, Any]]:
        return [
            {"group": group, "members": values.get("members"),
             "kpis": {n: _row(n, values, fmt) for n in columns}}
            for group, values in groups.items()
        ]

    for attribute in ("platform", "format"):
        rows = [(_attr(s.kpis, attribute), s.kpis) for s in data.posts]
        if data.posts and any(group is not None for group, _ in rows):
            result[attribute] = table(group_by(rows))
        else:
            result[attribute] = None
            missing.append(
                f"by {attribute}: needs the post attribute {attribute} (contract v2)"
                + (", absent from these KPI sets" if data.posts else "; no post KPI sets")
            )
    tiers = _tiers(data)
    if data.influencers and tiers:
        rows = [
            (tiers.get(s.kpi_set.scope_id, (None, ""))[0], s.kpis) for s in data.influencers
        ]
        result["tier"] = table(group_by(rows))
        sources = {source for _, source in tiers.values()}
        result["tier_source"] = " and ".join(sorted(sources))
    else:
        result["tier"] = None
        missing.append("by tier: needs the influencer attribute tier (contract v2) or a roster "
                       "with tiers")
    result["missing"] = missing
    return result


def _content_quality(data: CampaignData, fmt: Formatter) -> dict[str, Any]:
    campaign = data.campaign.kpis if data.campaign is not None else {}
    result = {
        "criteria": list(CRITERIA),
        "names": ["content_score", *(f"content_score_{c}" for c in CRITERIA)],
        "labels": {c: label(f"content_score_{c}") for c in CRITERIA},
        "campaign": _scores(campaign, fmt),
        "influencers": [
            {"id": s.kpi_set.scope_id, **_scores(s.kpis, fmt)}
            for s in sorted(data.influencers, key=lambda s: s.kpi_set.scope_id)
        ],
        "posts": [
            {"id": s.kpi_set.scope_id, **_scores(s.kpis, fmt)}
            for s in sorted(data.posts, key=lambda s: s.kpi_set.scope_id)
        ],
        "missing": [] if "content_score" in campaign else ["no content review in force"],
    }
    return result


def _brand_lift(kpis: Mapping[str, object], fmt: Formatter) -> dict[str, Any]:
    readings = read_brand_lift(kpis.get("brand_lift"))
    missing = []
    if "brand_lift" not in kpis:
        missing.append(
            "no brand_lift KPI: no survey answer in force"
            + ("" if "survey_responses" in kpis else
               " (and survey_responses, a contract v2 counter, is absent: the engine that "
               "wrote these KPI sets does not read surveys)")
        )
    questions = []
    for r in readings:
        questions.append(
            {
                "question": r.question,
                "exposed": r.exposed,
                "exposed_positive": r.exposed_positive,
                "control": r.control,
                "control_positive": r.control_positive,
                "exposed_rate": r.exposed_rate,
                "control_rate": r.control_rate,
                "exposed_rate_text": fmt.share(r.exposed_rate),
                "control_rate_text": fmt.share(r.control_rate),
                "lift": r.lift,
                "lift_text": "—" if r.lift is None else f"{fmt.number(r.lift * 100, 1)} points",
                "relative_lift": r.relative_lift,
                "relative_lift_text": fmt.share(r.relative_lift),
                "z": r.z,
                "z_text": "—" if r.z is None else fmt.number(r.z, 2),
                "significant": r.significant,
                "too_small": r.too_small,
            }
        )
    return {"survey_responses": kpis.get("survey_responses"), "questions": questions,
            "missing": missing}


# Data quality: (KPI, what it means for the other figures, share of which KPI).
_QUALITY: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("duplicate_events", "re-sent records ignored: they change no other figure", None),
    ("late_events", "counted in the totals (window all) but in no daily or hourly figure: "
     "the time series miss them", None),
    ("clicks_bot", "bots and link-preview fetchers: excluded from valid clicks, CTR, CPC and "
     "conversion rate", "clicks"),
    ("clicks_repeat", "the same visitor on the same link within 30 min: excluded from valid "
     "clicks", "clicks"),
    ("orders_unattributed", "counted in the campaign's orders and revenue, in no "
     "influencer's", "orders"),
    ("orders_out_of_window", "after the attribution window: in no order or revenue figure",
     None),
    ("refunds_unmatched", "refunds of orders never counted: in no net revenue figure", None),
    ("conversions_unattributed", "in the campaign's conversions, in no influencer's",
     "conversions"),
    ("conversions_out_of_window", "after the attribution window: in no conversion figure",
     None),
    ("stale_snapshots", "platform snapshots older than the one in force: no effect on any "
     "figure", None),
)


def _data_quality(data: CampaignData, fmt: Formatter) -> dict[str, Any]:
    kpis = data.campaign.kpis if data.campaign is not None else {}
    rows = []
    for name, meaning, of in _QUALITY:
        value = kpis.get(name)
        whole = _num(kpis.get(of)) if of else None
        part = _num(value)
        share = part / whole if whole and part is not None else None
        rows.append(
            {
                "kpi": name,
                "label": label(name),
                "present": name in kpis,
                "value": value,
                "text": fmt.kpi(name, value) if name in kpis else "absent",
                "share_of": of,
                "share": share,
                "share_text": fmt.share(share) if share is not None else None,
                "meaning": meaning,
                "note": None if name in kpis else _absence(name, kpis),
            }
        )
    dead = data.dead_letters
    dead_letters: dict[str, Any] = {
        "source": dead.source if dead else None,
        "total": dead.total if dead else None,
        "by_reason": dead.by_reason if dead else None,
        "by_topic": dead.by_topic if dead else None,
        "meaning": "records rejected by the contract's checks (section 4): counted in no "
        "figure; a record whose key is not the campaign id cannot be attributed to it",
        "missing": None if dead else next(
            (p for p in data.problems if p.startswith("dead letters")),
            "dead letters were not read",
        ),
    }
    notes = [
        "reach is a distinct count: exact below 100 viewers, an estimate within 1 % "
        "(relative standard error) above (contract 2)",
    ]
    if kpis and _num(kpis.get("reach")) == 0 and (_num(kpis.get("reach_sum")) or 0) > 0:
        notes.append(
            "reach (unique viewers) is 0 while reach_sum is not: the posts report platform "
            "snapshots, whose reach never enters the distinct-viewer reach (contract 1.4.1); "
            "read reach_sum, an upper bound (a person who saw two posts counts twice)"
        )
    sources = [s for s in (_attr(p.kpis, "metrics_source") for p in data.posts) if s]
    if sources:
        counts = {source: sources.count(source) for source in sorted(set(sources))}
        notes.append(
            "metrics source of the posts: "
            + ", ".join(f"{n} {source}" for source, n in counts.items())
            + " (platform snapshots are lifetime counters polled from the platforms; "
            "their deltas can be negative)"
        )
    return {"rows": rows, "dead_letters": dead_letters, "notes": notes}


def _comparison(
    data: CampaignData, brief: _Brief, headline: Sequence[str], fmt: Formatter,
) -> dict[str, Any]:
    kpis = data.campaign.kpis if data.campaign is not None else {}
    result: dict[str, Any] = {"objective": brief.objective, "campaigns": 0, "kpis": [],
                              "missing": []}
    if brief.objective is None:
        result["missing"].append("no objective: no comparison (campaigns are compared only "
                                 "within one objective)")
        return result
    peers = [p for p in data.peers if p.kpis.get("objective") == brief.objective]
    result["campaigns"] = len(peers)
    result["peer_ids"] = sorted(p.kpi_set.campaign_id for p in peers)
    if not peers:
        result["missing"].append(f"no other {brief.objective} campaign in Redis to compare with")
        return result
    for name in headline:
        value = _num(kpis.get(name))
        if value is None:
            continue
        pool = peers
        note = None
        if is_money(name):
            # Money in different currencies is not comparable.
            pool = [
                p for p in peers
                if brief.currency is not None
                and (d := data.peer_definitions.get(p.kpi_set.campaign_id)) is not None
                and d.event.currency == brief.currency
            ]
            note = (
                f"among the {brief.objective} campaigns in "
                f"{brief.currency or 'an unknown currency'}"
            )
        values = [v for p in pool if (v := _num(p.kpis.get(name))) is not None]
        rank = percentile_rank(value, values, name)
        result["kpis"].append(
            {
                "kpi": name,
                "label": label(name),
                "value": kpis.get(name),
                "text": fmt.kpi(name, kpis.get(name)),
                "percentile": rank,
                "percentile_text": "—" if rank is None else f"{fmt.number(rank, 0)}th",
                "compared_with": len(values),
                "median": _median(values),
                "median_text": fmt.kpi(name, _median(values)) if values else "—",
                "note": note,
            }
        )
    return result


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _alerts(data: CampaignData, fmt: Formatter) -> dict[str, Any]:
    """The worker's alerts: what fired, on what, with its figures, and whether it cleared."""
    def when(ms: int | None) -> str | None:
        return fmt.time(ms / 1000) if ms is not None else None

    items = [
        {
            "rule": alert.rule,
            "label": alert.rule.replace("_", " "),
            "scope": alert.scope,
            "scope_id": alert.scope_id,
            "severity": alert.severity,
            "state": alert.state,
            "message": alert.message,
            "figures": alert.figures,
            "first_seen_text": when(alert.first_seen_ms),
            "last_seen_text": when(alert.last_seen_ms),
            "resolved_text": when(alert.resolved_at_ms),
        }
        for alert in data.alerts
    ]
    return {
        "items": items,
        "open": sum(1 for alert in data.alerts if alert.is_open),
        "unreadable": data.unreadable_alerts,
    }


def build_campaign(
    data: CampaignData,
    report: ReportSettings,
    *,
    generated_at_s: float,
    as_of_s: float | None = None,
) -> dict[str, Any]:
    """The whole report of one campaign as JSON-ready data (see the module docstring)."""
    definition = data.definition
    zone, zone_note = time_zone(report.time_zone, definition.utc_offset if definition else None)
    currency = definition.event.currency if definition else None
    fmt = Formatter(currency, report.locale, zone)
    brief = _brief(data, fmt, zone_note, report.time_zone)
    kpis = data.campaign.kpis if data.campaign is not None else {}
    as_of, as_of_note = _as_of(data, as_of_s)
    elapsed = (
        elapsed_share(as_of, brief.starts_s, brief.ends_s)
        if brief.starts_s is not None and brief.ends_s is not None else None
    )
    progress = kpis.get("target_progress")
    progress = progress if isinstance(progress, Mapping) else {}
    headline = list(headline_kpis(brief.objective))
    missing = list(data.problems)
    if data.campaign is None:
        missing.append(f"no campaign KPI set in Redis for {data.campaign_id}: no event counted")
    elif not _num(kpis.get("posts")) and not _num(kpis.get("impressions")):
        missing.append("no post and no impression counted yet")
    missing.extend(brief.data["missing"])
    if brief.objective is None:
        missing.append("no objective: no headline KPIs; every KPI is shown as context")
    absent_v2 = [n for n in headline if n in V2_KPIS and n not in kpis]
    if kpis and absent_v2:
        missing.append(
            "contract v2 KPIs absent from the KPI sets (written by a contract v1 engine): "
            + ", ".join(absent_v2)
        )
    if elapsed is None and brief.targets:
        missing.append("no schedule (dates): pacing cannot be computed")
    headline_entries = [
        _entry(n, kpis, fmt, brief, progress=progress, elapsed=elapsed) for n in headline
    ]
    # Targets on KPIs that are not headline ones: shown with their progress, as context.
    other_targets = [
        _entry(n, kpis, fmt, brief, progress=progress, elapsed=elapsed)
        for n in brief.targets if n not in headline
    ]
    series_names = [n for n in headline if n in BASIS or n in kpis]
    launch = _launch(data.hourly, brief.starts_s, report.launch_hours)
    series: dict[str, Any] = {
        "source": data.history_source,
        "note": "daily and hourly windows are UTC days and hours (contract 2); cost KPIs and "
        "ROAS exist for the whole campaign only (window all), so they have no series",
        "daily": _series(data.daily, series_names, fmt),
        "hourly": _series(launch, series_names, fmt),
        "launch_hours": report.launch_hours,
        "missing": [],
    }
    if not data.daily:
        series["missing"].append("no daily window in " + data.history_source)
    if not launch:
        series["missing"].append("no hourly window of the launch days in " + data.history_source)
    influencers = _influencer_table(data, headline or ["posts"], fmt)
    facts = CampaignFacts(
        objective=brief.objective,
        campaign=kpis,
        influencers=[ScopeFigures(s.kpi_set.scope_id, s.kpis) for s in data.influencers],
        posts=[ScopeFigures(s.kpi_set.scope_id, s.kpis) for s in data.posts],
        pacing=[
            pacing(e["kpi"], e["progress"], elapsed)
            for e in headline_entries if e["progress"] is not None
        ],
        elapsed=elapsed,
    )
    recommendations = [
        {"rule": r.rule, "subject": r.subject,
         "figures": {k: (v, fmt.kpi(k, v) if not isinstance(v, str) else v)
                     for k, v in r.figures.items()},
         "explanation": r.explanation, "action": r.action}
        for r in recommend(facts)
    ]
    return {
        "report": "campaign",
        "campaign_id": data.campaign_id,
        "generated_at": generated_at_s,
        "generated_text": fmt.time(generated_at_s),
        "as_of": as_of,
        "as_of_text": fmt.time(as_of),
        "as_of_note": as_of_note,
        "elapsed": elapsed,
        "elapsed_text": fmt.share(elapsed),
        "missing": missing,
        "brief": brief.data,
        "headline": headline_entries,
        "other_targets": other_targets,
        "context": _context(kpis, headline, fmt),
        "series": series,
        "influencers": influencers,
        "posts": _post_table(data, headline or ["posts"], fmt),
        "breakdowns": _breakdowns(data, brief.objective, fmt),
        "content_quality": _content_quality(data, fmt),
        "brand_lift": _brand_lift(kpis, fmt),
        "data_quality": _data_quality(data, fmt),
        "recommendations": recommendations,
        "rules": [
            {"name": rule.name, "summary": rule.summary, "thresholds": rule.thresholds}
            for rule in RULES
        ],
        "comparison": _comparison(data, brief, headline, fmt),
        "alerts": _alerts(data, fmt),
        "minimum_events": MIN_EVENTS,
    }


def build_portfolio(
    objective: str,
    sets: Sequence[StoredKpis],
    definitions: Mapping[str, Definition],
    problems: Iterable[str],
    report: ReportSettings,
    *,
    generated_at_s: float,
    now_s: float,
) -> dict[str, Any]:
    """The campaigns of one objective side by side, on that objective's headline KPIs."""
    if objective not in OBJECTIVES:
        raise ComparisonRefused(
            f"unknown objective {objective!r}: one of {', '.join(sorted(OBJECTIVES))}"
        )
    headline = list(HEADLINE_KPIS[objective])
    zone, zone_note = time_zone(report.time_zone, None)
    rows: list[dict[str, Any]] = []
    missing = list(problems)
    for stored in sorted(sets, key=lambda s: s.kpi_set.campaign_id):
        cid = stored.kpi_set.campaign_id
        definition = definitions.get(cid)
        event = definition.event if definition else None
        fmt = Formatter(event.currency if event else None, report.locale, zone)
        progress = stored.kpis.get("target_progress")
        progress = progress if isinstance(progress, Mapping) else {}
        elapsed = (
            elapsed_share(now_s, event.starts_at_us / _US, event.ends_at_us / _US)
            if event else None
        )
        cells = {}
        for name in headline:
            share = _num(progress.get(name))
            standing = pacing(name, share, elapsed) if share is not None else None
            cells[name] = {
                "value": stored.kpis.get(name),
                "text": _text(name, stored.kpis.get(name), fmt) if name in stored.kpis
                else "absent",
                "progress": share,
                "status": standing.status if standing else None,
                "percentile": None,
                "percentile_text": "—",
            }
        rows.append(
            {
                "campaign_id": cid,
                "name": event.name if event else None,
                "currency": event.currency if event else None,
                "starts_text": fmt.time(event.starts_at_us / _US) if event else "—",
                "ends_text": fmt.time(event.ends_at_us / _US) if event else "—",
                "elapsed": elapsed,
                "elapsed_text": fmt.share(elapsed),
                "spend_text": fmt.kpi("spend_minor", stored.kpis.get("spend_minor")),
                "budget_used_text": fmt.kpi("budget_used", stored.kpis.get("budget_used")),
                "content_score_text": fmt.kpi("content_score", stored.kpis.get("content_score")),
                "kpis": cells,
            }
        )
        if event is None:
            missing.append(f"{cid}: no definition (currency, dates and name unknown)")
    # Percentiles among the other campaigns of the portfolio (money: same currency only).
    for row in rows:
        for name in headline:
            value = _num(row["kpis"][name]["value"])
            if value is None:
                continue
            others = [
                v for other in rows if other is not row
                and (not is_money(name) or (
                    row["currency"] is not None and other["currency"] == row["currency"]))
                and (v := _num(other["kpis"][name]["value"])) is not None
            ]
            rank = percentile_rank(value, others, name)
            row["kpis"][name]["percentile"] = rank
            row["kpis"][name]["percentile_text"] = "—" if rank is None else f"{rank:.0f}th"
    if not rows:
        missing.append(f"no {objective} campaign in Redis (kpi:campaigns:{objective})")
    return {
        "report": "portfolio",
        "objective": objective,
        "generated_at": generated_at_s,
        "generated_text": Formatter(None, report.locale, zone).time(generated_at_s),
        "time_zone": zone_note,
        "headline": headline,
        "labels": {n: short_label(n) for n in headline},
        "lower_is_better": {n: lower_is_better(n) for n in headline},
        "campaigns": rows,
        "missing": missing,
    }
