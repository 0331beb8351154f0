"""``tokenradar simulate``: simulated usage traffic into a JSONL file or a Kafka topic."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console

from tokenradar.simulator.config import (
    DEFAULT_START,
    ConfounderSpec,
    IncidentSpec,
    SimulationConfig,
    Variation,
    format_duration,
    parse_confounder_spec,
    parse_duration,
    parse_incident_spec,
    parse_time,
)
from tokenradar.simulator.generator import Simulation, generate
from tokenradar.simulator.sinks import (
    DEFAULT_TOPIC,
    KafkaSink,
    Pacing,
    SendSummary,
    event_time_of,
    labels_path_for,
    paced,
    write_jsonl,
    write_labels,
)

logger = logging.getLogger(__name__)

BOOTSTRAP_ENV = "TOKENRADAR_KAFKA_BOOTSTRAP"
DEFAULT_BOOTSTRAP = "localhost:9092"


class _DurationType(click.ParamType):
    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


DURATION = _DurationType()


def _incidents(texts: tuple[str, ...]) -> tuple[IncidentSpec, ...]:
    try:
        return tuple(parse_incident_spec(text) for text in texts)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--incident") from error


def _confounders(texts: tuple[str, ...]) -> tuple[ConfounderSpec, ...]:
    try:
        return tuple(parse_confounder_spec(text) for text in texts)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--confounder") from error


def _format_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _print_plan(console: Console, simulation: Simulation, show_confounders: bool) -> None:
    organisation = simulation.organisation
    console.print(
        f"[bold]Simulating[/bold] {len(organisation.teams)} teams, "
        f"{len(organisation.users)} users, "
        f"{_format_time(simulation.start_epoch)} to {_format_time(simulation.end_epoch)} UTC "
        f"(seed {simulation.config.seed})"
    )
    labels = simulation.incidents if show_confounders else simulation.true_incidents
    if not labels:
        console.print("No incidents injected.")
        return
    title = (
        "Injected incidents and confounders"
        if show_confounders
        else "Injected incidents (what should fire)"
    )
    console.print(f"[bold]{title}[/bold]")
    rows = [("kind", "team", "user", "start (UTC)", "end (UTC)", "magnitude")]
    for label in labels:
        rows.append(
            (
                label.kind,
                label.team,
                label.user or "-",
                _format_time(label.start),
                _format_time(label.end),
                f"{label.magnitude:.3g}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        # Plain aligned text rather than a table widget: it must survive narrow terminals and
        # log files without truncating user names.
        console.print(
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    hidden = len(simulation.confounders)
    if hidden and not show_confounders:
        console.print(
            f"plus {hidden} confounder labels (nightly batch runs, holidays, ...); "
            "--show-confounders lists them"
        )


def _print_summary(console: Console, summary: SendSummary, where: str) -> None:
    state = "interrupted after" if summary.interrupted else "sent"
    console.print(
        f"{state} {summary.events:,} events to {where} in {summary.seconds:.1f}s "
        f"({summary.events_per_second:,.0f} events/s)"
    )
    if summary.failed:
        console.print(f"[red]{summary.failed:,} events were not acknowledged by the broker[/red]")


@click.command(name="simulate")
@click.option(
    "--to-file",
    "to_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write events as JSONL to this file (labels go to FILE.labels.json).",
)
@click.option("--to-kafka", is_flag=True, help="Send events to Kafka.")
@click.option(
    "--bootstrap",
    envvar=BOOTSTRAP_ENV,
    default=DEFAULT_BOOTSTRAP,
    show_default=True,
    help=f"Kafka bootstrap servers (default from ${BOOTSTRAP_ENV}).",
)
@click.option("--topic", default=DEFAULT_TOPIC, show_default=True, help="Kafka topic.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--teams", type=click.IntRange(min=1), default=12, show_default=True, help="Number of teams."
)
@click.option(
    "--team-size-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiplier on team sizes.",
)
@click.option(
    "--rate-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Multiplier on every request rate.",
)
@click.option(
    "--duration",
    type=DURATION,
    default=None,
    help="Simulated span (e.g. 2h, 3d); for Kafka the live part after the history. "
    "Default: 1d for files, 1h for Kafka.",
)
@click.option(
    "--history",
    type=DURATION,
    default="1d",
    show_default=True,
    help="Kafka: past traffic sent as fast as possible, ending now.",
)
@click.option(
    "--speedup",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Kafka: event-time seconds per wall-clock second, live.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Kafka: cap on events sent per second.",
)
@click.option(
    "--start",
    default=None,
    help="Event time of the start (ISO 8601). Default: 2026-11-02T00:00:00Z for "
    "files, now minus --history for Kafka.",
)
@click.option(
    "--incident",
    "incident_texts",
    multiple=True,
    metavar="KIND[@OFFSET][:DURATION][,team=..][,user=..][,x=MAGNITUDE]",
    help="Inject an incident (repeatable). Kinds: user_runaway, runaway_agent, "
    "team_surge, model_switch, slow_ramp, off_hours_loop.",
)
@click.option(
    "--confounder",
    "confounder_texts",
    multiple=True,
    metavar="KIND[@OFFSET][:DURATION][,team=..][,user=..]",
    help="Inject a confounder (repeatable). Kinds: holiday, onboarding, new_team, "
    "first_busy_morning, model_trial.",
)
@click.option("--no-batch-jobs", is_flag=True, help="No nightly batch jobs.")
@click.option(
    "--variation-seed",
    type=int,
    default=None,
    help="Randomise the generator's own behaviour (cycles, noise, sizes) with this seed.",
)
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kafka: also write the labels to this file.",
)
@click.option(
    "--linger-ms",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Kafka producer linger.",
)
@click.option(
    "--connect-timeout",
    type=DURATION,
    default="30s",
    show_default=True,
    help="Kafka: how long to wait for the first broker connection.",
)
@click.option(
    "--compression",
    type=click.Choice(["none", "gzip"]),
    default="none",
    show_default=True,
    help="Kafka compression.",
)
@click.option("--show-confounders", is_flag=True, help="List confounder labels too.")
def simulate_command(
    to_file: Path | None,
    to_kafka: bool,
    bootstrap: str,
    topic: str,
    seed: int,
    teams: int,
    team_size_scale: float,
    rate_scale: float,
    duration: timedelta | None,
    history: timedelta,
    speedup: float,
    rate: float | None,
    start: str | None,
    incident_texts: tuple[str, ...],
    confounder_texts: tuple[str, ...],
    no_batch_jobs: bool,
    variation_seed: int | None,
    labels_file: Path | None,
    linger_ms: int,
    connect_timeout: timedelta,
    compression: str,
    show_confounders: bool,
) -> None:
    """Generate realistic, labelled AI usage traffic with injected incidents.

    \b
    Examples:
      tokenradar simulate --to-file out/week.jsonl --teams 30 --duration 7d \\
          --incident user_runaway@2d:1d,x=20 --incident team_surge@3d9h:3h
      tokenradar simulate --to-kafka --history 1d --duration 2h --speedup 30 \\
          --incident runaway_agent@1d30m:20m
    """
    if (to_file is None) == (not to_kafka):
        raise click.UsageError("choose exactly one of --to-file PATH or --to-kafka")
    console = Console()
    if to_kafka:
        live_span = duration if duration is not None else timedelta(hours=1)
        if start is None:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            start_time = now - history
        else:
            start_time = parse_time(start)
        total = history + live_span
    else:
        total = duration if duration is not None else timedelta(days=1)
        start_time = parse_time(start) if start is not None else DEFAULT_START
    if start_time.second or start_time.microsecond:
        start_time = start_time.replace(second=0, microsecond=0)
    config = SimulationConfig(
        seed=seed,
        teams=teams,
        users_per_team_scale=team_size_scale,
        start=start_time,
        duration=total,
        rate_scale=rate_scale,
        incidents=_incidents(incident_texts),
        confounders=_confounders(confounder_texts),
        nightly_batches=not no_batch_jobs,
        variation=Variation() if variation_seed is None else Variation.randomised(variation_seed),
    )
    try:
        simulation = generate(config)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    _print_plan(console, simulation, show_confounders)

    if to_file is not None:
        to_file.parent.mkdir(parents=True, exist_ok=True)
        with console.status("writing events...") as status:
            summary = write_jsonl(
                simulation,
                to_file,
                progress=lambda count: status.update(f"writing events... {count:,}"),
            )
        console.print(f"labels: {labels_path_for(to_file)}")
        _print_summary(console, summary, str(to_file))
        return

    if labels_file is not None:
        labels_file.parent.mkdir(parents=True, exist_ok=True)
        write_labels(simulation, labels_file)
        console.print(f"labels: {labels_file}")
    live_from = config.start_epoch + history.total_seconds()
    console.print(
        f"sending {format_duration(history)} of history, then {format_duration(total - history)} "
        f"live at {speedup:g}x to {topic} on {bootstrap} (Ctrl-C stops)"
    )
    try:
        sink = KafkaSink(
            bootstrap,
            topic=topic,
            linger_ms=linger_ms,
            compression_type=None if compression == "none" else compression,
            connect_timeout_ms=int(connect_timeout.total_seconds() * 1000),
        )
    except Exception as error:  # kafka-python raises NoBrokersAvailable and friends
        raise click.ClickException(f"cannot connect to Kafka at {bootstrap}: {error}") from error
    pacing = Pacing(live_from=live_from, speedup=speedup, max_events_per_second=rate)
    summary = sink.send_all(
        paced(simulation.events(), event_time_of, pacing),
        progress=lambda count: console.print(f"  {count:,} events sent"),
    )
    _print_summary(console, summary, f"{topic} on {bootstrap}")
    if summary.failed:
        raise SystemExit(1)


__all__ = ["simulate_command"]
