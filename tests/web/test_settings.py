"""The web view's settings: defaults, validation messages, secrets, and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.config import VARIABLES, Settings, SettingsError
from streams.web.settings import WebSettings

README = Path(__file__).resolve().parents[2] / "README.md"
WEB_VARIABLES = [v for v in VARIABLES if v.name.startswith("WEB_VIEW_")]


def _web(env: dict[str, str]) -> WebSettings:
    return Settings.from_env(env).web


def test_defaults_listen_on_loopback_port_8080_without_auth() -> None:
    web = _web({})
    assert (web.bind, web.port, web.auth_required, web.loopback_only) == (
        "127.0.0.1", 8080, False, True
    )


def test_values_are_read_and_typed() -> None:
    web = _web({
        "WEB_VIEW_BIND": "0.0.0.0", "WEB_VIEW_PORT": "9001", "WEB_VIEW_MINUTES": "60",
        "WEB_VIEW_PUSH_INTERVAL_S": "0.1", "WEB_VIEW_DEFINITIONS": "off",
        "WEB_VIEW_TOKEN": "abcdefghijklmnop",
    })
    assert (web.bind, web.port, web.minutes, web.push_interval_s, web.definitions) == (
        "0.0.0.0", 9001, 60, 0.1, False
    )
    assert web.auth_required
    assert not web.loopback_only


def test_a_bad_value_names_variable_value_and_what_is_allowed() -> None:
    with pytest.raises(SettingsError) as caught:
        _web({"WEB_VIEW_PORT": "80000", "WEB_VIEW_BIND": "example.org"})
    text = str(caught.value)
    assert "WEB_VIEW_PORT='80000': out of range (allowed: a port 1..65535)" in text
    assert "WEB_VIEW_BIND='example.org': not an IP address" in text


def test_secrets_are_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        _web({"WEB_VIEW_BASIC_AUTH": "admin:short", "WEB_VIEW_TOKEN": "tiny"})
    text = str(caught.value)
    assert "short" not in text
    assert "tiny" not in text
    assert "WEB_VIEW_BASIC_AUTH=(secret)" in text
    described = _web({"WEB_VIEW_BASIC_AUTH": "admin:longenough"}).describe()
    assert described["basic_auth"] == "(set)"
    assert "longenough" not in str(described)


def test_every_variable_is_in_the_readme_table() -> None:
    text = README.read_text()
    section = text[text.index("## Live web view"):]
    section = section[: section.index("\n## ", 3)]
    listed = set(re.findall(r"`(WEB_VIEW_[A-Z_0-9]+)`", section))
    assert listed == {v.name for v in WEB_VARIABLES}


def test_serve_refuses_bad_settings_with_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    from streams.web.server import main

    assert main(Settings(), env={"WEB_VIEW_MINUTES": "5"}) == 2
    assert "WEB_VIEW_MINUTES='5': out of range" in capsys.readouterr().err
