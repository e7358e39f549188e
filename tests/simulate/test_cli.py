"""``campaign-kpi simulate``: its options, their errors, their documentation."""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import pytest

from streams import cli, replay
from streams.config import Settings
from streams.simulate import PROBLEMS, Problem, SimConfig, main_from_args, write_file

from .support import START_US

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = "2026-01-01T00:00:00Z"
SMALL = ["--campaigns", "3", "--influencers", "2", "--max-tier", "nano", "--days", "1",
         "--duration-s", "7200", "--start", LAUNCH, "--survey-size", "20"]


def _simulate_parser() -> argparse.ArgumentParser:
    parser = cli._parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices["simulate"]
            assert isinstance(sub, argparse.ArgumentParser)
            return sub
    raise AssertionError("no simulate command")


def test_the_file_is_the_config_s_records(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    args = cli._parser().parse_args(["simulate", "--to", str(out), *SMALL, "--seed", "4",
                                     "--refunds", "0.1", "--problem", "feed-silent:1h+20m"])
    assert main_from_args(args, Settings()) == 0
    expected = io.BytesIO()
    write_file(SimConfig(seed=4, campaigns=3, influencers=2, max_tier="nano", days=1.0,
                         duration_s=7200, start_us=START_US, survey_size=20,
                         refund_share=0.1,
                         problems=(Problem("feed-silent", at_us=3_600_000_000,
                                           length_us=1_200_000_000),)), expected)
    assert out.read_bytes() == expected.getvalue()


def test_what_the_run_holds_goes_to_stderr(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.jsonl"
    assert cli.main(["simulate", "--to", str(out), *SMALL, "--problem", "bot-flood"]) == 0
    err = capsys.readouterr().err
    assert "sim-01-awareness: platform tracking, brand-lift survey 20+20" in err
    assert "sim-03-conversion: events tracking, sign-ups and installs, refunds 6%" in err
    assert "should fire bot_clicks" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--problem", "bot-storm"], "unknown problem 'bot-storm'"),
        (["--problem", "bot-flood:2d"], "outside its campaign"),
        (["--problem", "leaked-code@9"], "no campaign 9"),
        (["--refunds", "1.5"], "shares must be within 0..1"),
        (["--start", "monday"], "is not a time"),
        (["--survey-size", "-1"], "must be >= 0"),
    ],
)
def test_bad_options_say_what_is_wrong(options: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    args = cli._parser().parse_args(["simulate", "--to", str(tmp_path / "x"), *SMALL,
                                     *options])
    assert main_from_args(args, Settings()) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_help_names_the_alert_each_problem_fires() -> None:
    text = _simulate_parser().format_help()
    for name, kind in PROBLEMS.items():
        assert re.search(rf"^  {name} +fires {kind.alert}:", text, re.MULTILINE), name
    for option in ("--platform-tracked", "--surveys", "--survey-size", "--lead-gen",
                   "--refunds", "--problem"):
        assert option in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_every_option_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The simulator"):]
    section = section[: section.index("\n## ")]
    options = [s for action in _simulate_parser()._actions for s in action.option_strings
               if s.startswith("--") and s != "--help"]
    assert [o for o in options if f"`{o}" not in section] == []
    for name in PROBLEMS:
        assert f"`{name}" in section, name


def test_the_file_names_topics_as_the_settings_do(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    settings = Settings.from_env({"KPI_TOPIC_PREFIX": "t1-"})
    args = cli._parser().parse_args(["simulate", "--to", str(out), *SMALL])
    assert main_from_args(args, settings) == 0
    lines = list(enumerate(out.read_bytes().splitlines(), start=1))
    assert all(line.startswith(b'{"topic":"t1-') for _, line in lines)
    result = replay.run(lines, settings)
    assert result.summary.bad_lines == 0
    assert result.summary.outcomes["counted"] > 0
