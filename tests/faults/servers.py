"""Servers a fault test may kill: a private KRaft cluster (1 or 3 nodes) and a private Redis.

They run from the jars and packages `make services` provides, on free loopback ports, with
their data in the test's directory: killing them disturbs no other test.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from ..integration.private_kafka import LIB, LOG4J
from ..integration.worker_harness import free_port

_MAIN = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what} not listening on {port} within {timeout_s} s")


class KafkaCluster:
    """``nodes`` combined broker/controller KRaft nodes sharing one quorum."""

    def __init__(self, directory: Path, nodes: int = 3) -> None:
        """Lay out every node's configuration and format its storage once."""
        assert LIB.is_dir(), f"{LIB} is missing: run `make services` first"
        self.directory = directory
        self.nodes = nodes
        self.ports = [free_port() for _ in range(nodes)]
        self.controller_ports = [free_port() for _ in range(nodes)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * nodes
        voters = ",".join(
            f"{n + 1}@127.0.0.1:{port}" for n, port in enumerate(self.controller_ports)
        )
        replicas = min(3, nodes)
        cluster_id = subprocess.run(
            [*self._java(0, _STORAGE_TOOL), "random-uuid"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for n in range(nodes):
            node_dir = directory / f"node-{n + 1}"
            node_dir.mkdir(parents=True, exist_ok=True)
            port, controller = self.ports[n], self.controller_ports[n]
            (node_dir / "server.properties").write_text(
                "\n".join(
                    [
                        "process.roles=broker,controller",
                        f"node.id={n + 1}",
                        f"controller.quorum.voters={voters}",
                        f"listeners=PLAINTEXT://127.0.0.1:{port},"
                        f"CONTROLLER://127.0.0.1:{controller}",
                        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},"
                        f"CONTROLLER://127.0.0.1:{controller}",
                        "inter.broker.listener.name=PLAINTEXT",
                        "controller.listener.names=CONTROLLER",
                        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                        f"log.dirs={node_dir / 'data'}",
                        f"offsets.topic.replication.factor={replicas}",
                        f"transaction.state.log.replication.factor={replicas}",
                        f"transaction.state.log.min.isr={min(2, replicas)}",
                        f"share.coordinator.state.topic.replication.factor={replicas}",
                        f"share.coordinator.state.topic.min.isr={min(2, replicas)}",
                        f"default.replication.factor={replicas}",
                        f"min.insync.replicas={min(2, replicas)}",
                        "group.initial.rebalance.delay.ms=0",
                        "offsets.topic.num.partitions=3",
                        f"transaction.state.log.num.partitions={TRANSACTION_LOG_PARTITIONS}",
                        "num.network.threads=2",
                        "num.io.threads=2",
                        # A dead node is noticed (and leadership moves) quickly.
                        "broker.session.timeout.ms=6000",
                        "broker.heartbeat.interval.ms=1000",
                        "",
                    ]
                )
            )
            subprocess.run(
                [*self._java(n, _STORAGE_TOOL), "format", "-t", cluster_id, "-c",
                 str(node_dir / "server.properties")],
                capture_output=True, check=True,
            )

    @property
    def bootstrap(self) -> str:
        """Every node, for clients."""
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def _java(self, node: int, main: str) -> list[str]:
        return [
            "java", "-Xms256m", "-Xmx384m", f"-Dlog4j2.configurationFile={LOG4J}",
            f"-Dkafka.logs.dir={self.directory / f'node-{node + 1}'}", "-cp", f"{LIB}/*", main,
        ]

    def start(self, timeout_s: float = 90.0) -> None:
        """Start every node not running and wait until each accepts clients."""
        for n in range(self.nodes):
            process = self.processes[n]
            if process is None or process.poll() is not None:
                self.start_node(n, timeout_s)

    def start_node(self, node: int, timeout_s: float = 90.0) -> None:
        """Start one node (reusing its data)."""
        node_dir = self.directory / f"node-{node + 1}"
        with open(node_dir / "kafka.log", "ab") as log:
            process = subprocess.Popen(
                [*self._java(node, _MAIN), str(node_dir / "server.properties")],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self.processes[node] = process
        # A node alone waits for a quorum before opening its client port: start them all first.
        if all(p is not None for p in self.processes):
            for n, p in enumerate(self.processes):
                assert p is not None
                _wait_port(self.ports[n], p, f"Kafka node {n + 1}", timeout_s)

    def kill_node(self, node: int) -> None:
        """``kill -9`` one node."""
        process = self.processes[node]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(30)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL)."""
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self.processes:
            if process is not None and process.poll() is None:
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)

    async def leader(self, topic: str, partition: int) -> int:
        """The node index leading a topic partition."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([topic])
            for item in described[0]["partitions"]:
                if item["partition"] == partition:
                    return int(item["leader"]) - 1
        finally:
            await admin.close()
        raise KeyError(f"{topic}/{partition} has no leader")


TRANSACTION_LOG_PARTITIONS = 3


def transaction_log_partition(transactional_id: str) -> int:
    """The ``__transaction_state`` partition (so its leader: the coordinator) of an id.

    Kafka's rule: abs(String.hashCode()) mod the partition count.
    """
    h = 0
    for ch in transactional_id:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % TRANSACTION_LOG_PARTITIONS


class PrivateRedis:
    """A redis-server without persistence: flushing or restarting it loses its data."""

    def __init__(self, directory: Path) -> None:
        """Pick a port; :meth:`start` launches."""
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is needed (make services installs it)"
        self.binary = binary
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Database 0 of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it (empty: nothing persists) and wait until it answers."""
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.directory)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        _wait_port(self.port, self.process, "redis-server", 20)

    def kill(self) -> None:
        """``kill -9``: the data is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
