"""The report's charts, drawn by matplotlib and inlined as SVG (no file, no network)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, cast

import matplotlib as mpl
from matplotlib import dates as mdates
from matplotlib.figure import Figure

from streams.kpi_view import PERCENT_KPIS
from streams.report.formatting import is_money, label

_COLOURS: Final = ("#1f5f8b", "#c0504d", "#4f8a3c", "#8064a2", "#d98b2b", "#2f9c9c")
_RC: Final[dict[str, Any]] = {
    "svg.fonttype": "none",  # text stays text: small, searchable, selectable
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
}


def _scaled(name: str, value: object, money_divisor: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if name in PERCENT_KPIS:
        return float(value) * 100
    if is_money(name):
        return float(value) / money_divisor
    return float(value)

# Where an SVG element id is defined or referred to.
_ID_REFERENCE: Final = re.compile(r'(\bid="|url\(#|href="#)')


def _unit(name: str, currency: str | None) -> str:
    if name in PERCENT_KPIS:
        return "%"
    if is_money(name):
        return currency or "minor units"
    return ""


def _svg(figure: Figure, salt: str) -> str:
    buffer = io.StringIO()
    # A salt per chart keeps element ids distinct between the SVGs of one page, and the
    # output the same for the same data (no date either).
    with mpl.rc_context(cast(Any, {"svg.hashsalt": salt})):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # The hash salt only reaches clip paths; group ids (`line2d_1`, ...) count per figure, so
    # they are prefixed too: ids must be unique in the page that holds every chart.
    prefix = re.sub(r"[^A-Za-z0-9-]", "-", salt)
    return _ID_REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-", text)


def series_chart(
    points: Sequence[Mapping[str, Any]],
    kpis: Sequence[str],
    *,
    kind: str,
    zone: tzinfo,
    currency: str | None,
    money_divisor: float,
    salt: str,
) -> str | None:
    """One panel per KPI over the windows (bars per day, a line per hour); None if empty."""
    names = [n for n in kpis if any(_scaled(n, p["values"].get(n), 1) is not None for p in points)]
    if not points or not names:
        return None
    with mpl.rc_context(cast(Any, _RC)):
        figure = Figure(figsize=(7.2, 1.55 * len(names) + 0.3), layout="constrained")
        axes = figure.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
        moments = [datetime.fromtimestamp(p["start"], tz=UTC) for p in points]
        for index, (ax, name) in enumerate(zip(axes, names, strict=True)):
            values = [_scaled(name, p["values"].get(name), money_divisor) for p in points]
            xs = [m for m, v in zip(moments, values, strict=True) if v is not None]
            ys = [v for v in values if v is not None]
            colour = _COLOURS[index % len(_COLOURS)]
            if kind == "bar":
                ax.bar(xs, ys, width=0.8, color=colour, align="edge")
            else:
                ax.plot(xs, ys, color=colour, linewidth=1.4, marker="o", markersize=2)
            unit = _unit(name, currency)
            ax.set_title(label(name) + (f" ({unit})" if unit else ""), loc="left", fontsize=8)
            ax.tick_params(labelsize=7)
        locator: Any = (
            mdates.DayLocator(tz=zone)  # type: ignore[no-untyped-call]
            if kind == "bar" and len(points) <= 31
            else mdates.AutoDateLocator(tz=zone, maxticks=8)  # type: ignore[no-untyped-call]
        )
        axes[-1].xaxis.set_major_locator(locator)
        pattern = "%d %b" if kind == "bar" else "%d %b %H:%M"
        formatter = mdates.DateFormatter(pattern, tz=zone)  # type: ignore[no-untyped-call]
        axes[-1].xaxis.set_major_formatter(formatter)
        return _svg(figure, salt)


def portfolio_chart(
    campaigns: Sequence[tuple[str, float]], name: str, *, salt: str
) -> str | None:
    """Horizontal bars of one KPI across the campaigns of one objective."""
    if not campaigns:
        return None
    with mpl.rc_context(cast(Any, _RC)):
        figure = Figure(figsize=(7.2, 0.32 * len(campaigns) + 0.8), layout="constrained")
        ax = figure.subplots()
        ids = [cid for cid, _ in campaigns]
        values = [_scaled(name, value, 1) or 0.0 for _, value in campaigns]
        ax.barh(ids, values, color=_COLOURS[0])
        ax.invert_yaxis()
        unit = _unit(name, None) if not is_money(name) else "minor units"
        ax.set_title(label(name) + (f" ({unit})" if unit else ""), loc="left", fontsize=8)
        ax.tick_params(labelsize=7)
        return _svg(figure, salt)
