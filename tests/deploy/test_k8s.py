"""The Kubernetes manifests of deploy/k8s: schema-valid, and consistent with the worker.

Every core object is validated against the Kubernetes OpenAPI schemas of two API versions by
kubernetes-validate (strict: an unknown or misspelt field is an error); the schemas ship in
the package, so no cluster and no network are needed. KEDA's ScaledObject is a custom
resource whose schema is KEDA's own: it is checked field by field below. Then what a schema
cannot see: the ConfigMap and Secret hold settings the worker accepts (read by its own
``Settings.from_env``), the secrets are in the Secret, the probes and the Service reach the
port the worker serves, the grace period outlasts a flush's transaction, selectors match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import VARIABLE_NAMES, VARIABLES, Settings

try:
    import kubernetes_validate
except ImportError:  # pragma: no cover - a missing tool must fail, not skip
    kubernetes_validate = None

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
KEDA = K8S / "keda" / "scaledobject.yaml"
# The oldest Kubernetes still widely run and the newest the validator knows.
API_VERSIONS = ("1.30.0", "1.37.0")
SECRET_VARIABLES = frozenset(v.name for v in VARIABLES if v.secret)


def _documents(path: Path) -> list[dict[str, Any]]:
    found = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert all(isinstance(d, dict) for d in found), path
    return found


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    """The objects kustomization.yaml applies, by kind (one of each)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    by_kind: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for document in _documents(K8S / name):
            assert document["kind"] not in by_kind, f"two {document['kind']} objects"
            by_kind[document["kind"]] = document
    return by_kind


@pytest.fixture(scope="module")
def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


@pytest.fixture(scope="module")
def settings_env(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The worker's environment from the ConfigMap and the Secret."""
    return {**objects["ConfigMap"]["data"], **objects["Secret"]["stringData"]}


def test_kustomization_applies_every_manifest(objects: dict[str, dict[str, Any]]) -> None:
    top_level = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert set(kustomization["resources"]) == top_level
    assert set(objects) == {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}


@pytest.mark.parametrize("version", API_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(
    objects: dict[str, dict[str, Any]], version: str
) -> None:
    assert kubernetes_validate is not None, (
        "kubernetes-validate is missing: it is a dev dependency (pyproject.toml); "
        "`make setup` installs it"
    )
    for kind, document in objects.items():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{kind} is not a valid Kubernetes {version} object: {error}")


def test_the_validator_refuses_a_broken_object(objects: dict[str, dict[str, Any]]) -> None:
    """The check above can fail: a misspelt field and a wrong type are refused."""
    assert kubernetes_validate is not None
    deployment = objects["Deployment"]
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, API_VERSIONS[-1], strict=True)
    wrong = {**deployment, "spec": {**deployment["spec"], "replicas": "three"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, API_VERSIONS[-1], strict=True)


def test_config_and_secret_are_settings_the_worker_accepts(settings_env: dict[str, str]) -> None:
    unknown = set(settings_env) - VARIABLE_NAMES
    assert not unknown, f"not settings of streams/config.py: {sorted(unknown)}"
    settings = Settings.from_env(settings_env)  # SettingsError names any bad value
    assert settings.web_bind == "0.0.0.0"  # loopback would hide /metrics and /health
    assert not settings.fault_delays


def test_secrets_live_in_the_secret_only(objects: dict[str, dict[str, Any]]) -> None:
    config = set(objects["ConfigMap"]["data"])
    secret = set(objects["Secret"]["stringData"])
    assert not config & SECRET_VARIABLES, "a secret setting in the ConfigMap"
    assert secret <= SECRET_VARIABLES, "a plain setting in the Secret"
    assert {"REDIS_URL", "KPI_PSEUDONYM_KEY"} <= secret


def test_the_worker_container(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], settings_env: dict[str, str]
) -> None:
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert container["command"] == ["campaign-kpi", "worker"]
    image = container["image"]
    assert ":" in image.rsplit("/", 1)[-1], "image not pinned"
    assert not image.endswith(":latest")
    sources = {
        next(iter(k for k in ref if k.endswith("Ref"))): next(iter(ref.values()))["name"]
        for ref in container["envFrom"]
    }
    assert sources == {
        "configMapRef": objects["ConfigMap"]["metadata"]["name"],
        "secretRef": objects["Secret"]["metadata"]["name"],
    }
    assert "env" not in container, "settings belong in the ConfigMap or the Secret"
    # Scratch only: state lives in Kafka, nothing persistent is mounted.
    assert all(set(volume) == {"name", "emptyDir"} for volume in pod["volumes"])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert any(settings_env["KPI_DATA_DIR"].startswith(path + "/") for path in mounts)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_probes_and_service_reach_the_workers_web_server(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], settings_env: dict[str, str]
) -> None:
    port = int(settings_env["KPI_WEB_PORT"])
    (named,) = container["ports"]
    assert named["containerPort"] == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/health", probe  # streams/app.py serves it
        assert check["port"] in (named["name"], port), probe
    service = objects["Service"]
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in (named["name"], port)
    assert service["spec"]["clusterIP"] == "None", "headless: every worker is scraped"
    annotations = objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_timings_fit_the_session_and_transaction_timeouts(
    objects: dict[str, dict[str, Any]], container: dict[str, Any], settings_env: dict[str, str]
) -> None:
    settings = Settings.from_env(settings_env)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    # SIGTERM to SIGKILL: time to end (or abort) the flush's transaction and leave the group.
    assert pod["terminationGracePeriodSeconds"] > settings.transaction_timeout_s
    live = container["livenessProbe"]
    # A loop held by a flush or a restore is not dead: no restart before twice the time the
    # group itself waits for a silent worker.
    assert live["periodSeconds"] * live["failureThreshold"] >= 2 * settings.session_timeout_s
    start = container["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 120  # Kafka wait + restore
    rolling = objects["Deployment"]["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0


def test_selectors_match_the_pods(objects: dict[str, dict[str, Any]]) -> None:
    deployment = objects["Deployment"]["spec"]
    labels = deployment["template"]["metadata"]["labels"]
    for selector in (
        deployment["selector"]["matchLabels"],
        objects["Service"]["spec"]["selector"],
        objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    budget = objects["PodDisruptionBudget"]["spec"]
    assert budget == {**budget, "maxUnavailable": 1}
    assert deployment["replicas"] >= 2, "one worker cannot be drained without an outage"


def test_keda_scales_the_deployment_on_the_groups_lag(
    objects: dict[str, dict[str, Any]], settings_env: dict[str, str]
) -> None:
    (scaled,) = _documents(KEDA)
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["kind"] == "ScaledObject"
    spec = scaled["spec"]
    assert set(spec) <= {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "advanced", "triggers", "idleReplicaCount", "fallback",
        "initialCooldownPeriod",
    }
    assert spec["scaleTargetRef"] == {"name": objects["Deployment"]["metadata"]["name"]}
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    # More workers than input partitions sit idle.
    assert spec["maxReplicaCount"] <= int(settings_env["KPI_PARTITIONS"])
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert set(behavior) == {"scaleUp", "scaleDown"}
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert all(isinstance(value, str) for value in metadata.values()), "KEDA wants strings"
    assert metadata["bootstrapServers"] == settings_env["KAFKA_BOOTSTRAP"]
    assert metadata["consumerGroup"] == settings_env["KPI_APP_ID"]
    assert int(metadata["lagThreshold"]) > 0
    assert metadata["allowIdleConsumers"] == "false"
    assert "topic" not in metadata  # every input topic the group reads
