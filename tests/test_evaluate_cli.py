"""``tokenradar evaluate``: the scenario length is the user's to choose."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tokenradar.evaluation.cli import evaluate_command


def _team_weeks(table: str) -> float:
    line = next(line for line in table.splitlines() if "team-weeks after warm-up" in line)
    return float(line.split()[-1])


def test_days_sets_the_length_of_each_scenario(tmp_path: Path) -> None:
    runs = {}
    for days in ("4", "6"):
        out = tmp_path / days
        arguments = ["--quick", "--seeds", "101", "--days", days, "--plots", "0", "--jobs", "1"]
        result = CliRunner().invoke(evaluate_command, [*arguments, "--out", str(out)])
        assert result.exit_code == 0, result.output
        runs[days] = (out / "scorecard.txt").read_text()
    # Two more days of eight teams after the same warm-up: about 16 team-days more.
    assert _team_weeks(runs["6"]) - _team_weeks(runs["4"]) > 1.5


def test_days_below_a_scenario_with_room_for_incidents_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        evaluate_command, ["--quick", "--days", "2", "--plots", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "--days" in result.output
