"""The compose stack and the Prometheus configs: structure checks, no Docker engine needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
PROMETHEUS_CONFIGS = {
    "local": REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml",
    "docker": REPO_ROOT / "deploy" / "prometheus" / "prometheus.docker.yml",
}
EXPECTED_SERVICES = {"kafka", "redis", "prometheus", "grafana", "worker", "simulator"}
HEALTHCHECKED = {"kafka", "redis", "prometheus", "grafana", "worker"}
WORKER_ENV_KEYS = {"KAFKA_BOOTSTRAP", "REDIS_URL", "KPI_APP_ID", "KPI_TOPIC_PREFIX", "KPI_WEB_PORT"}
WORKER_METRICS_PORT = "16066"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the KEY=VALUE list form
        return dict(item.partition("=")[::2] for item in env)
    assert isinstance(env, dict)
    return {str(k): str(v) for k, v in env.items()}


def test_all_services_present(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= EXPECTED_SERVICES


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name}: neither image nor build"
            continue
        last = image.rsplit("/", 1)[-1]
        assert ":" in last or "@sha256:" in image, f"{name}: image {image!r} has no tag"
        tag = last.partition(":")[2]
        assert tag not in {"", "latest"}, f"{name}: image {image!r} is not pinned"


def test_kafka_image_is_a_4x_kraft_broker(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = _environment(kafka)
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


@pytest.mark.parametrize("name", sorted(HEALTHCHECKED))
def test_healthchecks(services: dict[str, dict[str, Any]], name: str) -> None:
    check = services[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert check.get("test"), f"{name}: healthcheck without a test"
    assert not check.get("disable", False)


def test_dependencies_wait_for_healthy_services(services: dict[str, dict[str, Any]]) -> None:
    conditions: list[tuple[str, str, str]] = []
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must use the long form"
        for dependency, spec in depends.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            conditions.append((name, dependency, spec["condition"]))
    healthy = {(s, d) for s, d, c in conditions if c == "service_healthy"}
    assert {("worker", "kafka"), ("worker", "redis"), ("simulator", "kafka")} <= healthy
    # Waiting for health only makes sense on a service that has a healthcheck.
    for name, dependency in healthy:
        assert "healthcheck" in services[dependency], f"{name} waits on {dependency}"


def test_worker(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "build" in worker
    assert worker["command"] == ["campaign-kpi", "worker"]
    env = _environment(worker)
    assert set(env) >= WORKER_ENV_KEYS
    assert env["KPI_WEB_PORT"] == WORKER_METRICS_PORT
    assert env["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["REDIS_URL"].startswith("redis://redis:")


def test_simulator_runs_the_cli(services: dict[str, dict[str, Any]]) -> None:
    command = services["simulator"]["command"]
    assert command[:2] == ["campaign-kpi", "simulate"]


def test_grafana_mounts_provisioning_and_dashboards(services: dict[str, dict[str, Any]]) -> None:
    volumes = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes


def test_prometheus_mounts_the_docker_config(services: dict[str, dict[str, Any]]) -> None:
    volumes = services["prometheus"]["volumes"]
    assert any(v.startswith("./deploy/prometheus/prometheus.docker.yml:") for v in volumes)


def test_dockerfile_exists() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "campaign-kpi" in dockerfile


def _scrape_targets(path: Path) -> dict[str, list[str]]:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


@pytest.mark.parametrize(
    ("flavour", "worker_target"),
    [("local", f"127.0.0.1:{WORKER_METRICS_PORT}"), ("docker", f"worker:{WORKER_METRICS_PORT}")],
)
def test_prometheus_scrapes_the_worker(flavour: str, worker_target: str) -> None:
    targets = _scrape_targets(PROMETHEUS_CONFIGS[flavour])
    assert targets["campaign-kpi-worker"] == [worker_target]
    assert "prometheus" in targets


@pytest.mark.parametrize("flavour", sorted(PROMETHEUS_CONFIGS))
def test_promtool_accepts_the_prometheus_config(flavour: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool not found: run `make services` (installs Debian's prometheus package) "
            "or install prometheus"
        )
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIGS[flavour])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
