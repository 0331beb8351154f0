"""A/B of the in-process core between checkouts: ``bench.core_only`` run alternately on each.

Usage::

    python -m bench.ab_core --checkout main=/tmp/ab/base --checkout speed=. [--rounds 2]
        [--checkout speed+gc=.:worker-gc] [--teams 1000] [--users 20000] [--events 60000]
        [--span 600] [--clock cpu]

Every run is a fresh interpreter with ``PYTHONPATH`` set to its checkout, so each side imports
its own ``tokenradar`` and ``bench`` code; the generator is seeded, so every run sees the same
messages. The checkouts take turns (A, B, A, B, ...): on a shared machine only runs side by side
compare. By default every step is timed in the measuring process's CPU time
(``time.process_time``, also for the one-second checkpoint cadence of ``core_only``), which
other processes move far less than the wall clock (``--clock wall`` for that). Besides the
three steps of ``bench.core_only.measure`` (parse, core, core with checkpoints, all on the
object form) it times ``parse_message`` over the batched form of the same events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Runs inside the checkout under test: only modules every checkout has (bench.generate,
# bench.core_only, tokenradar.events).
_RUN = """
import json, sys, time
from bench import core_only, generate
from tokenradar.events import parse_message

teams, users, events, span, seed = (float(x) for x in sys.argv[1:6])
if sys.argv[6] == "cpu":
    # Every timing below, and the checkpoint cadence of core_only, in this process's CPU time.
    time.perf_counter = time.process_time
if sys.argv[7] == "worker-gc":
    # What the worker and replay commands set before they start.
    from tokenradar.gc_tuning import tune_garbage_collector
    tune_garbage_collector()
partitions = 6
org = generate.organisation(int(teams), int(users), partitions, seed=int(seed))
columns = generate.events(org, int(events), span)
results = {}
batched = generate.batched_form(org, columns, partitions)
messages = [raw for records in batched.messages for _, raw in records]
started = time.perf_counter()
count = 0
for raw in messages:
    count += len(parse_message(raw)[0])
results["parse_batched_events_per_second"] = round(count / (time.perf_counter() - started), 1)
workload = generate.object_form(org, columns, partitions)
results.update(core_only.measure(workload.messages))
print(json.dumps(results))
"""

STEPS = (
    "parse_events_per_second",
    "parse_batched_events_per_second",
    "core_events_per_second",
    "core_with_checkpoint_events_per_second",
)


def run_once(checkout: Path, gc_mode: str, args: argparse.Namespace) -> dict[str, float]:
    """One measurement in a fresh interpreter importing ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    settings = (args.teams, args.users, args.events, args.span, args.seed, args.clock, gc_mode)
    argv = [str(v) for v in settings]
    completed = subprocess.run(
        [sys.executable, "-c", _RUN, *argv],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--checkout",
        action="append",
        required=True,
        help="NAME=PATH[:worker-gc]; repeat it, the first is the reference, runs take turns in "
        "this order; ':worker-gc' sets the worker's garbage-collector thresholds first",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--span", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="time the steps (and space core_only's checkpoints) by the process's CPU time, "
        "which other work on the machine barely moves, or by the wall clock",
    )
    args = parser.parse_args()
    checkouts: list[tuple[str, Path, str]] = []
    for spec in args.checkout:
        name, location = spec.split("=", 1)
        path, _, gc_mode = location.partition(":")
        checkouts.append((name, Path(path).resolve(), gc_mode or "default-gc"))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in checkouts}
    for round_index in range(args.rounds):
        for name, path, gc_mode in checkouts:
            result = run_once(path, gc_mode, args)
            runs[name].append(result)
            print(f"round {round_index + 1} {name}: {json.dumps(result)}", flush=True)
    print()
    first = checkouts[0][0]
    columns = [name for name, _, _ in checkouts]
    columns += [f"{name} / {first}" for name, _, _ in checkouts[1:]]
    print("| step | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * (2 * len(checkouts) - 1))
    for step in STEPS:
        cells = [" / ".join(f"{r[step]:,.0f}" for r in runs[name]) for name, _, _ in checkouts]
        ratios = [
            " / ".join(
                f"{b[step] / a[step]:.2f}" for a, b in zip(runs[first], runs[name], strict=True)
            )
            for name, _, _ in checkouts[1:]
        ]
        print(f"| {step} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
