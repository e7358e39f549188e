"""Certificates, a TLS+ACL Redis and the broker security of the security tests.

Everything is made in the test's temporary directory and listens on 127.0.0.1 only:

* :func:`make_certificates`: a CA, a server certificate for 127.0.0.1/localhost, a client
  certificate whose key is encrypted, and a second CA that signed nothing (the "wrong CA"),
  with openssl; the broker's PKCS12 keystore (openssl) and truststore (keytool);
* :class:`BrokerSecurity`: what :class:`~tests.integration.private_kafka.PrivateKafka` adds
  to its node for the SSL, SASL_PLAINTEXT and SASL_SSL listeners (SCRAM-SHA-512 users are
  written at storage format time, PLAIN users in the listeners' JAAS configuration);
* :class:`PrivateTlsRedis`: a ``redis-server`` reachable over TLS only, requiring client
  certificates, whose default user is an administrator with a password and whose worker user
  may touch only ``kpi:*`` keys, the ``kpi:updates`` channel and :data:`WORKER_COMMANDS`.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .worker_harness import free_port

STORE_PASSWORD: Final = "kpi-store-secret"
CLIENT_KEY_PASSWORD: Final = "kpi-client-key-secret"


@dataclass(frozen=True)
class Certificates:
    """PEM files for clients, stores for the broker."""

    ca: Path
    other_ca: Path  # a CA that signed none of these: trusting it must fail
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with CLIENT_KEY_PASSWORD
    keystore: Path  # PKCS12: the server key and chain
    truststore: Path  # PKCS12: the CA (to verify client certificates)


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
        "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    return key, cert


def _signed(directory: Path, name: str, ca: tuple[Path, Path], extensions: str,
            key_password: str | None = None) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    encryption = ["-passout", f"pass:{key_password}"] if key_password else ["-nodes"]
    _openssl("req", "-newkey", "rsa:2048", *encryption, "-keyout", key, "-out", csr,
             "-subj", f"/CN={name}")
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        f"authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n{extensions}\n"
    )
    _openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext_file)
    return key, cert


def make_certificates(directory: Path) -> Certificates:
    """Create every certificate and store (a few hundred milliseconds)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "kpi-test-ca")
    _, other_ca = _ca(directory, "kpi-other-ca")
    server_key, server_cert = _signed(
        directory, "server", ca,
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost",
    )
    client_key, client_cert = _signed(
        directory, "client", ca, "extendedKeyUsage=clientAuth", key_password=CLIENT_KEY_PASSWORD
    )
    keystore, truststore = directory / "server.p12", directory / "truststore.p12"
    _openssl("pkcs12", "-export", "-in", server_cert, "-inkey", server_key,
             "-certfile", ca[1], "-name", "kafka", "-out", keystore,
             "-passout", f"pass:{STORE_PASSWORD}")
    subprocess.run(
        ["keytool", "-importcert", "-noprompt", "-alias", "kpi-test-ca", "-file", str(ca[1]),
         "-keystore", str(truststore), "-storetype", "PKCS12", "-storepass", STORE_PASSWORD],
        check=True, capture_output=True,
    )
    return Certificates(ca[1], other_ca, server_cert, server_key, client_cert, client_key,
                        keystore, truststore)


# --------------------------------------------------------------------------------------------
# Kafka

SECURE_PROTOCOLS: Final = ("SSL", "SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class BrokerSecurity:
    """The extra listeners of a private broker and who may log in on them.

    The SSL listener requires a client certificate signed by the CA; the SASL listeners
    take SCRAM-SHA-512 and PLAIN (no client certificate on SASL_SSL).
    """

    certificates: Certificates
    scram_users: dict[str, str] = field(default_factory=dict)
    plain_users: dict[str, str] = field(default_factory=dict)

    def properties(self) -> list[str]:
        """server.properties lines (``listeners`` and the protocol map are the node's)."""
        c = self.certificates
        plain = " ".join(f'user_{name}="{password}"' for name, password in
                         self.plain_users.items())
        lines = [
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={c.keystore}",
            f"ssl.keystore.password={STORE_PASSWORD}",
            f"ssl.key.password={STORE_PASSWORD}",
            "ssl.truststore.type=PKCS12",
            f"ssl.truststore.location={c.truststore}",
            f"ssl.truststore.password={STORE_PASSWORD}",
            "listener.name.ssl.ssl.client.auth=required",
            "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
        ]
        for listener in ("sasl_plaintext", "sasl_ssl"):
            lines += [
                f"listener.name.{listener}.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                f"listener.name.{listener}.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};",
            ]
        return lines

    def format_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments that create the SCRAM users."""
        arguments = []
        for name, password in self.scram_users.items():
            arguments += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        return arguments


# --------------------------------------------------------------------------------------------
# Redis

REDIS_ADMIN_PASSWORD: Final = "kpi-redis-admin-secret"
WORKER_USER: Final = "kpi-worker"
# What the worker runs (streams/sinks/redis.py), and nothing else:
#   evalsha, script|load   every write is an EVALSHA of a script, loaded when Redis lost it;
#   info                   INFO server: the run id tells a Redis restart (lost writes);
#   exists                 the flush_seq keys still there (a flushed database);
#   get, set, del, hset, expire, zadd, zrem, zscore, publish
#                          the commands the scripts call: ACLs apply inside scripts too.
# Not granted: CLIENT SETINFO, which redis-py sends on connecting (Redis 7.2+) and whose
# refusal it ignores; SELECT, which redis-py sends for a database other than 0.
WORKER_COMMANDS: Final = (
    "evalsha", "script|load", "info", "exists",
    "get", "set", "del", "hset", "expire", "zadd", "zrem", "zscore", "publish",
)


def worker_acl(password: str) -> str:
    """The ACL rule of the worker's Redis user."""
    commands = " ".join(f"+{command}" for command in WORKER_COMMANDS)
    return f"user {WORKER_USER} on >{password} resetkeys ~kpi:* resetchannels &kpi:updates " \
           f"-@all {commands}"


class PrivateTlsRedis:
    """A ``redis-server`` on a free loopback port, TLS only (client certificates required)."""

    def __init__(self, directory: Path, certificates: Certificates, worker_password: str):
        """Write the configuration; :meth:`start` runs it."""
        self.directory = directory
        self.certificates = certificates
        self.port = free_port()
        self.log = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        c = certificates
        self.config = directory / "redis.conf"
        self.config.write_text(
            "\n".join([
                "bind 127.0.0.1",
                "port 0",  # no plain-text port at all
                f"tls-port {self.port}",
                f"tls-cert-file {c.server_cert}",
                f"tls-key-file {c.server_key}",
                f"tls-ca-cert-file {c.ca}",
                "tls-auth-clients yes",
                f"dir {directory}",
                'save ""',
                "appendonly no",
                f"user default on >{REDIS_ADMIN_PASSWORD} ~* &* +@all",
                worker_acl(worker_password),
                "",
            ])
        )

    def url(self, user: str, password: str, database: int = 0) -> str:
        """``rediss://user:password@127.0.0.1:port/database``."""
        return f"rediss://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout_s: float = 20.0) -> None:
        """Run the server and wait until it accepts connections."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"redis-server exited; see {self.log}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"redis-server not listening within {timeout_s}s; see {self.log}")

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
