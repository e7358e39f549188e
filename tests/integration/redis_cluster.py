"""A private Redis Cluster for the tests: three masters on loopback, no replicas, no persistence.

Started as an operator would: three ``redis-server --cluster-enabled yes`` processes joined by
``redis-cli --cluster create``, then waited for until every node reports ``cluster_state:ok``
and agrees on the slot map. Nothing is persisted (``--save "" --appendonly no``): a node
that is restarted keeps its identity and its slots (``nodes.conf``) and loses its data, as
a Redis without persistence does, which is what the loss-detection tests need.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

MASTERS = 3
# The cluster bus listens on port + 10000: both must be free and below 65536.
_PORTS = range(20_000, 29_000)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports(count: int) -> list[int]:
    picked: list[int] = []
    rng = random.Random()
    for _ in range(1000):
        port = rng.choice(_PORTS)
        if port not in picked and _free(port) and _free(port + 10_000):
            picked.append(port)
            if len(picked) == count:
                return picked
    raise RuntimeError("no free port pairs for a Redis Cluster on 127.0.0.1")


class PrivateRedisCluster:
    """Three cluster-enabled redis-servers forming one cluster (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        """Pick ports; :meth:`start` launches and joins the nodes."""
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        assert server is not None, "redis-server is needed (make services installs it)"
        assert cli is not None, "redis-cli is needed (make services installs it)"
        self.server, self.cli = server, cli
        self.directory = directory
        self.ports = _pick_ports(MASTERS)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """A seed node's URL (a cluster client learns the others from it); database 0."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        """Start the nodes, create the cluster and wait until it serves every slot."""
        for port in self.ports:
            self.start_node(port)
        created = subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert created.returncode == 0, f"redis-cli --cluster create failed:\n{created.stdout}"
        self.wait_ok()

    def start_node(self, port: int) -> None:
        """Start (or restart) one node, empty; it rejoins with its slots from nodes.conf."""
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        with open(node_dir / "redis.log", "ab") as log:
            self.processes[port] = subprocess.Popen(
                [self.server, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "3000", "--save", "", "--appendonly", "no",
                 "--dir", str(node_dir)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while not self._answers(port):
            process = self.processes[port]
            assert process.poll() is None, f"redis-server :{port} exited; see {node_dir}"
            assert time.monotonic() < deadline, f"redis-server :{port} did not answer"
            time.sleep(0.05)

    def kill_node(self, port: int) -> None:
        """``kill -9`` one node: its data is gone."""
        process = self.processes.pop(port, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def restart_node(self, port: int) -> None:
        """Kill one node and start it again (empty), then wait for the cluster."""
        self.kill_node(port)
        self.start_node(port)
        self.wait_ok()

    def wait_ok(self, timeout_s: float = 30.0) -> None:
        """Until every node says ``cluster_state:ok`` and every slot is served."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            states = []
            for port in self.ports:
                try:
                    client = redis.Redis(port=port, host="127.0.0.1", socket_timeout=2)
                    try:
                        info = client.cluster("INFO")
                    finally:
                        client.close()
                except redis.RedisError as error:
                    info = {"error": str(error)}
                states.append(info)
            if all(
                s.get("cluster_state") == "ok" and int(s.get("cluster_slots_ok", 0)) == 16384
                for s in states
            ):
                return
            last = repr(states)
            time.sleep(0.2)
        raise AssertionError(f"Redis Cluster not ok after {timeout_s}s: {last}")

    def flushall(self) -> None:
        """Empty every master."""
        for port in self.ports:
            client = redis.Redis(port=port, host="127.0.0.1")
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        """Stop every node."""
        for port in list(self.processes):
            process = self.processes.pop(port)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            client = redis.Redis(port=port, host="127.0.0.1", socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (redis.RedisError, OSError):
            return False
