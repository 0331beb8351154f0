"""Routing: which notifiers an alert goes to, read from the teams file.

The teams file (``TOKENRADAR_TEAMS_FILE``) is TOML with a ``[defaults]`` section and one
``[teams."name"]`` section per team::

    [defaults]
    slack_channel = "#ai-spend"
    page_severities = ["critical", "error"]
    quiet_hours = { start = "22:00", end = "07:00", timezone = "Europe/Berlin" }

    [teams."search-infra"]
    slack_channel = "C0123SEARCH"
    pagerduty_routing_key = "R0UT1NGKEY"

A team value wins over ``[defaults]``, which wins over the service settings
(:class:`~alerts.config.AlertingConfig`). Other sections and keys (``[org]``, budgets) belong to
other parts of tokenradar: they are kept in :attr:`TeamsFile.extra` / :attr:`TeamSection.extra`
and ignored here, so the same file can grow without breaking routing.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from alerts.config import AlertingConfig
from alerts.model import Alert, AlertSeverity

log = logging.getLogger(__name__)

DEFAULT_ROUTE = "defaults"
DEFAULT_QUIET_PAGE_SEVERITIES: tuple[AlertSeverity, ...] = ("critical",)

NotifierName = Literal["slack", "slack_webhook", "pagerduty", "console"]


class QuietHours(BaseModel):
    """A daily span in a time zone during which only some severities page.

    Slack messages still go out during quiet hours (they do not wake anyone); a page does only
    when the alert's severity is in ``page_severities``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time
    timezone: str = "UTC"
    page_severities: tuple[AlertSeverity, ...] = DEFAULT_QUIET_PAGE_SEVERITIES

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone, so a typo fails at load time
        return value

    def contains(self, epoch_seconds: float) -> bool:
        """Whether the wall-clock instant falls in the quiet span (which may cross midnight).

        Examples
        --------
        >>> from datetime import UTC, datetime, time
        >>> q = QuietHours(start=time(22), end=time(7), timezone="UTC")
        >>> q.contains(datetime(2026, 1, 1, 23, 30, tzinfo=UTC).timestamp())
        True
        >>> q.contains(datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp())
        False
        """
        local = datetime.fromtimestamp(epoch_seconds, tz=ZoneInfo(self.timezone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class RouteSettings(BaseModel):
    """The routing keys of ``[defaults]`` or one team; ``None`` means "inherit"."""

    model_config = ConfigDict(frozen=True, extra="allow")

    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    page_severities: tuple[AlertSeverity, ...] | None = None
    quiet_hours: QuietHours | None = None

    @property
    def extra(self) -> dict[str, Any]:
        """Keys this model does not know (budgets and the like, read by other components)."""
        return dict(self.model_extra or {})


class TeamsFile(BaseModel):
    """The parsed teams file."""

    model_config = ConfigDict(frozen=True, extra="allow")

    defaults: RouteSettings = Field(default_factory=RouteSettings)
    teams: dict[str, RouteSettings] = Field(default_factory=dict)

    @property
    def extra(self) -> dict[str, Any]:
        """Top-level sections this model does not know (``[org]`` and others)."""
        return dict(self.model_extra or {})

    @classmethod
    def parse(cls, text: str) -> TeamsFile:
        """Parse TOML text."""
        return cls.model_validate(tomllib.loads(text))

    @classmethod
    def load(cls, path: Path | None) -> TeamsFile:
        """Read the file at ``path``; no path means no per-team settings."""
        if path is None:
            return cls()
        return cls.parse(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Route:
    """Where one team's alerts go, with every inherited value filled in."""

    team: str
    ref: str
    slack_channel: str | None
    slack_webhook_url: SecretStr | None
    pagerduty_routing_key: SecretStr | None
    page_severities: frozenset[str]
    quiet_hours: QuietHours | None


@dataclass(frozen=True, slots=True)
class Target:
    """One destination of a notification.

    ``destination`` is never a secret: a Slack channel, or for PagerDuty and webhooks the route
    reference (a team name or ``defaults``) through which the secret is looked up when sending.
    This keeps secrets out of the outbox.
    """

    notifier: NotifierName
    destination: str

    @property
    def key(self) -> str:
        """A stable name of the target: the outbox lane and the throttle key."""
        return f"{self.notifier}:{self.destination}"

    @classmethod
    def from_key(cls, key: str) -> Target:
        """Inverse of :attr:`key`."""
        notifier, _, destination = key.partition(":")
        if notifier not in ("slack", "slack_webhook", "pagerduty", "console"):
            raise ValueError(f"unknown notifier in target {key!r}")
        return cls(notifier, destination)  # type: ignore[arg-type]


CONSOLE = Target("console", "console")


class Router:
    """Resolves routes and picks the targets of each alert.

    Parameters
    ----------
    config
        Service-wide settings: the fallbacks for every route.
    teams
        The parsed teams file.
    """

    def __init__(self, config: AlertingConfig, teams: TeamsFile | None = None) -> None:
        self.config = config
        self.teams = teams or TeamsFile()

    def route_for(self, team: str) -> Route:
        """The route of ``team`` (a team without a section gets the defaults)."""
        section = self.teams.teams.get(team)
        return self._route(team, section)

    def route_by_ref(self, ref: str) -> Route:
        """The route a :class:`Target` refers to (``defaults`` or a team name)."""
        if ref == DEFAULT_ROUTE or ref not in self.teams.teams:
            return self._route(ref, None)
        return self._route(ref, self.teams.teams[ref])

    def _route(self, team: str, section: RouteSettings | None) -> Route:
        defaults = self.teams.defaults
        config = self.config

        def pick(name: str, fallback: Any) -> Any:
            for source in (section, defaults):
                value = getattr(source, name) if source is not None else None
                if value is not None:
                    return value
            return fallback

        ref = team if section is not None else DEFAULT_ROUTE
        return Route(
            team=team,
            ref=ref,
            slack_channel=pick("slack_channel", config.slack_channel),
            slack_webhook_url=pick("slack_webhook_url", config.slack_webhook_url),
            pagerduty_routing_key=pick("pagerduty_routing_key", config.pagerduty_routing_key),
            page_severities=frozenset(pick("page_severities", config.page_severities)),
            quiet_hours=pick("quiet_hours", None),
        )

    def pages(self, alert: Alert, route: Route, now: float) -> bool:
        """Whether ``alert`` should page now (its severity pages and quiet hours allow it)."""
        if alert.severity not in route.page_severities:
            return False
        quiet = route.quiet_hours
        return not (quiet is not None and quiet.contains(now) and alert.severity not in
                    quiet.page_severities)  # fmt: skip

    def targets(self, alert: Alert, now: float) -> list[Target]:
        """Where ``alert`` goes.

        A firing alert goes to the team's Slack channel (Web API when a token is set, else the
        incoming webhook) and, when it pages now, to PagerDuty. A resolved alert goes to every
        target the episode may have reached, whatever the severity rules say now: a delivery
        step later skips targets that never heard of the episode. Without Slack or PagerDuty,
        alerts go to the console.
        """
        route = self.route_for(alert.team)
        targets: list[Target] = []
        if self.config.slack_token is not None and route.slack_channel:
            targets.append(Target("slack", route.slack_channel))
        elif route.slack_webhook_url is not None:
            targets.append(Target("slack_webhook", route.ref))
        if route.pagerduty_routing_key is not None and (
            alert.status == "resolved" or self.pages(alert, route, now)
        ):
            targets.append(Target("pagerduty", route.ref))
        if not targets:
            targets.append(CONSOLE)
        return targets

    def links(self, alert: Alert) -> list[tuple[str, str]]:
        """``(label, url)`` links for a notification (the dashboard, when configured)."""
        template = self.config.dashboard_url
        if not template:
            return []
        # Team and user names are user-controlled: quote them so they cannot change the URL.
        fields: Mapping[str, str] = {
            "team": quote(alert.team, safe=""),
            "kind": quote(alert.kind, safe=""),
            "user": quote(alert.user or "", safe=""),
            "dedup_key": quote(alert.dedup_key, safe=""),
        }
        try:
            return [("Dashboard", template.format_map(dict(fields)))]
        except (KeyError, IndexError, ValueError):
            log.warning("dashboard_url has an unknown placeholder; links left out")
            return []
