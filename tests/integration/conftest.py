"""The whole service on the real local broker.

The broker is started by ``scripts/kafka start`` (``scripts/test`` and ``.ci/run`` do it). These
tests fail, never skip, when it cannot be reached: a missing broker is a broken setup.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from tokenradar.deployment import Deployment, start_worker

# The broker `scripts/kafka start` runs (its port from TOKENRADAR_KAFKA_PORT), unless given.
BOOTSTRAP = os.environ.get(
    "TOKENRADAR_KAFKA_BOOTSTRAP",
    f"127.0.0.1:{os.environ.get('TOKENRADAR_KAFKA_PORT', '9092')}",
)
REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker() -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=5000)
            admin.list_topics()
            admin.close()
            return BOOTSTRAP
        except KafkaError as exc:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no Kafka broker at {BOOTSTRAP} ({exc}); start one with `scripts/kafka start`"
                )
            time.sleep(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """Names and settings of one isolated tokenradar deployment on the shared broker."""

    bootstrap: str
    data_dir: Path
    partitions: int = 3
    prefix: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:8]}")
    web_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def deployment(self) -> Deployment:
        return Deployment(
            prefix=self.prefix,
            bootstrap=self.bootstrap,
            partitions=self.partitions,
            data_dir=self.data_dir,
            web_port=self.web_port,
            extra_env={
                "TOKENRADAR_CHECKPOINT_INTERVAL_SECONDS": "0.5",
                "TOKENRADAR_LOG_LEVEL": "INFO",
                # Plumbing tests compare the worker with a replay through the same simple
                # detector, whose short warm-up keeps their streams small.
                "TOKENRADAR_DETECTOR": "placeholder",
                **self.extra_env,
            },
        )

    @property
    def usage_topic(self) -> str:
        return self.deployment.usage_topic

    @property
    def alerts_topic(self) -> str:
        return self.deployment.alerts_topic

    @property
    def windows_topic(self) -> str:
        return self.deployment.windows_topic

    @property
    def dead_letter_topic(self) -> str:
        return self.deployment.dead_letter_topic

    @property
    def budgets_topic(self) -> str:
        return self.deployment.budgets_topic

    @property
    def silences_topic(self) -> str:
        return self.deployment.silences_topic

    def env(self) -> dict[str, str]:
        return self.deployment.env()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "tokenradar", *args],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            timeout=timeout,
            check=True,
        )

    def start_worker(self, log_path: Path) -> subprocess.Popen[bytes]:
        process = start_worker(self.env(), log_path)
        self.workers.append(process)
        return process

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def health(self) -> dict[str, Any] | None:
        """The worker's /health document, or None while it does not answer."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}/health", timeout=1
            ) as response:
                document: dict[str, Any] = json.load(response)
                return document
        except (OSError, ValueError):
            return None

    def wait_for_checkpointed(self, events: int, timeout: float) -> None:
        """Wait until the worker has applied ``events`` events and checkpointed team states (a
        worker killed then has a state for its successor to restore)."""
        self.wait_for_health(
            lambda h: (
                sum(p["events"] for p in h["partitions"].values()) >= events
                and any(p["checkpoints"] and p["teams"] for p in h["partitions"].values())
            ),
            timeout=timeout,
        )

    def wait_for_health(self, until: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            document = self.health()
            if document is not None and until(document):
                return
            time.sleep(0.05)
        pytest.fail(f"worker health never satisfied the condition; last: {self.health()}")

    def produce(self, messages: list[bytes], key: Callable[[bytes], bytes | None]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20)
        for message in messages:
            producer.send(self.usage_topic, key=key(message), value=message)
        producer.flush()
        producer.close()

    def consume(
        self,
        topic: str,
        until: Callable[[list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]], bool],
        timeout: float,
        worker_log: Path | None = None,
    ) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
        """Read ``topic`` from the start until ``until(records)`` holds; fail after ``timeout``."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=500,
        )
        deadline = time.monotonic() + timeout
        records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []
        try:
            assigned = False
            while time.monotonic() < deadline:
                if not assigned:
                    partitions = consumer.partitions_for_topic(topic)
                    if partitions:
                        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
                        consumer.seek_to_beginning()
                        assigned = True
                    else:
                        time.sleep(0.2)
                        continue
                for record in consumer:
                    records.append((record.key, record.value, list(record.headers or [])))
                if until(records):
                    return records
                for process in self.workers:
                    if process.poll() not in (None, -signal.SIGKILL):
                        tail = worker_log.read_text()[-3000:] if worker_log else ""
                        pytest.fail(f"worker exited with {process.returncode}:\n{tail}")
        finally:
            consumer.close()
        tail = worker_log.read_text()[-3000:] if worker_log else ""
        pytest.fail(
            f"{topic}: condition not met within {timeout} s ({len(records)} records)\n"
            f"worker /health: {json.dumps(self.health())}\n{tail}"
        )


@pytest.fixture
def service(broker: str, tmp_path: Path) -> Iterator[Service]:
    svc = Service(bootstrap=broker, data_dir=tmp_path / "state")
    try:
        yield svc
    finally:
        svc.stop_workers()
