"""The vendored JS library (pinned, with its licence) and nothing fetched from elsewhere."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "streams" / "web"
VENDOR = WEB / "static" / "vendor" / "uplot"
PINNED = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
}


@pytest.mark.parametrize(("name", "digest"), sorted(PINNED.items()))
def test_uplot_files_are_the_pinned_release(name: str, digest: str) -> None:
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest


def test_uplot_ships_with_its_licence_and_version() -> None:
    assert "The MIT License" in (VENDOR / "LICENSE").read_text()
    assert "uPlot 1.6.32" in (VENDOR / "README.md").read_text()


def test_templates_and_own_assets_load_nothing_from_another_host() -> None:
    own = [*WEB.glob("templates/*.j2"), WEB / "static" / "live.js", WEB / "static" / "app.css"]
    for path in own:
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        assert "url(http" not in text, path
        assert " style=" not in text, path  # the CSP forbids inline styles
