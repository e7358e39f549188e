"""A throwaway single-node Kafka broker of the test's own, which the test may stop and restart.

It runs from the jars `make services` downloaded (.local/kafka/lib), on free loopback ports,
with its data in the test's temporary directory: stopping it disturbs no other test. Given a
:class:`~tests.integration.secure_services.BrokerSecurity`, it also listens with SSL,
SASL_PLAINTEXT and SASL_SSL (:meth:`PrivateKafka.listener`); PLAINTEXT stays for the
broker's own traffic.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from .secure_services import SECURE_PROTOCOLS, BrokerSecurity
from .support import REPO_ROOT
from .worker_harness import free_port

LIB = REPO_ROOT / ".local" / "kafka" / "lib"
LOG4J = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
_MAIN = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"


class PrivateKafka:
    """One KRaft node (broker and controller)."""

    def __init__(self, directory: Path, security: BrokerSecurity | None = None) -> None:
        """Lay out the configuration and format the storage once."""
        assert LIB.is_dir(), f"{LIB} is missing: run `make services` first"
        self.directory = directory
        self.port = free_port()
        self.controller_port = free_port()
        self.secure_ports: dict[str, int] = {}
        extra: list[str] = []
        format_arguments: list[str] = []
        if security is not None:
            self.secure_ports = {protocol: free_port() for protocol in SECURE_PROTOCOLS}
            extra = security.properties()
            format_arguments = security.format_arguments()
        listeners = ",".join(
            [f"PLAINTEXT://127.0.0.1:{self.port}"]
            + [f"{name}://127.0.0.1:{port}" for name, port in self.secure_ports.items()]
        )
        protocol_map = ",".join(
            ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
            + [f"{name}:{name}" for name in self.secure_ports]
        )
        self.properties = directory / "server.properties"
        self.log = directory / "kafka.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.data = data = directory / "data"
        self.properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners={listeners},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners={listeners},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    f"listener.security.protocol.map={protocol_map}",
                    f"log.dirs={data}",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "group.initial.rebalance.delay.ms=0",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.num.partitions=1",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    *extra,
                    "",
                ]
            )
        )
        cluster_id = subprocess.run(
            [*self._java(_STORAGE_TOOL), "random-uuid"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        subprocess.run(
            [*self._java(_STORAGE_TOOL), "format", "-t", cluster_id, "-c", str(self.properties),
             *format_arguments],
            capture_output=True, check=True,
        )

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    def listener(self, protocol: str) -> str:
        """``host:port`` of the listener of a security protocol (PLAINTEXT: :attr:`bootstrap`)."""
        if protocol == "PLAINTEXT":
            return self.bootstrap
        return f"127.0.0.1:{self.secure_ports[protocol]}"

    def _java(self, main: str) -> list[str]:
        return [
            "java", "-Xms256m", "-Xmx256m", f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={self.directory}", "-cp", f"{LIB}/*", main,
        ]

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the node (reusing its data) and wait until clients can connect."""
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*self._java(_MAIN), str(self.properties)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        ports = [self.port, *self.secure_ports.values()]
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"Kafka exited; see {self.log}"
            try:
                for port in ports:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"Kafka not listening within {timeout_s}s; see {self.log}")

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the node with a controlled shutdown (SIGTERM), killing it after the timeout."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
