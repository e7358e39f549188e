"""The report's files: PDF pages (pdftoppm), the HTML in headless Chromium, ``--json``."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from streams import codec
from streams.cli import main as cli_main
from streams.config import Settings
from streams.report.command import ReportRequest, make_report
from streams.report.screenshot import CHROMIUM_ARGS, chromium_path, screenshot
from streams.report.sources import ReportSettings

from .support import Simulated, write_sets

CAMPAIGN = "sim-03-conversion"


@pytest.fixture
def report_files(simulated: Simulated, settings: Settings, tmp_path: Path) -> tuple[Path, Path]:
    """The conversion campaign's report as HTML and PDF, written by `campaign-kpi report`."""
    asyncio.run(write_sets(settings, simulated.kpi_sets))
    definition = tmp_path / "definition.jsonl"
    definition.write_bytes(simulated.definition_lines(CAMPAIGN))
    request = ReportRequest(campaign_id=CAMPAIGN, definition_file=str(definition))
    _, html = asyncio.run(make_report(request, settings, ReportSettings(history="redis")))
    html_path = tmp_path / "report.html"
    html_path.write_text(html, encoding="utf-8")
    from streams.report.render import pdf_bytes

    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(pdf_bytes(html))
    return html_path, pdf_path


def _pgm_dark_share(path: Path) -> float:
    """Share of pixels darker than light grey in a binary PGM (P5) page image."""
    data = path.read_bytes()
    fields = data.split(maxsplit=4)
    assert fields[0] == b"P5"
    width, height, pixels = int(fields[1]), int(fields[2]), fields[4]
    assert len(pixels) >= width * height
    dark = sum(1 for value in pixels[: width * height] if value < 200)
    return dark / (width * height)


def test_pdf_is_paginated_and_every_page_has_content(
    report_files: tuple[Path, Path], tmp_path: Path
) -> None:
    assert shutil.which("pdftoppm"), "pdftoppm missing: apt-get install poppler-utils"
    _, pdf_path = report_files
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    info = subprocess.run(["pdfinfo", str(pdf_path)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 4  # brief and headline, context, charts, tables, quality, rules
    subprocess.run(["pdftoppm", "-r", "30", "-gray", str(pdf_path), str(tmp_path / "page")],
                   check=True)
    images = sorted(tmp_path.glob("page-*.pgm"))
    assert len(images) == pages
    for number, image in enumerate(images, start=1):
        # Not blank, and more on it than the footer: the tail of a long table counts.
        assert _pgm_dark_share(image) > 0.001, f"{image.name} is blank"
        text = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), str(pdf_path), "-"],
            capture_output=True, text=True, check=True,
        ).stdout.replace(f"page {number} of {pages}", "")
        assert len(text.split()) >= 5, f"page {number} has only {text!r}"


async def test_html_opens_in_headless_chromium_without_errors(
    report_files: tuple[Path, Path], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    html_path, _ = report_files
    errors: list[str] = []
    fetched: list[str] = []
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium_path(), headless=True,
            args=list(CHROMIUM_ARGS), offline=True,
        )
        try:
            page = await context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: fetched.append(r.url))
            await page.goto(html_path.resolve().as_uri())
            assert await page.locator("section[data-section]").count() >= 10
            assert await page.locator("div.chart svg").count() == 2
            assert await page.locator("#headline tr[data-headline]").count() == 11
            assert await page.locator("#headline").is_visible()
        finally:
            await context.close()
    assert errors == []
    assert fetched == [html_path.resolve().as_uri()]  # self-contained: nothing else


def test_screenshot_tool(report_files: tuple[Path, Path], tmp_path: Path) -> None:
    html_path, _ = report_files
    png = tmp_path / "shot.png"
    assert screenshot(str(html_path), str(png), width=900, height=700) == []
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_writes_json_html_and_pdf(
    simulated: Simulated, settings: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(write_sets(settings, simulated.kpi_sets))
    definition = tmp_path / "definition.jsonl"
    definition.write_bytes(simulated.definition_lines(CAMPAIGN))
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("KPI_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("REPORT_HISTORY", "redis")
    json_path = tmp_path / "report.json"
    argv = ["report", CAMPAIGN, "--definition", str(definition)]
    assert cli_main([*argv, "--json", "--out", str(json_path)]) == 0
    data = codec.loads(json_path.read_bytes())
    assert data["campaign_id"] == CAMPAIGN
    kpis = simulated.kpis(CAMPAIGN)
    assert {e["kpi"]: e["value"] for e in data["headline"] if e["present"]} == {
        e["kpi"]: kpis[e["kpi"]] for e in data["headline"] if e["present"]
    }
    html_path, pdf_path = tmp_path / "r.html", tmp_path / "r.pdf"
    assert cli_main([*argv, "--out", str(html_path), "--pdf", str(pdf_path)]) == 0
    assert capsys.readouterr().out.split() == [str(json_path), str(html_path), str(pdf_path)]
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    assert pdf_path.read_bytes().startswith(b"%PDF-")
