"""One command: throughput vs. a bare consumer, alert latency, memory, and a profile.

    python -m bench.run --quick          # a couple of minutes
    python -m bench.run                  # the full run (2 M events, 5,000 teams, 100,000 users)

Results go to ``bench/results/<name>.json`` and ``<name>.md`` (``--name``, default ``quick`` or
``full``), with the py-spy collapsed stacks next to them. ``docs/benchmark.md`` explains every
number.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import core_only, generate, kafka_io, latency, profile
from bench.worker import Worker, rss_bytes, totals

log = logging.getLogger("bench")

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark run."""

    events: int
    teams: int
    users: int
    span_seconds: float
    memory_events: int
    latency_seconds: float
    profile_seconds: float


QUICK = Plan(
    events=300_000,
    teams=5_000,
    users=100_000,
    span_seconds=900,
    memory_events=150_000,
    latency_seconds=210,
    profile_seconds=15,
)
FULL = Plan(
    events=2_000_000,
    teams=5_000,
    users=100_000,
    span_seconds=900,
    memory_events=400_000,
    latency_seconds=240,
    profile_seconds=30,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Bench:
    """Runs the phases and collects their results."""

    def __init__(self, args: argparse.Namespace, plan: Plan) -> None:
        self.args = args
        self.plan = plan
        self.bootstrap: str = args.bootstrap
        self.partitions: int = args.partitions
        self.prefix = f"bench-{args.name}-{uuid.uuid4().hex[:6]}"
        self.workdir = Path(tempfile.mkdtemp(prefix="tokenradar-bench-"))
        self.results: dict[str, Any] = {
            "name": args.name,
            "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "memory_gib": round(
                    os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
                ),
                "load_at_start": load(),
            },
            "plan": vars(plan) | {"partitions": self.partitions},
        }
        self.log_dir = RESULTS / f"{args.name}-logs"

    def worker(self, tag: str, topic: str, module: str = "tokenradar") -> Worker:
        return Worker(
            bootstrap=self.bootstrap,
            prefix=f"{self.prefix}-{tag}",
            usage_topic=topic,
            partitions=self.partitions,
            data_dir=self.workdir / tag,
            web_port=free_port(),
            log_path=self.workdir / f"{tag}.log",
            module=module,
        )

    # -- phases -------------------------------------------------------------------------------

    def preload(
        self, tag: str, teams: int, users: int, events: int, forms: tuple[str, ...]
    ) -> dict[str, tuple[str, generate.Workload]]:
        started = time.perf_counter()
        org = generate.organisation(teams, users, self.partitions, seed=self.args.seed)
        columns = generate.events(org, events, self.plan.span_seconds)
        workloads: dict[str, tuple[str, generate.Workload]] = {}
        for form in forms:
            if form == "object":
                workload = generate.object_form(org, columns, self.partitions)
            else:
                workload = generate.batched_form(
                    org, columns, self.partitions, self.args.batch_size, self.args.flush_seconds
                )
            topic = f"{self.prefix}-{tag}-{form}"
            kafka_io.create_topic(self.bootstrap, topic, self.partitions)
            rate = kafka_io.produce(self.bootstrap, topic, workload.messages)
            log.info(
                "%s: %d events in %d messages on %s (%.0f messages/s produced)",
                form,
                workload.events,
                workload.message_count,
                topic,
                rate,
            )
            if form == "object" and tag == "tp" and not self.args.skip_core:
                self.results["core_only"] = core_only.measure(workload.messages)
                self.save()
            workload.messages = []  # the broker has them now
            workloads[form] = (topic, workload)
        del columns
        gc.collect()
        log.info("preload %s took %.1f s", tag, time.perf_counter() - started)
        return workloads

    def run_worker(self, tag: str, topic: str, workload: generate.Workload) -> dict[str, Any]:
        """Start a fresh worker on a preloaded topic and time it until every window closed."""
        worker = self.worker(tag, topic)
        load_before = load()
        worker.start()
        try:
            worker.wait_healthy()
            rss_start, _ = rss_bytes(worker.pid)
            first: float | None = None
            cpu_first = 0.0
            rss_peak_seen = rss_start
            deadline = time.monotonic() + self.args.timeout
            events = windows = 0
            while True:
                if not worker.alive():
                    raise RuntimeError(f"worker died:\n{worker.log_tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{tag}: {events}/{workload.events} events, "
                        f"{windows}/{workload.windows} windows after {self.args.timeout} s"
                    )
                polled = time.perf_counter()
                health = worker.health()
                if health is None:
                    time.sleep(0.05)
                    continue
                events, windows, _ = totals(health)
                if first is None and events > 0:
                    first = polled
                    cpu_first = cpu_seconds(worker.pid)
                if events >= workload.events and windows >= workload.windows:
                    end = time.perf_counter()
                    break
                rss_peak_seen = max(rss_peak_seen, rss_bytes(worker.pid)[0])
                time.sleep(0.1)
            assert first is not None
            cpu = cpu_seconds(worker.pid) - cpu_first
            # Let the last checkpoint land, then read the resident memory.
            time.sleep(2.0)
            rss_end, rss_hwm = rss_bytes(worker.pid)
        finally:
            worker.stop()
            shutil.copy(worker.log_path, self.log_dir / f"{tag}.log")
            shutil.rmtree(worker.data_dir, ignore_errors=True)
        seconds = end - first
        result = {
            "topic": topic,
            "form": workload.form,
            "events": events,
            "messages": workload.message_count,
            "windows_closed": windows,
            "seconds": round(seconds, 2),
            "events_per_second": round(events / seconds),
            "messages_per_second": round(workload.message_count / seconds),
            "worker_cpu_seconds": round(cpu, 1),
            "worker_cpu_utilisation": round(cpu / seconds, 2),
            "rss_start_mib": round(rss_start / MIB, 1),
            "rss_end_mib": round(rss_end / MIB, 1),
            "rss_peak_mib": round(max(rss_hwm, rss_peak_seen) / MIB, 1),
            "series_users": workload.series_users,
            "series_teams": workload.series_teams,
            "load_before": load_before,
            "load_after": load(),
        }
        log.info("%s: %s", tag, result)
        return result

    def run_baseline(self, topic: str, workload: generate.Workload) -> dict[str, Any]:
        result = kafka_io.baseline(self.bootstrap, topic, self.partitions, workload.events)
        summary = {
            "events": result.events,
            "messages": result.messages,
            "seconds": round(result.seconds, 2),
            "events_per_second": round(result.events_per_second),
            "load_after": load(),
        }
        log.info("baseline %s: %s", topic, summary)
        return summary

    def throughput(self) -> None:
        forms = ("object", "batched") if not self.args.skip_batched else ("object",)
        plan = self.plan
        workloads = self.preload("tp", plan.teams, plan.users, plan.events, forms)
        section: dict[str, Any] = {}
        for form, (topic, workload) in workloads.items():
            before = self.run_baseline(topic, workload)
            worker = self.run_worker(f"tp-{form}", topic, workload)
            after = self.run_baseline(topic, workload)
            ceiling = statistics.mean([before["events_per_second"], after["events_per_second"]])
            section[form] = {
                "events": workload.events,
                "messages": workload.message_count,
                "events_per_message": round(workload.events / workload.message_count, 2),
                "payload_mib": round(workload.payload_bytes / MIB, 1),
                "windows": workload.windows,
                "baseline_before": before,
                "baseline_after": after,
                "baseline_events_per_second": round(ceiling),
                "worker": worker,
                "ratio_to_baseline": round(worker["events_per_second"] / ceiling, 3),
            }
            self.save()
        self.results["throughput"] = section
        self.save()
        if not self.args.skip_profile:
            self.profile(workloads)

    def core(self) -> None:
        """Only the in-process timing of the core, on the throughput plan's object messages."""
        plan = self.plan
        org = generate.organisation(plan.teams, plan.users, self.partitions, seed=self.args.seed)
        columns = generate.events(org, plan.events, plan.span_seconds)
        workload = generate.object_form(org, columns, self.partitions)
        self.results["core_only"] = core_only.measure(workload.messages)
        self.save()

    def profile(self, workloads: dict[str, tuple[str, generate.Workload]]) -> None:
        section: dict[str, Any] = {}
        for form, (topic, _) in workloads.items():
            worker = self.worker(f"prof-{form}", topic)
            worker.start()
            try:
                worker.wait_healthy()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    health = worker.health()
                    if health and totals(health)[0] > 0:
                        break
                    time.sleep(0.1)
                out = RESULTS / f"{self.args.name}-profile-{form}.txt"
                if profile.record(worker.pid, out, self.plan.profile_seconds):
                    summary = profile.summarise(out)
                    section[form] = {"collapsed_stacks": out.name} | summary.to_dict()
                health = worker.health() or {}
                section.setdefault(form, {})["events_during_profile"] = totals(health)[0]
            finally:
                worker.stop()
                shutil.rmtree(worker.data_dir, ignore_errors=True)
        self.results["profile"] = section
        self.save()

    def memory(self) -> None:
        section: list[dict[str, Any]] = []
        for users, teams in ((10_000, 500), (100_000, 5_000)):
            tag = f"mem-{users // 1000}k"
            workloads = self.preload(tag, teams, users, self.plan.memory_events, ("object",))
            topic, workload = workloads["object"]
            result = self.run_worker(tag, topic, workload)
            series = workload.series_users + workload.series_teams
            section.append(
                {
                    "users": workload.series_users,
                    "teams": workload.series_teams,
                    "events": workload.events,
                    "rss_start_mib": result["rss_start_mib"],
                    "rss_end_mib": result["rss_end_mib"],
                    "rss_peak_mib": result["rss_peak_mib"],
                    "kib_per_series_over_start": round(
                        (result["rss_end_mib"] - result["rss_start_mib"]) * 1024 / series, 2
                    ),
                }
            )
            kafka_io.delete_topics(self.bootstrap, topic)
        self.results["memory"] = section
        self.save()

    def latency(self) -> None:
        org = generate.organisation(
            self.plan.teams, self.plan.users, self.partitions, seed=self.args.seed
        )
        section: list[dict[str, Any]] = []
        self.results["latency"] = section
        for form in self.args.latency_forms:
            for rate in self.args.rates:
                section.append(self.latency_at(org, rate, form))
                self.save()

    def latency_at(self, org: generate.Organisation, rate: float, form: str) -> dict[str, Any]:
        count = self.args.latency_workers
        tag = f"live-{form}-{rate:.0f}" + (f"-x{count}" if count > 1 else "")
        if self.args.window_phase != "aligned":
            tag += f"-{self.args.window_phase}"
        topic = f"{self.prefix}-{tag}"
        kafka_io.create_topic(self.bootstrap, topic, self.partitions)
        first = dataclasses.replace(
            self.worker(tag, topic, module="bench.trigger_worker"),
            extra_env={"TOKENRADAR_WINDOW_PHASE": self.args.window_phase},
        )
        # Further workers join the same consumer group (same app id and topics), each with its
        # own state directory, web port and log; the group splits the partitions among them.
        workers = [first] + [
            dataclasses.replace(
                first,
                data_dir=first.data_dir.with_name(f"{first.data_dir.name}-{i}"),
                web_port=free_port(),
                log_path=first.log_path.with_name(f"{tag}-{i}.log"),
            )
            for i in range(1, count)
        ]
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.wait_healthy()
            cpu_start = [cpu_seconds(worker.pid) for worker in workers]
            load_before = load()
            run = latency.measure(
                org,
                self.bootstrap,
                topic,
                first.alerts_topic,
                rate=rate,
                seconds=self.plan.latency_seconds,
                form=form,
                window_phase=self.args.window_phase,
                triggers_per_window=self.args.triggers_per_window,
            )
            cpu = sum(
                cpu_seconds(worker.pid) - start
                for worker, start in zip(workers, cpu_start, strict=True)
            )
            rss = sum(rss_bytes(worker.pid)[0] for worker in workers)
            processed = sum(totals(worker.health() or {})[0] for worker in workers)
        finally:
            for worker in workers:
                worker.stop()
                shutil.copy(worker.log_path, self.log_dir / worker.log_path.name)
                shutil.rmtree(worker.data_dir, ignore_errors=True)
        partition_of = dict(zip(org.team_names, org.team_partition, strict=True))
        arrival, created, missing = run.latencies(partition_of)
        closing_events = {(partition_of[team], end) for team, _, end in run.triggers}

        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        result = {
            "form": form,
            "workers": count,
            "window_phase": self.args.window_phase,
            "messages_sent": run.messages,
            "rate_target": rate,
            "rate_achieved": round(run.sent / run.seconds),
            "seconds": run.seconds,
            "producer_max_lag_seconds": round(run.max_send_lag, 2),
            "events_sent": run.sent,
            "events_processed_by_end": processed,
            "triggers": len(run.triggers),
            "alerts_matched": len(arrival),
            "alerts_missing": missing,
            "distinct_closing_events": len(closing_events),
            "arrival_p50_s": pct(arrival, 0.5),
            "arrival_p99_s": pct(arrival, 0.99),
            "arrival_max_s": pct(arrival, 1.0),
            "alert_created_p50_s": pct(created, 0.5),
            "alert_created_p99_s": pct(created, 0.99),
            "worker_cpu_utilisation": round(cpu / run.seconds, 2),
            "worker_rss_mib": round(rss / MIB, 1),
            "load_before": load_before,
            "load_after": load(),
        }
        log.info("latency: %s", result)
        return result

    # -- output -------------------------------------------------------------------------------

    def save(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.results["machine"]["load_at_end"] = load()
        path = RESULTS / f"{self.args.name}.json"
        path.write_text(json.dumps(self.results, indent=2) + "\n")
        (RESULTS / f"{self.args.name}.md").write_text(render(self.results))

    def cleanup(self) -> None:
        if not self.args.keep_topics:
            deleted = kafka_io.delete_topics(self.bootstrap, self.prefix)
            log.info("deleted %d topics", len(deleted))
        shutil.rmtree(self.workdir, ignore_errors=True)


def render(results: dict[str, Any]) -> str:
    """The results as a markdown report."""
    lines = [
        f"# tokenradar benchmark: {results['name']}",
        "",
        f"`{results['command']}` — started {results['started_at']}",
        "",
        f"Machine: {results['machine']['cpus']} CPUs, {results['machine']['memory_gib']} GiB, "
        f"Python {results['machine']['python']}; load average (1/5/15 min) at start "
        f"{results['machine']['load_at_start']}, at end {results['machine'].get('load_at_end')}.",
        "",
    ]
    plan = results["plan"]
    lines += [
        f"Plan: {plan['events']:,} events, {plan['teams']:,} teams, {plan['users']:,} users, "
        f"{plan['partitions']} partitions, {plan['span_seconds']:.0f} s of event time.",
        "",
    ]
    throughput = results.get("throughput")
    if throughput:
        lines += [
            "## Throughput (end to end, one worker process)",
            "",
            "| form | events | events/msg | bare consumer ev/s (before / after) | "
            "tokenradar ev/s | ratio | worker CPU | seconds |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for form, row in throughput.items():
            worker = row["worker"]
            lines.append(
                f"| {form} | {row['events']:,} | {row['events_per_message']} | "
                f"{row['baseline_events_per_second']:,} "
                f"({row['baseline_before']['events_per_second']:,} / "
                f"{row['baseline_after']['events_per_second']:,}) | "
                f"{worker['events_per_second']:,} | {row['ratio_to_baseline']:.1%} | "
                f"{worker['worker_cpu_utilisation']:.0%} | {worker['seconds']} |"
            )
        lines.append("")
    core = results.get("core_only")
    if core:
        lines += [
            "## The same object-form messages in-process (no Kafka, no Faust)",
            "",
            "| step | events/s |",
            "|---|---:|",
            f"| parse + validate only | {core['parse_events_per_second']:,.0f} |",
            f"| + core (windows, detector, lifecycle) | {core['core_events_per_second']:,.0f} |",
            f"| + checkpoint serialisation every second | "
            f"{core['core_with_checkpoint_events_per_second']:,.0f} "
            f"({core['checkpoint_mib_per_second']:.1f} MiB/s of team state) |",
            "",
        ]
    memory = results.get("memory")
    if memory:
        lines += [
            "## Resident memory against tracked series",
            "",
            "| users | teams | events | RSS at start MiB | RSS after preload MiB | peak MiB | "
            "KiB per series |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in memory:
            lines.append(
                f"| {row['users']:,} | {row['teams']:,} | {row['events']:,} | "
                f"{row['rss_start_mib']} | {row['rss_end_mib']} | {row['rss_peak_mib']} | "
                f"{row['kib_per_series_over_start']} |"
            )
        if throughput:
            worker = throughput["object"]["worker"]
            lines.append(
                f"| {worker['series_users']:,} | {worker['series_teams']:,} | "
                f"{worker['events']:,} (throughput run) | {worker['rss_start_mib']} | "
                f"{worker['rss_end_mib']} | {worker['rss_peak_mib']} | |"
            )
        lines.append("")
    latencies = results.get("latency")
    if latencies:
        lines += [
            "## Latency: closing event produced → alert on the alerts topic",
            "",
            "| form | load ev/s (target) | events per message | seconds | triggers | "
            "alerts matched | missing | processed / sent by the end | worker CPU | p50 s | "
            "p99 s | max s | p50 / p99 s at the alert's CreateTime |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for lat in latencies:
            form = lat.get("form", "object")
            if lat.get("workers", 1) > 1:
                form += f", {lat['workers']} workers"
            if lat.get("window_phase", "aligned") != "aligned":
                form += f", {lat['window_phase']} windows"
            per_message = lat["events_sent"] / max(1, lat.get("messages_sent", lat["events_sent"]))
            lines.append(
                f"| {form} | {lat['rate_achieved']:,} ({lat['rate_target']:,.0f}) | "
                f"{per_message:.1f} | {lat['seconds']:.0f} | "
                f"{lat['triggers']} | {lat['alerts_matched']} | {lat['alerts_missing']} | "
                f"{lat['events_processed_by_end']:,} / {lat['events_sent']:,} | "
                f"{lat['worker_cpu_utilisation']:.0%} | {lat['arrival_p50_s']} | "
                f"{lat['arrival_p99_s']} | {lat['arrival_max_s']} | "
                f"{lat['alert_created_p50_s']} / {lat['alert_created_p99_s']} |"
            )
        lines.append("")
    prof = results.get("profile")
    if prof:
        lines += ["## Profile (py-spy, self time)", ""]
        for form, data in prof.items():
            if "samples" not in data:
                continue
            lines += [
                f"### {form} form — {data['samples']:,} samples "
                f"(`{data['collapsed_stacks']}`, collapsed stacks: open in speedscope)",
                "",
                "| thread | share of samples |",
                "|---|---:|",
            ]
            for name, share in sorted(data.get("threads", {}).items()):
                lines.append(f"| {name} | {share:.1%} |")
            lines += ["", "| busy event loop: whose code | share |", "|---|---:|"]
            for name, share in data.get("main_loop_busy", {}).items():
                lines.append(f"| {name} | {share:.1%} |")
            lines += ["", "| area (self time) | share of samples |", "|---|---:|"]
            for row in data["areas_self"]:
                lines.append(f"| {row['frame']} | {row['share']:.1%} |")
            lines += ["", "| tokenradar's path (total time) | share |", "|---|---:|"]
            for row in data.get("key_frames_total", []):
                lines.append(f"| `{row['frame']}` | {row['share']:.1%} |")
            lines += ["", "| top frames by self time | share |", "|---|---:|"]
            for row in data["top_self"][:20]:
                lines.append(f"| `{row['frame']}` | {row['share']:.1%} |")
            lines += ["", "| top frames by total time | share |", "|---|---:|"]
            for row in data["top_total"][:25]:
                lines.append(f"| `{row['frame']}` | {row['share']:.1%} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller topic; minutes, not tens")
    parser.add_argument("--name", help="results name (default: quick or full)")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("TOKENRADAR_KAFKA_BOOTSTRAP", "localhost:9092")
    )
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--events", type=int, help="events in the throughput topic")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--flush-seconds", type=float, default=20.0)
    parser.add_argument(
        "--rates",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[5000.0, 1000.0],
        help="steady loads of the latency runs, events/s (comma-separated)",
    )
    parser.add_argument(
        "--latency-forms",
        type=lambda text: text.split(","),
        default=["object", "batched"],
        help="message forms of the latency runs: object (one event per message) and/or batched "
        "(one array per partition every 10 ms, as a gateway ships telemetry)",
    )
    parser.add_argument(
        "--latency-workers",
        type=int,
        default=1,
        help="workers in the latency runs' consumer group (one per core splits the partitions)",
    )
    parser.add_argument(
        "--window-phase",
        choices=["aligned", "spread"],
        default="aligned",
        help="the latency workers' TOKENRADAR_WINDOW_PHASE: every team's windows closing at once,"
        " or each team's shifted so the closes spread over the window",
    )
    parser.add_argument(
        "--triggers-per-window",
        type=int,
        default=20,
        help="alerts the latency runs cause per window (more give a steadier p99)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per worker run, seconds")
    parser.add_argument("--skip-batched", action="store_true")
    parser.add_argument("--skip-core", action="store_true", help="no in-process core timing")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args(argv)
    args.name = args.name or ("quick" if args.quick else "full")
    plan = QUICK if args.quick else FULL
    if args.events:
        plan = Plan(**(vars(plan) | {"events": args.events}))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    bench = Bench(args, plan)
    bench.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_throughput:
            bench.throughput()
        elif not args.skip_core:
            bench.core()
        if not args.skip_memory:
            bench.memory()
        if not args.skip_latency:
            bench.latency()
    finally:
        bench.save()
        bench.cleanup()
    print((RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
