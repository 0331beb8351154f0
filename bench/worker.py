"""Start, watch and stop an isolated ``tokenradar worker`` on the local broker."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenradar.deployment import Deployment, start_worker, stop_process


def rss_bytes(pid: int) -> tuple[int, int]:
    """Resident memory (VmRSS) and its peak (VmHWM) of ``pid`` in bytes."""
    values = {"VmRSS": 0, "VmHWM": 0}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Worker:
    """One worker process with its own app id, topics, state directory and web port."""

    bootstrap: str
    prefix: str
    usage_topic: str
    partitions: int
    data_dir: Path
    web_port: int
    log_path: Path
    module: str = "tokenradar"
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def deployment(self) -> Deployment:
        return Deployment(
            prefix=self.prefix,
            bootstrap=self.bootstrap,
            partitions=self.partitions,
            data_dir=self.data_dir,
            web_port=self.web_port,
            usage_topic_name=self.usage_topic,
            extra_env=self.extra_env,
        )

    @property
    def alerts_topic(self) -> str:
        return self.deployment.alerts_topic

    @property
    def windows_topic(self) -> str:
        return self.deployment.windows_topic

    def start(self) -> None:
        command = (self.module, "worker") if self.module == "tokenradar" else (self.module,)
        self.process = start_worker(self.deployment.env(), self.log_path, command)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def health(self, timeout: float = 5.0) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}/health", timeout=timeout
            ) as response:
                document: dict[str, Any] = json.load(response)
                return document
        except (OSError, ValueError):
            return None

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited; see {self.log_path}")
            if self.health(timeout=1.0) is not None:
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker did not answer /health within {timeout} s")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def totals(health: dict[str, Any]) -> tuple[int, int, int]:
    """Events, closed windows and alerts summed over the worker's partitions."""
    events = windows = alerts = 0
    for partition in health.get("partitions", {}).values():
        events += int(partition["events"])
        windows += int(partition["windows_closed"])
        alerts += int(partition["alerts"])
    return events, windows, alerts
