"""KPI names and values for people: labels, money in the campaign's currency, times in its zone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import format_currency, format_decimal, get_currency_precision

from streams.domain.vocabulary import CRITERIA
from streams.kpi_view import PERCENT_KPIS

LABELS: Final[dict[str, str]] = {
    "posts": "posts",
    "influencers_active": "active influencers",
    "potential_reach": "potential reach (sum of followers)",
    "spend_minor": "spend",
    "impressions": "impressions",
    "views": "views",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "saves": "saves",
    "replies": "replies",
    "engagements": "engagements",
    "reach": "reach (unique viewers)",
    "reach_sum": "reach summed over posts",
    "clicks": "clicks (all)",
    "clicks_valid": "valid clicks",
    "clicks_bot": "bot clicks",
    "clicks_repeat": "repeat clicks",
    "orders": "orders",
    "orders_code": "orders by promo code",
    "orders_link": "orders by tracked link",
    "orders_unattributed": "orders not attributed",
    "revenue_minor": "revenue (gross)",
    "orders_out_of_window": "orders out of the attribution window",
    "reviews": "content reviews",
    "duplicate_events": "duplicate records",
    "late_events": "late events",
    "stale_snapshots": "stale platform snapshots",
    "refunds": "refunds",
    "refunded_minor": "refunded",
    "revenue_net_minor": "net revenue (after refunds)",
    "refunds_unmatched": "refunds of unknown orders",
    "conversions": "conversions",
    "conversions_code": "conversions by promo code",
    "conversions_link": "conversions by tracked link",
    "conversions_unattributed": "conversions not attributed",
    "conversion_value_minor": "conversion value",
    "conversions_out_of_window": "conversions out of the attribution window",
    "survey_responses": "survey answers",
    "conversions_by_action": "conversions by action",
    "brand_lift": "brand lift",
    "engagement_rate_by_reach": "engagement rate by reach",
    "engagement_rate_by_impressions": "engagement rate by impressions",
    "engagement_rate_by_views": "engagement rate by views",
    "engagement_rate_by_followers": "engagement rate by followers",
    "engagement_rate_by_reach_sum": "engagement rate by summed reach",
    "frequency": "frequency (impressions per viewer)",
    "ctr": "CTR (valid clicks / impressions)",
    "conversion_rate": "conversion rate (link orders / valid clicks)",
    "action_rate": "action rate (link conversions / valid clicks)",
    "aov_minor": "average order value",
    "cpm_minor": "CPM (cost per 1,000 impressions)",
    "cpe_minor": "CPE (cost per engagement)",
    "cpc_minor": "CPC (cost per valid click)",
    "cpa_minor": "CPA (cost per order)",
    "cost_per_conversion_minor": "cost per conversion",
    "roas": "ROAS (revenue / spend)",
    "roas_net": "net ROAS (net revenue / spend)",
    "content_score": "content score (1-5)",
    **{f"content_score_{c}": f"{c.replace('_', ' ')} (1-5)" for c in CRITERIA},
    "budget_used": "budget used",
}

# Contract v2 KPIs: when a KPI set lacks one, it was written by an engine of contract v1.
V2_KPIS: Final[frozenset[str]] = frozenset(
    {
        "reach_sum", "stale_snapshots", "refunds", "refunded_minor", "revenue_net_minor",
        "refunds_unmatched", "conversions", "conversions_code", "conversions_link",
        "conversions_unattributed", "conversion_value_minor", "conversions_out_of_window",
        "survey_responses", "roas_net", "engagement_rate_by_reach_sum",
        "cost_per_conversion_minor", "action_rate", "conversions_by_action", "brand_lift",
    }
)
_MULTIPLES: Final = frozenset({"roas", "roas_net"})
_SCORES: Final = frozenset({"content_score", *(f"content_score_{c}" for c in CRITERIA)})


# Column headings of the wide tables (influencers, posts, breakdowns, portfolio).
SHORT_LABELS: Final[dict[str, str]] = {
    "reach": "reach", "reach_sum": "reach (sum)", "frequency": "frequency",
    "cpm_minor": "CPM", "cpe_minor": "CPE", "cpc_minor": "CPC", "cpa_minor": "CPA",
    "cost_per_conversion_minor": "cost / conv.", "engagement_rate_by_reach": "ER reach",
    "engagement_rate_by_reach_sum": "ER reach sum", "engagement_rate_by_impressions": "ER impr.",
    "engagement_rate_by_views": "ER views", "engagement_rate_by_followers": "ER followers",
    "clicks_valid": "valid clicks", "ctr": "CTR", "revenue_minor": "revenue",
    "revenue_net_minor": "net revenue", "roas": "ROAS", "roas_net": "net ROAS",
    "conversions_by_action": "conv. by action", "spend_minor": "spend",
}


def short_label(name: str) -> str:
    """The KPI's name as a column heading."""
    return SHORT_LABELS.get(name, label(name))


def label(name: str) -> str:
    """The KPI's name for people."""
    return LABELS.get(name, name.replace("_", " "))


def is_money(name: str) -> bool:
    """Money KPIs are in minor units of the campaign's currency."""
    return name.endswith("_minor")


def time_zone(name: str | None, utc_offset: str | None) -> tuple[tzinfo, str]:
    """The report's zone and how it was chosen: a named zone, else the brief's offset, else UTC.

    An unknown zone name raises ValueError.
    """
    if name:
        try:
            return ZoneInfo(name), f"{name} (REPORT_TZ / --tz)"
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r} (an IANA name such as Europe/Paris)"
            ) from None
    if utc_offset and utc_offset != "Z":
        sign = 1 if utc_offset[0] == "+" else -1
        hours, minutes = int(utc_offset[1:3]), int(utc_offset[4:6])
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return zone, f"UTC{utc_offset} (the offset of the brief's starts_at)"
    if utc_offset == "Z":
        return UTC, "UTC (the brief's starts_at is written in UTC)"
    return UTC, "UTC (no campaign definition to take a time zone from)"


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats KPIs in one currency, locale and time zone."""

    currency: str | None
    locale: str = "en"
    zone: tzinfo = UTC

    def money(self, minor: float) -> str:
        """Minor units as money of the currency (or as minor units when it is unknown)."""
        if self.currency is None:
            return f"{format_decimal(minor, format='#,##0.##', locale=self.locale)} minor units"
        digits = get_currency_precision(self.currency)
        return format_currency(minor / 10**digits, self.currency, locale=self.locale)

    def number(self, value: float, decimals: int = 2) -> str:
        """A number with grouping and at most ``decimals`` decimals."""
        pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def kpi(self, name: str, value: object) -> str:
        """One KPI value as text: money, percentages, multiples, scores, counts."""
        if value is None:
            return "—"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if is_money(name):
            return self.money(value)
        if name in PERCENT_KPIS:
            return self.number(value * 100, 2) + " %"
        if name in _MULTIPLES:
            return self.number(value, 2) + "\N{MULTIPLICATION SIGN}"
        if name in _SCORES:
            return self.number(value, 2)
        if isinstance(value, int):
            return self.number(value, 0)
        return self.number(value, 2)

    def share(self, value: float | None) -> str:
        """A share (0..1) as a percentage."""
        return "—" if value is None else self.number(value * 100, 1) + " %"

    def time(self, epoch_s: float | None) -> str:
        """A moment in the report's zone, to the minute, with its offset."""
        if epoch_s is None:
            return "—"
        moment = datetime.fromtimestamp(epoch_s, tz=UTC).astimezone(self.zone)
        return moment.strftime("%Y-%m-%d %H:%M ") + _offset_text(moment)


def _offset_text(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    total = int(offset.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    return f"UTC{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
