"""Breakdowns of a campaign by platform, format or tier: ratios of sums, never mean ratios.

Counters of the KPI sets of a group (posts of one platform, influencers of one tier) add up;
``reach`` does not (one person sees several posts), so its sum is reported as ``reach_sum``,
an upper bound of unique reach, as contract v2 names it. The ratios are then recomputed from
the sums with the contract's formulas (:data:`streams.domain.kpis.RATIOS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from streams.domain.kpis import RATIOS

# The additive counters a breakdown sums (when the KPI sets carry them).
SUMMED: Final[tuple[str, ...]] = (
    "posts", "potential_reach", "spend_minor", "impressions", "views", "engagements",
    "clicks", "clicks_valid", "clicks_bot", "clicks_repeat", "orders", "orders_link",
    "revenue_minor", "revenue_net_minor", "conversions", "conversions_link",
)
def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def breakdown(kpi_sets: Iterable[Mapping[str, object]]) -> dict[str, object]:
    """The summed counters of a group of KPI sets (``reach`` as ``reach_sum``) and its ratios.

    A counter appears when at least one set of the group carries it; a ratio when both its
    counters appear and the denominator is not 0.
    """
    sums: dict[str, int] = {}
    members = 0
    for kpis in kpi_sets:
        members += 1
        for name in SUMMED:
            value = _int(kpis.get(name))
            if value is not None:
                sums[name] = sums.get(name, 0) + value
        # An influencer set of v2 carries reach_sum itself; a post's own reach is its share.
        reach = _int(kpis.get("reach_sum"))
        reach = _int(kpis.get("reach")) if reach is None else reach
        if reach is not None:
            sums["reach_sum"] = sums.get("reach_sum", 0) + reach
    values: dict[str, object] = {"members": members, **sums}
    for ratio in RATIOS:
        if ratio.numerator in sums and sums.get(ratio.denominator):
            values[ratio.name] = (
                sums[ratio.numerator] * ratio.scale / sums[ratio.denominator]
            )
    return values


def group_by(
    rows: Iterable[tuple[str | None, Mapping[str, object]]],
) -> dict[str, dict[str, object]]:
    """``(group, kpis)`` rows to a :func:`breakdown` per group, sorted by group name.

    Rows whose group is unknown (None) are gathered under ``"unknown"``.
    """
    groups: dict[str, list[Mapping[str, object]]] = {}
    for group, kpis in rows:
        groups.setdefault(group if group else "unknown", []).append(kpis)
    return {name: breakdown(groups[name]) for name in sorted(groups)}
