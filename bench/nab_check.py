"""``UnivariateDetector`` on the series of the Numenta Anomaly Benchmark (NAB).

NAB (https://github.com/numenta/NAB) holds 58 labelled real and artificial series: AWS CloudWatch
metrics, ad-exchange rates, traffic sensors, tweet volumes, machine temperatures. It is not part
of this project; point this script at a local checkout of it:

    PYTHONPATH=. python bench/nab_check.py /path/to/NAB [--thresholds 0.5,0.7,0.9]

Every series goes through a fresh ``UnivariateDetector()`` point by point (``score_one``). For
each category and threshold the report gives the labelled anomaly windows with at least one
point scoring at or above the threshold, and the false-alarm episodes: runs of consecutive
points at or above it outside every window, per thousand points. This is a simpler score than
NAB's own (which rewards early detection inside a window); it shows whether the calibrated 0.5
keeps its promise on data the detector was not built on.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from detectors import UnivariateDetector


def _time(text: str) -> float:
    return datetime.fromisoformat(text.split(".")[0]).replace(tzinfo=UTC).timestamp()


def score_series(path: Path, windows: list[tuple[float, float]]) -> list[tuple[float, int]]:
    """(score, index of the window holding the point or -1) for every point of ``path``."""
    detector = UnivariateDetector()
    scored = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            ts = _time(row["timestamp"])
            inside = next((i for i, (a, b) in enumerate(windows) if a <= ts <= b), -1)
            scored.append((detector.score_one(ts, float(row["value"])), inside))
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nab", type=Path, help="a checkout of github.com/numenta/NAB")
    parser.add_argument("--thresholds", default="0.5,0.7,0.9")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    labels = json.loads((args.nab / "labels" / "combined_windows.json").read_text())
    # category -> threshold -> [windows hit, windows, false-alarm episodes, points]
    totals: dict[str, dict[float, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * 4))
    for name, spans in sorted(labels.items()):
        windows = [(_time(a), _time(b)) for a, b in spans]
        scored = score_series(args.nab / "data" / name, windows)
        for category in (name.split("/")[0], "all"):
            for threshold in thresholds:
                hit: set[int] = set()
                episodes = 0
                previous_false = False
                for score, inside in scored:
                    alarm = score >= threshold
                    if alarm and inside >= 0:
                        hit.add(inside)
                    elif alarm and not previous_false:
                        episodes += 1
                    previous_false = alarm and inside < 0
                row = totals[category][threshold]
                row[0] += len(hit)
                row[1] += len(windows)
                row[2] += episodes
                row[3] += len(scored)
    header = ("category", "threshold", "windows found", "false alarms", "per 1000 points")
    print(f"{header[0]:24s} {header[1]:>9s} {header[2]:>14s} {header[3]:>13s} {header[4]:>16s}")
    for category, by_threshold in sorted(totals.items(), key=lambda item: item[0] == "all"):
        for threshold, (found, count, episodes, points) in by_threshold.items():
            print(
                f"{category:24s} {threshold:9.2f} {f'{found}/{count}':>14s} {episodes:13d}"
                f" {1000 * episodes / points:16.2f}"
            )


if __name__ == "__main__":
    main()
