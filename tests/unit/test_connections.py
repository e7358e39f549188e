"""Security settings and the options built from them, without servers.

tests/integration/test_security.py runs them against real servers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.web import Request, Response, View

from streams.config import VARIABLES, Settings, SettingsError
from streams.connections import faust_credentials, kafka_options
from streams.faust_compat import CompatApp, OwnPagesWeb

SECRET = "s3cret-never-shown"
README = Path(__file__).resolve().parents[2] / "README.md"
SECURITY_VARIABLES = [v.name for v in VARIABLES if "_SSL_" in v.name or "_SASL_" in v.name
                      or v.name == "KAFKA_SECURITY_PROTOCOL"]


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=unit-ca", "-keyout", str(directory / "ca.key"),
         "-out", str(directory / "ca.pem")],
        check=True, capture_output=True,
    )
    return str(directory / "ca.pem")


def security_env(protocol: str, ca_file: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    env = {"KAFKA_SECURITY_PROTOCOL": protocol}
    if "SSL" in protocol:
        env["KAFKA_SSL_CAFILE"] = ca_file
    if protocol.startswith("SASL_"):
        env |= {"KAFKA_SASL_MECHANISM": mechanism, "KAFKA_SASL_USERNAME": "kpi",
                "KAFKA_SASL_PASSWORD": SECRET}
    return env


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("PLAINTEXT", ""), ("SSL", ""), ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
     ("SASL_PLAINTEXT", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-256")],
)
def test_faust_clients_get_the_security_of_every_other_client(
    protocol: str, mechanism: str, ca_file: str
) -> None:
    """What Faust hands its consumer and producer equals what every aiokafka client gets."""
    settings = Settings.from_env(security_env(protocol, ca_file, mechanism or "SCRAM-SHA-512"))
    ours = kafka_options(settings)
    del ours["bootstrap_servers"]
    faust_options = credentials_to_aiokafka_auth(faust_credentials(settings))
    # ssl_context=None is aiokafka's default: the same as not passing it.
    assert {k: v for k, v in faust_options.items() if v is not None} == ours
    assert ours["security_protocol"] == protocol
    assert SECRET not in repr(faust_credentials(settings))


def test_settings_show_no_secret(ca_file: str) -> None:
    settings = Settings.from_env({
        **security_env("SASL_SSL", ca_file),
        "REDIS_URL": f"rediss://kpi:{SECRET}@127.0.0.1:6380/0",
        "KPI_PSEUDONYM_KEY": SECRET,
    })
    shown = repr(settings.describe())
    assert SECRET not in shown
    assert "'kafka_sasl_password': '(set)'" in shown
    assert SECRET not in repr(settings.kafka_tls)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
         "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SASL_USERNAME": "kpi", "KAFKA_SASL_PASSWORD": SECRET},
         "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD set, but KAFKA_SECURITY_PROTOCOL="
         "PLAINTEXT does not authenticate"),
        ({"KAFKA_SSL_CAFILE": "{ca}"}, "KAFKA_SSL_CAFILE set, but KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "{ca}"},
         "set KAFKA_SSL_CERTFILE"),
        ({"REDIS_SSL_CAFILE": "{ca}"}, "REDIS_SSL_CAFILE set, but REDIS_URL is not a rediss://"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS': not one of these"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "allowed: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/such/ca.pem"},
         "KAFKA_SSL_CAFILE='/no/such/ca.pem': no such file"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(README)},
         "KAFKA_SSL_CAFILE="),  # not PEM
        ({"REDIS_URL": "rediss://h:1/0", "REDIS_SSL_CERTFILE": "{ca}"},
         "REDIS_SSL_CERTFILE={ca} and its key: the client certificate cannot be loaded"),
    ],
)
def test_contradicting_security_settings_are_refused_by_name(
    env: dict[str, str], message: str, ca_file: str
) -> None:
    env = {name: value.replace("{ca}", ca_file) for name, value in env.items()}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert message.replace("{ca}", ca_file) in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_bad_secret_value_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"KPI_PSEUDONYM_KEY": "short"})
    assert "KPI_PSEUDONYM_KEY=(secret)" in str(caught.value)


def test_faust_serves_none_of_its_own_views() -> None:
    """Faust's own views (/router, /table, its index at /...) are switched off."""
    app = CompatApp("unit-web", web_enabled=True)

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        return web.text("")

    web = app.web
    assert isinstance(web, OwnPagesWeb)
    web.init_server()
    routes = {resource.canonical for resource in web.web_app.router.resources()}
    assert routes == {"/metrics"}
    assert Settings().web_bind == "127.0.0.1"


def test_readme_documents_every_security_variable() -> None:
    text = README.read_text()
    security = text[text.index("## Security"):]
    for name in SECURITY_VARIABLES:
        assert f"`{name}`" in security, name
