"""Pictures of incidents: a team's token rate, the expected band, the incident and the alerts."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

from tokenradar.evaluation.benchmark import ScenarioResult

log = logging.getLogger(__name__)

HOUR = 3600.0


def plot_incidents(
    results: Sequence[ScenarioResult],
    out_dir: Path,
    *,
    limit: int = 6,
    detector: str = "tokenradar",
    baseline: str = "baseline",
) -> list[Path]:
    """Draw up to ``limit`` incidents of traced teams to PNG files in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for result in results:
        for incident in result.incidents:
            if len(written) >= limit:
                return written
            trace = result.traces.get(incident.team)
            if trace is None or not trace.ends:
                continue
            begin = incident.start - 6 * HOUR
            finish = min(incident.end, incident.start + 18 * HOUR) + 2 * HOUR
            rows = [
                (end, band)
                for end, band in zip(trace.ends, trace.band, strict=True)
                if begin <= end <= finish
            ]
            if not rows:
                continue
            times = [_hours(incident.start, end) for end, _ in rows]
            observed = [band[0] for _, band in rows]
            expected = [band[1] for _, band in rows]
            alarm_level = [band[2] for _, band in rows]
            figure, axis = plt.subplots(figsize=(11, 4.2))
            axis.plot(times, observed, color="#1f77b4", lw=1.0, label="tokens/min (5-min smoothed)")
            axis.plot(times, expected, color="#2ca02c", lw=1.0, label="expected")
            axis.fill_between(
                times,
                [0.0 if math.isnan(e) else e for e in expected],
                [0.0 if math.isnan(a) else a for a in alarm_level],
                color="#2ca02c",
                alpha=0.15,
                label="expected .. volume alarm level",
            )
            axis.axvspan(
                _hours(incident.start, incident.start),
                _hours(incident.start, min(incident.end, finish)),
                color="#d62728",
                alpha=0.08,
                label=f"incident: {incident.kind}",
            )
            for name, marker, colour in ((detector, "v", "#d62728"), (baseline, "^", "#7f7f7f")):
                run = result.alerts.get(name)
                if run is None:
                    continue
                fired = [
                    a
                    for a in run.alerts
                    if a.team == incident.team
                    and a.status == "firing"
                    and begin <= a.detected_at <= finish
                ]
                if fired:
                    top = max(observed) if observed else 1.0
                    axis.scatter(
                        [_hours(incident.start, a.detected_at) for a in fired],
                        [top * (1.05 if name == detector else 1.12)] * len(fired),
                        marker=marker,
                        color=colour,
                        s=36,
                        label=f"{name} alerts ({len(fired)})",
                        zorder=5,
                    )
            who = f", user {incident.user}" if incident.user else ""
            axis.set_title(
                f"seed {result.seed} · {incident.team}{who} · {incident.kind}"
                f" x{incident.magnitude or 0:.1f}"
            )
            axis.set_yscale("symlog", linthresh=max(1.0, min(x for x in observed if x > 0)))
            axis.set_xlabel("hours from incident start")
            axis.set_ylabel("tokens per minute")
            axis.legend(loc="upper left", fontsize=7)
            axis.grid(alpha=0.3)
            figure.tight_layout()
            path = out_dir / f"incident-{result.seed}-{incident.team}-{incident.kind}.png"
            figure.savefig(path, dpi=110)
            plt.close(figure)
            written.append(path)
            log.info("wrote %s", path)
    return written


def _hours(origin: float, seconds: float) -> float:
    return (seconds - origin) / HOUR
