"""``tokenradar evaluate``: the labelled benchmark, ours beside the naive baseline, from one run."""

from __future__ import annotations

import dataclasses
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import cast

import click

from tokenradar.evaluation.benchmark import (
    DEFAULT_SIZE,
    DEVELOPMENT_SEEDS,
    HELD_OUT_SEEDS,
    QUICK_SEEDS,
    QUICK_SIZE,
    ScenarioResult,
    ScenarioSize,
    Source,
    default_factories,
    format_table,
    pooled,
    run_scenario,
)

log = logging.getLogger(__name__)


def _run(seed: int, size: ScenarioSize, source: Source) -> ScenarioResult:
    return run_scenario(seed, default_factories(), size=size, source=source)


@click.command("evaluate")
@click.option("--quick", is_flag=True, help="Two held-out seeds, smaller organisations, a week.")
@click.option(
    "--seeds",
    help="Comma-separated seeds (default: the held-out seeds "
    + ",".join(map(str, HELD_OUT_SEEDS))
    + "; development seeds are "
    + ",".join(map(str, DEVELOPMENT_SEEDS))
    + ").",
)
@click.option(
    "--source",
    type=click.Choice(["simple", "core", "core-spread"]),
    default="simple",
    show_default=True,
    help="Windows from the built-in aggregator, or events through the core's replay driver"
    " (core-spread: with each team's windows shifted, TOKENRADAR_WINDOW_PHASE=spread).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("evaluation-output"),
    show_default=True,
    help="Where the table and the incident pictures go.",
)
@click.option("--plots", type=int, default=6, show_default=True, help="Incidents to draw.")
@click.option("--jobs", type=int, default=2, show_default=True, help="Seeds run in parallel.")
@click.option(
    "--days",
    type=click.FloatRange(min=4.0),
    help=f"Length of each scenario in days (default {DEFAULT_SIZE.days:g}; {QUICK_SIZE.days:g}"
    " with --quick). Longer runs show what weeks of history do: users who send a few requests"
    " a day only have tails of their own after about two weeks.",
)
def evaluate_command(
    quick: bool,
    seeds: str | None,
    source: str,
    out_dir: Path,
    plots: int,
    jobs: int,
    days: float | None,
) -> None:
    """Run the labelled benchmark: recall per incident kind, detection delay, false alarms per
    team-week and user naming, for the detectors and the EW z-score baseline on the same events.
    """
    from tokenradar.evaluation.plots import plot_incidents

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    chosen = (
        [int(seed) for seed in seeds.split(",") if seed.strip()]
        if seeds
        else list(QUICK_SEEDS if quick else HELD_OUT_SEEDS)
    )
    size = QUICK_SIZE if quick else DEFAULT_SIZE
    if days is not None:
        size = dataclasses.replace(size, days=days)
    began = time.monotonic()
    typed_source = cast(Source, source)  # one of the choices above
    if jobs > 1 and len(chosen) > 1:
        with ProcessPoolExecutor(min(jobs, len(chosen))) as pool:
            results = list(
                pool.map(_run, chosen, [size] * len(chosen), [typed_source] * len(chosen))
            )
    else:
        results = [_run(seed, size, typed_source) for seed in chosen]
    table = format_table(pooled(results), chosen)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scorecard.txt").write_text(table + "\n")
    click.echo(table)
    pictures = plot_incidents(results, out_dir, limit=plots)
    click.echo(
        f"\n{len(pictures)} incident pictures and scorecard.txt in {out_dir}"
        f" ({time.monotonic() - began:.0f}s)"
    )
