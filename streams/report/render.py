"""Rendering the report: one self-contained HTML page (Jinja2), its PDF (WeasyPrint), JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from babel.numbers import get_currency_precision
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from streams import codec
from streams.report.charts import portfolio_chart, series_chart
from streams.report.formatting import is_money, time_zone

__all__ = ["campaign_html", "pdf_bytes", "portfolio_html", "to_json"]


def _raw(value: object) -> str:
    """A value as exact text for a ``data-value`` attribute: ``repr`` of a float reads back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return str(value)
    return codec.dumps(value).decode("utf-8")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("streams.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["raw"] = _raw
    return env


_ENV = _environment()


def campaign_html(report: Mapping[str, Any]) -> str:
    """The campaign report as one HTML page (styles and SVG charts inlined)."""
    brief = report["brief"]
    zone, _ = time_zone(brief["zone"]["name"], brief["zone"]["utc_offset"])
    currency = brief["currency"]
    divisor = 10 ** get_currency_precision(currency) if currency else 1
    charts = {}
    for name, kind in (("daily", "bar"), ("hourly", "line")):
        series = report["series"][name]
        svg = series_chart(
            series["points"], series["kpis"], kind=kind, zone=zone, currency=currency,
            money_divisor=divisor, salt=f"{report['campaign_id']}-{name}",
        )
        charts[name] = Markup(svg) if svg else None  # matplotlib's own SVG, from our data
    return _ENV.get_template("campaign.html.j2").render(r=report, charts=charts)


def portfolio_html(report: Mapping[str, Any]) -> str:
    """The portfolio view of one objective as one HTML page."""
    charts = {}
    currencies = {row["currency"] for row in report["campaigns"]}
    for name in report["headline"]:
        if is_money(name) and (len(currencies) != 1 or None in currencies):
            continue  # amounts of several (or unknown) currencies do not share an axis
        points = [
            (row["campaign_id"], float(value))
            for row in report["campaigns"]
            if isinstance(value := row["kpis"][name]["value"], int | float)
            and not isinstance(value, bool) and math.isfinite(value)
        ]
        svg = portfolio_chart(points, name, salt=f"portfolio-{report['objective']}-{name}")
        if svg:
            charts[name] = Markup(svg)  # matplotlib's own SVG, from our data
    return _ENV.get_template("portfolio.html.j2").render(r=report, charts=charts)


def to_json(report: Mapping[str, Any]) -> bytes:
    """The report's data as JSON (the project's encoder: exact integers, shortest floats)."""
    return codec.dumps(_finite(report))


def _finite(value: Any) -> Any:
    # JSON has no infinity (a pace of a zero cost): null stands for it.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def pdf_bytes(html: str) -> bytes:
    """Print the HTML into a paginated A4 PDF with WeasyPrint (no network: all is inline)."""
    from weasyprint import HTML  # noqa: PLC0415 (slow to import; only --pdf needs it)

    def _no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"the report fetches nothing ({url})")

    document: bytes = HTML(string=html, url_fetcher=_no_fetch).write_pdf()
    return document
