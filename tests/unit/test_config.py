"""Settings: every variable validated with a message that names it, and documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.config import VARIABLES, Settings, SettingsError, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_setting_as_the_code_does() -> None:
    text = README.read_text()
    block = re.search(r"<!-- settings-table:.*?-->\n(.*?)<!-- end of settings-table -->", text,
                      re.S)
    assert block is not None
    assert block.group(1) == settings_table()
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KPI_PARTITIONS", "four", "KPI_PARTITIONS='four': not an integer (allowed: an integer"),
        ("KPI_PARTITIONS", "0", "KPI_PARTITIONS='0': out of range"),
        ("KPI_FLUSH_INTERVAL_S", "nan", "KPI_FLUSH_INTERVAL_S='nan': out of range"),
        ("KAFKA_BOOTSTRAP", "localhost", "'localhost' is not host:port"),
        ("REDIS_URL", "http://x", "not a redis:// or rediss:// URL"),
        ("KPI_TOPIC_KPIS", "bad topic", "not a Kafka topic name"),
        ("KPI_REDIS_CLUSTER", "maybe", "not a boolean"),
        ("KPI_GRACE_S_ORDERS", "-1", "KPI_GRACE_S_ORDERS='-1': out of range"),
        ("KPI_TEST_FAULT_DELAYS", "lunch=1", "unknown fault point 'lunch'"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({variable: value})


def test_every_bad_value_is_reported_at_once_and_secrets_are_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"KPI_BATCH_MAX": "x", "KPI_PSEUDONYM_KEY": "short-secret"})
    text = str(caught.value)
    assert "KPI_BATCH_MAX='x'" in text
    assert "KPI_PSEUDONYM_KEY=(secret)" in text
    assert "short-secret" not in text


def test_settings_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(SettingsError, match="KPI_MIN_INSYNC_REPLICAS=3 is more than"):
        Settings.from_env({"KPI_MIN_INSYNC_REPLICAS": "3", "KPI_REPLICATION_FACTOR": "2"})
    with pytest.raises(SettingsError, match="two topics share a name"):
        Settings.from_env({"KPI_TOPIC_KPIS": "orders"})


def test_values_are_typed_and_per_topic_overrides_apply() -> None:
    settings = Settings.from_env({"KPI_GRACE_S": "100", "KPI_GRACE_S_CLICKS": "7",
                                  "KPI_TTL_1M_S": "60", "WEB_VIEW_PORT": "9000"})
    assert settings.grace_s["orders"] == 100
    assert settings.grace_s["clicks"] == 7
    assert settings.rules().final_retention_us["1m"] == 60_000_000
    assert settings.web.port == 9000


def test_a_command_with_bad_settings_exits_with_status_2() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("campaign-kpi")), "settings"],
        env={"KPI_PARTITIONS": "x", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "KPI_PARTITIONS='x'" in done.stderr
