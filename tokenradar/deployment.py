"""One isolated deployment on a shared broker: names from a prefix, and its worker process.

The integration tests and the benchmark each run workers side by side on one local broker. Every
topic, the app id (which names Faust's changelog topics and consumer group) and the state
directory must then be the deployment's own, or one run reads another's alerts, silences or
budget snapshots. :class:`Deployment` derives all of them from one prefix, and
:func:`start_worker` / :func:`stop_process` run a worker as a process group of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Deployment:
    """The settings of one deployment whose every name starts with ``prefix``."""

    prefix: str
    bootstrap: str
    partitions: int
    data_dir: Path
    web_port: int
    # The usage topic, when it is not the deployment's own (a benchmark's preloaded topic).
    usage_topic_name: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def usage_topic(self) -> str:
        return self.usage_topic_name or f"{self.prefix}-usage"

    @property
    def alerts_topic(self) -> str:
        return f"{self.prefix}-alerts"

    @property
    def windows_topic(self) -> str:
        return f"{self.prefix}-windows"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.prefix}-dead-letter"

    @property
    def budgets_topic(self) -> str:
        return f"{self.prefix}-budgets"

    @property
    def silences_topic(self) -> str:
        return f"{self.prefix}-silences"

    def env(self) -> dict[str, str]:
        """The process environment of a worker or CLI command of this deployment."""
        env = dict(os.environ)
        env.update(
            {
                "TOKENRADAR_KAFKA_BOOTSTRAP": self.bootstrap,
                "TOKENRADAR_APP_ID": self.prefix,
                "TOKENRADAR_USAGE_TOPIC": self.usage_topic,
                "TOKENRADAR_ALERTS_TOPIC": self.alerts_topic,
                "TOKENRADAR_WINDOWS_TOPIC": self.windows_topic,
                "TOKENRADAR_DEAD_LETTER_TOPIC": self.dead_letter_topic,
                "TOKENRADAR_BUDGETS_TOPIC": self.budgets_topic,
                "TOKENRADAR_SILENCES_TOPIC": self.silences_topic,
                "TOKENRADAR_USAGE_PARTITIONS": str(self.partitions),
                "TOKENRADAR_DATA_DIR": str(self.data_dir),
                "TOKENRADAR_WEB_PORT": str(self.web_port),
            }
        )
        env.update(self.extra_env)
        return env


def start_worker(
    env: dict[str, str], log_path: Path, command: Sequence[str] = ("tokenradar", "worker")
) -> subprocess.Popen[bytes]:
    """Start ``python -m <command>`` in its own process group, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", *command],
            env={
                **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            },
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
