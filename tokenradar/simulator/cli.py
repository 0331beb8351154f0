"""``tokenradar simulate``: realistic usage traffic to Kafka or to a file."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from tokenradar.simulator.generator import generate
from tokenradar.simulator.organisation import (
    CONFOUNDER_KINDS,
    INCIDENT_KINDS,
    IncidentSpec,
    SimulationConfig,
    Variation,
)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
DEFAULT_FILE_START = "2026-11-02T00:00:00Z"


def parse_duration(text: str) -> float:
    """Seconds in ``1h30m``, ``2d``, ``45s`` or a plain number of seconds.

    >>> parse_duration("1h30m"), parse_duration("90")
    (5400.0, 90.0)
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(f"{text!r} is not a duration like 90s, 20m, 1h30m, 2d")
    return float(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def parse_incident(text: str) -> IncidentSpec:
    """``KIND[@OFFSET][:DURATION][,team=T][,user=U][,x=MAGNITUDE]``.

    >>> spec = parse_incident("user_runaway@6h20m:1h,x=30")
    >>> (spec.kind, spec.at, spec.duration, spec.magnitude)
    ('user_runaway', 22800.0, 3600.0, 30.0)
    """
    head, *options = text.split(",")
    match = re.fullmatch(r"([a-z_]+)(?:@([0-9.smhdw]+))?(?::([0-9.smhdw]+))?", head)
    if match is None or match.group(1) not in INCIDENT_KINDS:
        raise click.BadParameter(
            f"{text!r}: expected KIND[@OFFSET][:DURATION], KIND one of {', '.join(INCIDENT_KINDS)}"
        )
    kind, at, duration = match.groups()
    fields: dict[str, str] = {}
    for option in options:
        key, _, value = option.partition("=")
        if key not in {"team", "user", "x"} or not value:
            raise click.BadParameter(f"{text!r}: unknown option {option!r} (team=, user=, x=)")
        fields[key] = value
    return IncidentSpec(
        kind=kind,
        at=parse_duration(at) if at else 3600.0,
        duration=parse_duration(duration) if duration else 3600.0,
        team=fields.get("team"),
        user=fields.get("user"),
        magnitude=float(fields["x"]) if "x" in fields else None,
    )


@click.command(name="simulate")
@click.option(
    "--to-file", type=click.Path(dir_okay=False, path_type=Path), help="Write JSONL here."
)
@click.option("--to-kafka", is_flag=True, help="Send to the usage topic.")
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (default: settings).")
@click.option("--topic", default=None, help="Usage topic (default: settings).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--teams", type=int, default=12, show_default=True)
@click.option("--users-scale", type=float, default=1.0, show_default=True, help="Team size factor.")
@click.option("--rate-scale", type=float, default=1.0, show_default=True, help="Requests factor.")
@click.option("--duration", default="1d", show_default=True, help="Event time to simulate.")
@click.option("--start", default=None, help="Event time of the first event (RFC 3339).")
@click.option(
    "--history",
    default="0",
    help="Kafka: this much event time is sent at once before live pacing starts.",
)
@click.option("--speedup", type=float, default=60.0, show_default=True, help="Live pace factor.")
@click.option("--rate", type=float, default=None, help="At most this many events per second.")
@click.option(
    "--incident",
    "incidents",
    multiple=True,
    help="KIND[@OFFSET][:DURATION][,team=T][,user=U][,x=MAGNITUDE]; repeatable. "
    f"Kinds: {', '.join(INCIDENT_KINDS)}.",
)
@click.option(
    "--confounder",
    "confounders",
    multiple=True,
    type=click.Choice(CONFOUNDER_KINDS),
    help="Normal events that look odd; repeatable.",
)
def simulate_command(
    to_file: Path | None,
    to_kafka: bool,
    bootstrap: str | None,
    topic: str | None,
    seed: int,
    teams: int,
    users_scale: float,
    rate_scale: float,
    duration: str,
    start: str | None,
    history: str,
    speedup: float,
    rate: float | None,
    incidents: tuple[str, ...],
    confounders: tuple[str, ...],
) -> None:
    """Simulate an organisation's AI usage, with incidents injected."""
    if bool(to_file) == bool(to_kafka):
        raise click.UsageError("choose one of --to-file PATH or --to-kafka")
    history_seconds = parse_duration(history)
    if start is not None:
        first = datetime.fromisoformat(start)
        if first.tzinfo is None:
            raise click.BadParameter("--start needs a time zone offset, e.g. Z")
    elif to_file:
        first = datetime.fromisoformat(DEFAULT_FILE_START)
    else:
        first = datetime.fromtimestamp(time.time() - history_seconds, tz=UTC)
    config = SimulationConfig(
        seed=seed,
        teams=teams,
        start=first,
        duration_seconds=parse_duration(duration),
        incidents=tuple(parse_incident(text) for text in incidents),
        confounders=confounders,
        variation=Variation(rate_scale=rate_scale),
        users_per_team_scale=users_scale,
    )
    simulation = generate(config)
    people = sum(len(t.users) for t in simulation.organisation.teams)
    click.echo(
        f"simulating {len(simulation.organisation.teams)} teams, {people} people, "
        f"from {first.isoformat()} for {duration} (seed {seed})",
        err=True,
    )
    for incident in simulation.incidents:
        who = incident.team + (f" / {incident.user}" if incident.user else "")
        click.echo(
            f"  {incident.kind:32} {who:40} {_fmt(incident.start)} -> {_fmt(incident.end)}"
            + (f"  x{incident.magnitude:g}" if incident.magnitude else ""),
            err=True,
        )
    started = time.perf_counter()
    if to_file is not None:
        from tokenradar.simulator.sinks import write_jsonl

        count = write_jsonl(simulation, to_file)
        elapsed = time.perf_counter() - started
        click.echo(f"wrote {count:,} events to {to_file} in {elapsed:.1f} s", err=True)
        return

    from tokenradar.kafka_admin import ensure_topics
    from tokenradar.settings import Settings
    from tokenradar.simulator.sinks import KafkaSink, paced

    overrides: dict[str, object] = {}
    if bootstrap:
        overrides["kafka_bootstrap"] = bootstrap
    if topic:
        overrides["usage_topic"] = topic
    settings = Settings(**overrides)  # type: ignore[arg-type]
    ensure_topics(settings)
    live_from = first.timestamp() + history_seconds
    sink = KafkaSink(settings.bootstrap_servers, settings.usage_topic)
    last_report = time.monotonic()
    try:
        for event in paced(simulation.events(), live_from, speedup, rate):
            sink.send(event)
            now = time.monotonic()
            if now - last_report >= 10:
                last_report = now
                click.echo(f"  sent {sink.sent:,} events; event time {event['ts']}", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        sink.close()
    elapsed = time.perf_counter() - started
    click.echo(
        f"sent {sink.sent:,} events to {settings.usage_topic} in {elapsed:.1f} s "
        f"({sink.sent / max(elapsed, 1e-9):,.0f}/s)",
        err=True,
    )


def _fmt(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%a %Y-%m-%d %H:%M")
