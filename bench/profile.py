"""Sample a running worker with py-spy and summarise the hot path.

py-spy writes collapsed stacks (``--format raw``: one line per distinct stack, frames separated by
``;``, then the sample count), which speedscope and flamegraph.pl open as a flame graph. The
summary here ranks functions by self time (the frame on top of the stack) and by total time (the
frame anywhere on the stack), and groups self time by area (parsing, windows, detector, Kafka
client, Faust, asyncio, ...).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# "function (path/to/file.py:123)" -> function and file without the line
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")

AREAS: tuple[tuple[str, str], ...] = (
    ("tokenradar/events.py", "parse + validate (tokenradar/events.py)"),
    ("pydantic", "parse + validate (pydantic)"),
    ("orjson", "parse + validate (orjson)"),
    ("tokenradar/core/engine.py", "windows (tokenradar/core/engine.py)"),
    ("tokenradar/core/router.py", "routing (tokenradar/core/router.py)"),
    ("detectors/", "detector (detectors/)"),
    ("alerts/", "alert lifecycle (alerts/)"),
    ("msgpack", "checkpoint serialisation (msgpack)"),
    ("stream/", "worker glue (stream/)"),
    ("aiokafka", "Kafka client (aiokafka)"),
    ("faust", "Faust"),
    ("mode/", "Faust (mode)"),
    ("rocksdict", "state store (rocksdb)"),
    ("rocksdb", "state store (rocksdb)"),
    ("prometheus_client", "metrics (prometheus_client)"),
    ("asyncio", "asyncio event loop"),
    ("logging", "logging"),
)


# Frames of tokenradar's own path, reported by total time (the frame anywhere on the stack).
KEY_FRAMES: tuple[str, ...] = (
    "StreamRuntime.on_event (stream/runtime.py)",
    "Core.handle (tokenradar/core/router.py)",
    "parse_message (tokenradar/events.py)",
    "BaseModel.model_validate (pydantic/main.py)",
    "Core.apply (tokenradar/core/router.py)",
    "PartitionProcessor.process (tokenradar/core/engine.py)",
    "PartitionProcessor._close (tokenradar/core/engine.py)",
    "UsageDetector.update (detectors/usage.py)",
    "StreamRuntime._publish (stream/runtime.py)",
    "StreamRuntime._send_window (stream/runtime.py)",
    "StreamRuntime.checkpoint (stream/runtime.py)",
    "StreamRuntime._write_team (stream/runtime.py)",
    "TeamState.closed_part (tokenradar/core/engine.py)",
    "Table.__setitem__ (faust/tables/table.py)",
    "Stream.ack (faust/streams.py)",
    "Agent._execute_actor (faust/agents/agent.py)",
    "Stream._c_aiter (faust/streams.py)",
    "Conductor._compile_message_handler.<locals>.on_message (faust/transport/conductor.py)",
    "WorkerThread.run (mode/threads.py)",
)


def area_of(file: str) -> str:
    for needle, area in AREAS:
        if needle in file:
            return area
    return "other"


def pyspy() -> str | None:
    """The py-spy executable next to this interpreter, or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    if local.exists():
        return str(local)
    return shutil.which("py-spy")


def record(pid: int, out: Path, seconds: float, rate: int = 97) -> bool:
    """Sample ``pid`` for ``seconds`` into collapsed stacks at ``out``; False if py-spy failed.

    py-spy pauses the process for each sample (its default, blocking mode): the stacks are
    consistent, and the profile run is a separate run from the timed one.
    """
    executable = pyspy()
    if executable is None:
        log.warning("py-spy is not installed; no profile")
        return False
    command = [
        executable,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--duration",
        str(int(seconds)),
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0 or not out.exists():
        log.warning("py-spy failed: %s", result.stderr.strip()[-500:])
        return False
    return True


@dataclass
class ProfileSummary:
    """Where the samples were."""

    samples: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    total_time: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)
    # (thread, busy or waiting) and, for the busy event-loop thread, whose code ran
    threads: Counter[str] = field(default_factory=Counter)
    main_busy: Counter[str] = field(default_factory=Counter)

    def to_dict(self, top: int = 60) -> dict[str, Any]:
        def share(counter: Counter[str]) -> list[dict[str, Any]]:
            return [
                {"frame": name, "samples": n, "share": round(n / max(1, self.samples), 4)}
                for name, n in counter.most_common(top)
            ]

        busy = max(1, sum(self.main_busy.values()))
        return {
            "samples": self.samples,
            "threads": {k: round(v / max(1, self.samples), 4) for k, v in self.threads.items()},
            "main_loop_busy": {k: round(v / busy, 4) for k, v in self.main_busy.most_common()},
            "key_frames_total": [
                {
                    "frame": name,
                    "samples": self.total_time.get(name, 0),
                    "share": round(self.total_time.get(name, 0) / max(1, self.samples), 4),
                }
                for name in KEY_FRAMES
            ],
            "areas_self": share(self.areas),
            "top_self": share(self.self_time),
            "top_total": share(self.total_time),
        }


def _name(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    file = match.group("file")
    # Shorten site-packages and repository paths to something readable.
    for marker in ("site-packages/", "/work/wt-bench/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match.group('func')} ({file})", file


def _classify(names: list[str]) -> tuple[str, str, str]:
    """Which thread a stack is on, whether it waits in the selector, and whose code runs."""
    leaf = names[-1]
    waiting = leaf.startswith(("EpollSelector.select", "_worker (concurrent"))
    if any(n.startswith("WorkerThread.run") for n in names):
        thread = "Faust consumer thread"
    elif any("concurrent/futures" in n for n in names):
        thread = "executor threads"
    else:
        thread = "event loop"
    # Only what runs inside the event loop's callback counts (the stack's root is mode's Worker).
    inner = names
    for marker in ("Handle._run", "BaseEventLoop._run_once"):
        cut = [i for i, n in enumerate(names) if n.startswith(marker)]
        if cut:
            inner = names[cut[-1] + 1 :]
            break
    if any(n.startswith("StreamRuntime.on_event") for n in inner):
        owner = "tokenradar (StreamRuntime.on_event and below)"
    elif any("(faust/" in n or "(mode/" in n for n in inner):
        owner = "Faust (conductor, streams, topics, tables, producer buffer)"
    elif any("(aiokafka/" in n for n in inner):
        owner = "aiokafka"
    else:
        owner = "asyncio and other"
    return thread, "waiting" if waiting else "busy", owner


def summarise(path: Path) -> ProfileSummary:
    """Self and total time per function, and self time per area, from collapsed stacks."""
    summary = ProfileSummary()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        # py-spy puts the thread first ("process 123:..." / "thread (0x...)") when asked; skip.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        summary.samples += count
        names = [_name(f) for f in frames]
        thread, state, owner = _classify([n for n, _ in names])
        summary.threads[f"{thread}, {state}"] += count
        if thread == "event loop" and state == "busy":
            summary.main_busy[owner] += count
        top_name, top_file = names[-1]
        summary.self_time[top_name] += count
        summary.areas[area_of(top_file)] += count
        for name in {n for n, _ in names}:
            summary.total_time[name] += count
    return summary


def render(summary: ProfileSummary, top: int = 20) -> str:
    """Markdown tables of one profile: areas, tokenradar's frames, top self and total frames."""
    data = summary.to_dict(max(top, 30))
    lines = ["| thread | share of samples |", "|---|---:|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in sorted(data["threads"].items())]
    lines += ["", "| busy event loop: whose code | share |", "|---|---:|"]
    lines += [f"| {k} | {v:.1%} |" for k, v in data["main_loop_busy"].items()]
    lines += ["", "| area (self time) | share |", "|---|---:|"]
    rows: list[dict[str, Any]] = data["areas_self"]
    lines += [f"| {r['frame']} | {float(r['share']):.1%} |" for r in rows]
    lines += ["", "| tokenradar's path (total time) | share |", "|---|---:|"]
    rows = data["key_frames_total"]
    lines += [f"| `{r['frame']}` | {float(r['share']):.1%} |" for r in rows]
    lines += ["", "| top frames by self time | share |", "|---|---:|"]
    rows = data["top_self"]
    lines += [f"| `{r['frame']}` | {float(r['share']):.1%} |" for r in rows[:top]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        summary = summarise(Path(argument))
        print(f"### {argument}: {summary.samples} samples\n")
        print(render(summary))
