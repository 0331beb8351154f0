"""The ``simulate`` command and the spec parsers behind its options."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tokenradar.simulator import parse_confounder_spec, parse_duration, parse_incident_spec
from tokenradar.simulator.cli import simulate_command
from tokenradar.simulator.sinks import read_jsonl


def test_simulate_to_file_prints_incidents_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.jsonl"
    result = CliRunner().invoke(
        simulate_command,
        [
            "--to-file", str(path), "--seed", "4", "--teams", "4", "--duration", "6h",
            "--incident", "team_surge@3h:1h,x=5",
            "--incident", "runaway_agent@4h:10m,x=15",
            "--confounder", "model_trial@2h",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "team_surge" in result.output and "runaway_agent" in result.output
    assert "2026-11-02 03:00" in result.output
    assert "events/s" in result.output
    events = list(read_jsonl(path))
    assert events and events[0]["ts"].startswith("2026-11-02T00:")
    labels = orjson.loads(Path(str(path) + ".labels.json").read_bytes())
    kinds = {label["kind"] for label in labels["incidents"]}
    assert {"team_surge", "runaway_agent", "confounder:model_trial"} <= kinds


def test_simulate_needs_exactly_one_destination(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(simulate_command, []).exit_code != 0
    both = runner.invoke(simulate_command, ["--to-file", str(tmp_path / "x"), "--to-kafka"])
    assert both.exit_code != 0


def test_simulate_rejects_bad_incident(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate_command,
        ["--to-file", str(tmp_path / "x.jsonl"), "--incident", "meteor_strike@1h"],
    )
    assert result.exit_code != 0
    assert "unknown incident kind" in result.output


def test_simulate_to_kafka_reports_an_unreachable_broker() -> None:
    result = CliRunner().invoke(
        simulate_command,
        [
            "--to-kafka",
            "--bootstrap",
            "127.0.0.1:1",
            "--history",
            "10m",
            "--duration",
            "1m",
            "--connect-timeout",
            "1s",
        ],
        env={"TOKENRADAR_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.exit_code != 0
    assert "cannot connect to Kafka" in result.output


def test_parse_incident_spec_variants() -> None:
    bare = parse_incident_spec("user_runaway")
    assert (bare.kind, bare.at, bare.duration, bare.magnitude) == ("user_runaway", None, None, None)
    full = parse_incident_spec("model_switch@1d2h:30m,team=search,user=ana.kim,x=12")
    assert full.at == timedelta(days=1, hours=2)
    assert full.duration == timedelta(minutes=30)
    assert (full.team, full.user, full.magnitude) == ("search", "ana.kim", 12.0)
    assert parse_incident_spec("team_surge:2h").duration == timedelta(hours=2)


@pytest.mark.parametrize(
    "text", ["nope", "team_surge@soon", "team_surge,colour=red", "team_surge,x=-2", "team_surge,x"]
)
def test_parse_incident_spec_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_incident_spec(text)


def test_parse_confounder_spec() -> None:
    spec = parse_confounder_spec("holiday@3d,team=payments")
    assert (spec.kind, spec.at, spec.team) == ("holiday", timedelta(days=3), "payments")
    with pytest.raises(ValueError):
        parse_confounder_spec("holiday,x=3")


def test_parse_duration() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1w") == timedelta(days=7)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    for bad in ("", "h", "3 days", "2x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
