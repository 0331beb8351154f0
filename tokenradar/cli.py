"""The ``tokenradar`` command."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import time
from pathlib import Path
from typing import Any

import click

from tokenradar import __version__
from tokenradar.gc_tuning import tune_garbage_collector
from tokenradar.logs import logging_config
from tokenradar.settings import Settings

log = logging.getLogger(__name__)


@click.group()
@click.version_option(__version__, prog_name="tokenradar")
def main() -> None:
    """tokenradar: catches runaway AI token spend while it happens."""


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # a bad environment variable deserves a clear one-line error
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _setup_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))


@main.command()
def worker() -> None:
    """Run the streaming worker (consumes usage events, publishes alerts)."""
    import faust

    from stream.app import build_app
    from tokenradar.kafka_admin import ensure_topics

    settings = _settings()
    _setup_logging(settings)
    tune_garbage_collector()
    ensure_topics(settings)
    built = build_app(settings)
    log.info(
        "worker starting: broker %s, usage topic %s (%d partitions), health http://%s:%d/health",
        settings.kafka_bootstrap,
        settings.usage_topic,
        settings.usage_partitions,
        settings.web_host,
        settings.web_port,
    )
    faust.Worker(
        built.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_format),
        redirect_stdouts=False,
    ).execute_from_commandline()


@main.command()
def topics() -> None:
    """Create the service's topics (the worker and the simulator also do this)."""
    from tokenradar.kafka_admin import ensure_topics

    settings = _settings()
    _setup_logging(settings)
    ensure_topics(settings)
    click.echo(f"topics ready on {settings.kafka_bootstrap}")


@main.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--alerts-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the alerts here, one JSON object per line.",
)
@click.option(
    "--windows-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every closed window here, one JSON object per line.",
)
@click.option(
    "--dead-letter-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write rejected input here with the reason, one JSON object per line.",
)
@click.option(
    "--flush/--no-flush",
    default=False,
    help="Close the windows still open at the end of the file (the live worker would not).",
)
@click.option("--partitions", type=int, help="Partitions to split teams over (default: settings).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option(
    "--deliver",
    is_flag=True,
    help="Send the alerts through the configured notifiers (Slack, PagerDuty, or the console).",
)
def replay(
    events: Path,
    alerts_out: Path | None,
    windows_out: Path | None,
    dead_letter_out: Path | None,
    flush: bool,
    partitions: int | None,
    progress: bool,
    deliver: bool,
) -> None:
    """Run a JSONL file of usage events through the core, without a broker.

    Nothing is sent anywhere unless ``--deliver`` is given.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.table import Table

    from tokenradar.core.detection import default_detector_factory
    from tokenradar.core.router import core_config, limits_from
    from tokenradar.replay import read_messages, replay_messages, write_jsonl

    settings = _settings()
    _setup_logging(settings)
    tune_garbage_collector()
    console = Console(stderr=True)
    size = events.stat().st_size
    started = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task(f"replaying {events.name}", total=size)
        result = replay_messages(
            read_messages(events),
            core_config(settings),
            default_detector_factory(settings.detector),
            partitions or settings.usage_partitions,
            limits=limits_from(settings),
            flush=flush,
            on_message=lambda n: bar.advance(task, n + 1),
        )
    elapsed = time.perf_counter() - started
    if alerts_out is not None:
        with alerts_out.open("wb") as handle:
            write_jsonl(handle, (alert.model_dump(mode="json") for alert in result.alerts))
    if windows_out is not None:
        with windows_out.open("wb") as handle:
            write_jsonl(handle, (window.to_record() for window in result.windows))
    if dead_letter_out is not None:
        with dead_letter_out.open("wb") as handle:
            write_jsonl(
                handle,
                (
                    {"reason": r.reason, "raw": r.raw.decode("utf-8", "replace")}
                    for r in result.rejections
                ),
            )
    counters = result.counters
    summary = Table(title=f"replay of {events.name}", show_header=False)
    for label, value in [
        ("messages", f"{result.messages:,}"),
        ("events", f"{counters.events:,}"),
        ("rejected (dead letters)", f"{len(result.rejections):,}"),
        ("duplicates", f"{counters.duplicates:,}"),
        ("late", f"{counters.late:,}"),
        ("windows closed", f"{counters.windows_closed:,}"),
        ("alerts firing", f"{sum(a.status == 'firing' for a in result.alerts):,}"),
        ("alerts resolved", f"{sum(a.status == 'resolved' for a in result.alerts):,}"),
        ("elapsed", f"{elapsed:.1f} s ({counters.events / max(elapsed, 1e-9):,.0f} events/s)"),
    ]:
        summary.add_row(label, value)
    console.print(summary)
    for alert in result.alerts:
        if alert.status == "firing":
            console.print(
                f"[bold red]FIRING[/] {alert.detected_at:%Y-%m-%d %H:%M} "
                f"[{alert.severity}] {alert.dedup_key}: {alert.summary}",
                markup=True,
                highlight=False,
            )
    if deliver:
        _deliver_replayed(settings, result.alerts, console)


def _deliver_replayed(settings: Settings, alerts: list[Any], console: Any) -> None:
    import asyncio

    from alerts.dispatch import deliver_alerts
    from alerts.routing import TeamsFile

    report = asyncio.run(
        deliver_alerts(
            alerts,
            settings.alerting_config(),
            teams=TeamsFile.load(settings.teams_file),
            console=console,
        )
    )
    console.print(
        f"delivered {report.delivered}, dead-lettered {report.dead_lettered}",
        highlight=False,
    )
    if report.dead_lettered:
        raise click.ClickException(f"{report.dead_lettered} notifications could not be delivered")


@main.command()
@click.option("--from-beginning", is_flag=True, help="Show alerts already on the topic too.")
@click.option("--exit-after", type=int, help="Stop after this many alerts (for scripts).")
@click.option(
    "--timeout", type=float, help="Give up after this many seconds without enough alerts."
)
def watch(from_beginning: bool, exit_after: int | None, timeout: float | None) -> None:
    """Print alerts from the alerts topic as they are published."""
    from kafka import KafkaConsumer
    from rich.console import Console

    from alerts.model import Alert

    settings = _settings()
    _setup_logging(settings)
    console = Console(highlight=False)
    consumer = KafkaConsumer(
        settings.alerts_topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    console.print(f"watching {settings.alerts_topic} on {settings.kafka_bootstrap} (Ctrl-C stops)")
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    try:
        while deadline is None or time.monotonic() < deadline:
            for record in consumer:
                alert = Alert.from_json(record.value)
                console.print(render_alert_line(alert))
                seen += 1
                if exit_after is not None and seen >= exit_after:
                    return
                if deadline is not None and time.monotonic() >= deadline:
                    break
    except KeyboardInterrupt:
        return
    finally:
        consumer.close()
    raise click.ClickException(f"saw {seen} alerts in {timeout} s")


def render_alert_line(alert: Any) -> str:
    """One alert as a line of rich markup (user-controlled text escaped)."""
    from rich.markup import escape

    colour = "red" if alert.status == "firing" else "green"
    contributors = ", ".join(
        f"{c.dimension} {escape(c.name)} {c.share:.0%}" for c in alert.top_contributors[:3]
    )
    return (
        f"[bold {colour}]{alert.status.upper():8}[/] {alert.detected_at:%Y-%m-%d %H:%M} "
        f"{escape(f'[{alert.severity}]')} {escape(alert.dedup_key)}: {escape(alert.summary)} "
        f"(observed {alert.observed:,.0f}, expected {alert.expected:,.0f})"
        + (f" — top: {contributors}" if contributors else "")
    )


@main.command()
@click.option(
    "--url",
    help="Ask a worker's /budgets page (e.g. http://127.0.0.1:6066) instead of the budgets "
    "topic; a worker knows only the teams of its own partitions.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the snapshots as JSON.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait.")
def status(url: str | None, as_json: bool, timeout: float) -> None:
    """Where every team stands against its monthly budget."""
    from rich.console import Console

    from tokenradar.core.budgets import BudgetConfig, org_line

    settings = _settings()
    _setup_logging(settings)
    try:
        config = BudgetConfig.load(settings.teams_file)
    except Exception as exc:  # a broken teams file deserves one line, not a traceback
        raise click.ClickException(f"cannot read the teams file: {exc}") from exc
    snapshots = _budgets_from_url(url, timeout) if url else _budgets_from_topic(settings, timeout)
    org = org_line(snapshots, config)
    if as_json:
        click.echo(json.dumps({"teams": snapshots, "organisation": org}, indent=2))
        return
    Console(highlight=False).print(budget_table(snapshots, org))


def _budgets_from_url(url: str, timeout: float) -> list[dict[str, Any]]:
    import urllib.request

    address = url.rstrip("/") + "/budgets"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {address}: {exc}") from exc
    teams: list[dict[str, Any]] = document["teams"]
    return teams


def _budgets_from_topic(settings: Settings, timeout: float) -> list[dict[str, Any]]:
    """The latest snapshot of every team on the budgets topic (read from the start to its end)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            enable_auto_commit=False,
            request_timeout_ms=int(max(timeout, 5) * 1000) + 1000,
        )
    except KafkaError as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}"
        ) from exc
    latest: dict[str, dict[str, Any]] = {}
    try:
        partitions = consumer.partitions_for_topic(settings.budgets_topic) or set()
        assigned = [TopicPartition(settings.budgets_topic, p) for p in sorted(partitions)]
        if not assigned:
            return []
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(assigned)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            if time.monotonic() > deadline:
                raise click.ClickException(f"{settings.budgets_topic}: not read within {timeout} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.value is None:
                        continue  # a tombstone
                    document = json.loads(record.value)
                    latest[str(document["team"])] = document
    finally:
        consumer.close()
    return [latest[team] for team in sorted(latest)]


def budget_table(snapshots: list[dict[str, Any]], org: dict[str, Any]) -> Any:
    """The ``status`` table: one row per team and the organisation's total."""
    from rich.markup import escape
    from rich.table import Table

    def money(value: Any) -> str:
        return "—" if value is None else f"${float(value):,.0f}"

    def percent(value: Any) -> str:
        if value is None:
            return "—"
        colour = "red" if value >= 100 else "yellow" if value >= 80 else "green"
        return f"[{colour}]{float(value):.1f}%[/]"

    table = Table(title=f"budgets {org['period'] or ''}".strip())
    for column in ("team", "spent", "budget", "percent", "projected", "runs out on"):
        table.add_column(column, justify="left" if column == "team" else "right")
    for snap in snapshots:
        table.add_row(
            escape(str(snap["team"])),
            money(snap["spent_usd"]),
            money(snap["budget_usd"]) + (" (hard)" if snap.get("hard_budget") else ""),
            percent(snap["percent"]),
            money(snap["projected_usd"]),
            snap["exhausts_on"] or "—",
        )
    table.add_section()
    table.add_row(
        "[bold](organisation)[/]",
        money(org["spent_usd"]),
        money(org["budget_usd"]),
        percent(org["percent"]),
        money(org["projected_usd"]),
        "—",
    )
    return table


@main.command()
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/schemas"),
    show_default=True,
)
@click.option("--check", is_flag=True, help="Fail if the files on disk differ from the models.")
def schemas(out_dir: Path, check: bool) -> None:
    """Write the JSON Schemas of the usage event and alert contracts."""
    from alerts.model import alert_json_schema
    from tokenradar.events import usage_event_json_schema

    files: dict[str, dict[str, Any]] = {
        "usage-event.schema.json": usage_event_json_schema(),
        "alert.schema.json": alert_json_schema(),
    }
    stale = []
    for name, schema in files.items():
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        path = out_dir / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        click.echo(f"wrote {path}")
    if stale:
        click.echo(f"out of date: {', '.join(stale)} (run `tokenradar schemas`)", err=True)
        sys.exit(1)


@main.group()
def silence() -> None:
    """Silences: keep matching alerts from notifying anyone for a while."""


def _parse_matchers(values: tuple[str, ...]) -> tuple[Any, ...]:
    from alerts.silences import Matcher

    try:
        return tuple(Matcher.parse(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--match") from exc


def _author() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a minimal container
        return ""


@silence.command("add")
@click.option(
    "--match",
    "matchers",
    multiple=True,
    required=True,
    help="label=value, label!=value, label=~regex or label!~regex (repeatable; all must hold). "
    "Labels: team, kind, severity, user, metric, dedup_key.",
)
@click.option("--for", "duration", default="1h", show_default=True, help="How long: 30m, 2h, 1d.")
@click.option("--comment", default="", help="Why (shown by `silence list`).")
def silence_add(matchers: tuple[str, ...], duration: str, comment: str) -> None:
    """Add a silence; every worker honours it within a second."""
    from alerts.silences import Silence, new_record_id
    from tokenradar.kafka_admin import ensure_topics
    from tokenradar.silence_topic import publish
    from tokenradar.simulator.config import parse_duration

    settings = _settings()
    _setup_logging(settings)
    parsed = _parse_matchers(matchers)
    now = time.time()
    ends = now + parse_duration(duration).total_seconds()
    record = Silence(
        silence_id=new_record_id("silence", *map(str, parsed), now),
        matchers=parsed,
        starts_at=now,
        ends_at=ends,
        created_by=_author(),
        comment=comment,
    )
    ensure_topics(settings)
    publish(settings, record)
    click.echo(record.silence_id)


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences and mutes.")
def silence_list(show_all: bool) -> None:
    """List silences and mutes."""
    from rich.console import Console
    from rich.table import Table

    from tokenradar.silence_topic import read_all

    settings = _settings()
    _setup_logging(settings)
    store = read_all(settings)
    now = time.time()
    table = Table(title=f"silences and mutes in {settings.silences_topic}")
    for column in ("id", "what", "state", "ends", "by", "comment"):
        table.add_column(column, no_wrap=column in ("id", "state"))
    for record in store.silences():
        state = (
            "active" if record.active(now) else "expired" if record.ends_at <= now else "pending"
        )
        if state == "expired" and not show_all:
            continue
        table.add_row(
            record.silence_id,
            "silence " + ", ".join(str(m) for m in record.matchers),
            state,
            _when(record.ends_at),
            record.created_by,
            record.comment,
        )
    for mute in store.mutes():
        expired = mute.until is not None and mute.until <= now
        if expired and not show_all:
            continue
        what = f"mute team={mute.team} notifiers={','.join(mute.notifiers) or 'all'}"
        state = "expired" if expired else "active" if mute.active(now) else "pending"
        until = _when(mute.until) if mute.until is not None else "until removed"
        table.add_row(mute.mute_id, what, state, until, mute.created_by, mute.comment)
    Console(highlight=False).print(table)


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@silence.command("expire")
@click.argument("record_id")
def silence_expire(record_id: str) -> None:
    """End a silence or a mute now (it stays listed with --all until it is removed)."""
    from alerts.silences import Mute, Silence
    from tokenradar.silence_topic import publish, read_all, remove

    settings = _settings()
    _setup_logging(settings)
    store = read_all(settings)
    now = time.time()
    records: list[Silence | Mute] = [*store.silences(), *store.mutes()]
    for record in records:
        if isinstance(record, Silence):
            if record.silence_id != record_id:
                continue
            if record.starts_at < now:
                publish(settings, record.model_copy(update={"ends_at": min(now, record.ends_at)}))
            else:
                remove(settings, record_id)  # never started: nothing worth keeping
        else:
            if record.mute_id != record_id:
                continue
            until = now if record.until is None else min(now, record.until)
            publish(settings, record.model_copy(update={"until": until}))
        click.echo(f"expired {record_id}")
        return
    raise click.ClickException(f"no silence or mute with id {record_id}")


@silence.command("mute")
@click.option("--team", default="*", show_default=True, help="The team, or * for every team.")
@click.option(
    "--notifier",
    "notifiers",
    multiple=True,
    help="slack, slack_webhook, pagerduty or console (repeatable; none means all).",
)
@click.option("--for", "duration", help="How long (default: until expired with `silence expire`).")
@click.option("--comment", default="", help="Why (shown by `silence list`).")
def silence_mute(team: str, notifiers: tuple[str, ...], duration: str | None, comment: str) -> None:
    """Switch off notifiers for a team (a mute)."""
    from alerts.silences import Mute, new_record_id
    from tokenradar.kafka_admin import ensure_topics
    from tokenradar.silence_topic import publish
    from tokenradar.simulator.config import parse_duration

    settings = _settings()
    _setup_logging(settings)
    now = time.time()
    record = Mute(
        mute_id=new_record_id("mute", team, *notifiers, now),
        team=team,
        notifiers=notifiers,
        starts_at=now,
        until=None if duration is None else now + parse_duration(duration).total_seconds(),
        created_by=_author(),
        comment=comment,
    )
    ensure_topics(settings)
    publish(settings, record)
    click.echo(record.mute_id)


from tokenradar.simulator.cli import simulate_command  # noqa: E402

main.add_command(simulate_command, "simulate")

from tokenradar.evaluation.cli import evaluate_command  # noqa: E402

main.add_command(evaluate_command, "evaluate")
