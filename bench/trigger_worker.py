"""The worker with a deterministic alert trigger on top of the default detector.

The latency benchmark needs alerts it can predict. This entry point runs exactly what
``tokenradar worker`` runs, except that each team's detector is wrapped: the default detector
still sees and scores every window (so its cost is in the measurement), and in addition any user
with at least :data:`TRIGGER_TOKENS` tokens in one window is reported as a ``budget_exhausted``
finding, a kind the alert lifecycle fires on its first window. One event of that size is the
trigger; the alert is decided when that event's window closes.

Run it as ``python -m bench.trigger_worker`` with the usual ``TOKENRADAR_*`` environment.
"""

from __future__ import annotations

import logging

from detectors.base import Contributor, Finding, TeamDetector, TeamDetectorFactory, WindowSummary
from tokenradar.core.detection import default_detector_factory

log = logging.getLogger(__name__)

TRIGGER_TOKENS = 5_000_000


class TriggerDetector:
    """The wrapped detector, plus a finding for every user over the trigger size."""

    def __init__(self, team: str, inner: TeamDetector) -> None:
        self.team = team
        self.inner = inner

    def update(self, window: WindowSummary) -> list[Finding]:
        findings = list(self.inner.update(window))
        for user, usage in window.by_user.items():
            if usage.total_tokens >= TRIGGER_TOKENS:
                findings.append(
                    Finding(
                        kind="budget_exhausted",
                        severity="critical",
                        metric="total_tokens",
                        observed=float(usage.total_tokens),
                        expected=float(TRIGGER_TOKENS),
                        score=1.0,
                        summary=f"{user} in {self.team}: {usage.total_tokens} tokens in a window",
                        user=user,
                        top_contributors=(Contributor("user", user, 1.0),),
                    )
                )
        return findings

    def to_state(self) -> bytes:
        return self.inner.to_state()


class TriggerFactory:
    """Creates and restores :class:`TriggerDetector` around the default detector."""

    def __init__(self, inner: TeamDetectorFactory) -> None:
        self.inner = inner

    def create(self, team: str) -> TriggerDetector:
        return TriggerDetector(team, self.inner.create(team))

    def restore(self, team: str, state: bytes) -> TriggerDetector:
        return TriggerDetector(team, self.inner.restore(team, state))


def main() -> None:
    import faust

    from stream.app import build_app
    from tokenradar.cli import _settings, _setup_logging
    from tokenradar.kafka_admin import ensure_topics
    from tokenradar.logs import logging_config

    settings = _settings()
    _setup_logging(settings)
    ensure_topics(settings)
    built = build_app(settings, TriggerFactory(default_detector_factory()))
    log.info("benchmark worker with a %d-token trigger starting", TRIGGER_TOKENS)
    faust.Worker(
        built.app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_format),
        redirect_stdouts=False,
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
