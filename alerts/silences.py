"""Silences and mutes: people telling tokenradar to keep quiet for a while.

A :class:`Silence` suppresses every notification of the alerts its matchers select, until it
expires. A :class:`Mute` switches off some notifiers (or all) for a team (or every team), with an
optional expiry. Neither changes what goes to the alerts topic: downstream consumers still see
every lifecycle change.

Both are plain, JSON-serialisable records so the Kafka-backed store can keep them in a compacted
topic keyed by their id (every worker reads the whole topic, so every worker honours them). The
store behind :class:`SilenceStore` is chosen by the wiring; :class:`InMemorySilenceStore` serves
tests and ``replay``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from alerts.model import Alert

MatcherLabel = Literal["team", "kind", "severity", "user", "metric", "dedup_key"]
MatcherOp = Literal["=", "!=", "=~", "!~"]
# Longer operators first so "!=" is not read as a label ending in "!" followed by "=".
_MATCHER_SYNTAX = re.compile(r"^\s*(\w+)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
ANY_TEAM = "*"


class Matcher(BaseModel):
    """``label op value``: equality or a full-match regular expression, Alertmanager-style.

    Examples
    --------
    >>> Matcher.parse("team=search").matches_alert_labels({"team": "search"})
    True
    >>> Matcher.parse("kind=~user_.*").matches_alert_labels({"kind": "team_surge"})
    False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: MatcherLabel
    op: MatcherOp = "="
    value: str

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in ("=~", "!~"):
            re.compile(self.value)
        return self

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex``."""
        found = _MATCHER_SYNTAX.match(text)
        if found is None:
            raise ValueError(f"not a matcher: {text!r} (expected label=value)")
        label, op, value = found.groups()
        return cls.model_validate({"label": label, "op": op, "value": value.strip("\"'")})

    def matches_alert_labels(self, labels: dict[str, str | None]) -> bool:
        """Whether the labels satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.label) or ""
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        full = re.fullmatch(self.value, actual) is not None
        return full if self.op == "=~" else not full

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value}"


def alert_labels(alert: Alert) -> dict[str, str | None]:
    """The labels matchers see."""
    return {
        "team": alert.team,
        "kind": alert.kind,
        "severity": alert.severity,
        "user": alert.user,
        "metric": alert.metric,
        "dedup_key": alert.dedup_key,
    }


class Silence(BaseModel):
    """Suppress notifications of matching alerts between ``starts_at`` and ``ends_at``.

    Times are wall-clock epoch seconds: silences are about people's attention, not event time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    record: Literal["silence"] = "silence"
    silence_id: str
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    @model_validator(mode="after")
    def _ends_after_start(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")
        return self

    def active(self, now: float) -> bool:
        """Whether the silence is in force at ``now``."""
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        """Whether every matcher selects ``alert``."""
        labels = alert_labels(alert)
        return all(m.matches_alert_labels(labels) for m in self.matchers)


class Mute(BaseModel):
    """Switch off notifiers for a team (``*``: every team) until ``until`` (None: until unmuted).

    ``notifiers`` empty means all of them; otherwise names such as ``slack`` or ``pagerduty``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    record: Literal["mute"] = "mute"
    mute_id: str
    team: str = ANY_TEAM
    notifiers: tuple[str, ...] = ()
    starts_at: float = 0.0
    until: float | None = None
    created_by: str = ""
    comment: str = ""

    @field_validator("notifiers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def active(self, now: float) -> bool:
        """Whether the mute is in force at ``now``."""
        return self.starts_at <= now and (self.until is None or now < self.until)

    def mutes(self, team: str, notifier: str) -> bool:
        """Whether this mute silences ``notifier`` for ``team``."""
        team_matches = self.team in (ANY_TEAM, team)
        return team_matches and (not self.notifiers or notifier in self.notifiers)


def new_record_id(*parts: str | float) -> str:
    """A short stable id for a silence or mute made from what defines it."""
    text = "|".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class SilenceStore(Protocol):
    """Where silences and mutes live (a compacted topic in the worker, memory in tests)."""

    def silences(self) -> Iterable[Silence]:
        """Every known silence, expired ones included until they are pruned."""
        ...

    def mutes(self) -> Iterable[Mute]:
        """Every known mute."""
        ...

    def put(self, record: Silence | Mute) -> None:
        """Add or replace a silence or a mute (by its id)."""
        ...

    def remove(self, record_id: str) -> None:
        """Forget a silence or a mute (expiring it early)."""
        ...


class InMemorySilenceStore:
    """A :class:`SilenceStore` in a dict."""

    def __init__(self, records: Iterable[Silence | Mute] = ()) -> None:
        self._records: dict[str, Silence | Mute] = {}
        for record in records:
            self.put(record)

    def silences(self) -> list[Silence]:
        """Every silence."""
        return [r for r in self._records.values() if isinstance(r, Silence)]

    def mutes(self) -> list[Mute]:
        """Every mute."""
        return [r for r in self._records.values() if isinstance(r, Mute)]

    def put(self, record: Silence | Mute) -> None:
        """Add or replace a record."""
        self._records[record_id(record)] = record

    def remove(self, record_id: str) -> None:
        """Forget a record; unknown ids are ignored."""
        self._records.pop(record_id, None)


def record_id(record: Silence | Mute) -> str:
    """The id of a silence or a mute (the key of its message in the compacted topic)."""
    return record.silence_id if isinstance(record, Silence) else record.mute_id


_RECORD_ADAPTER: TypeAdapter[Silence | Mute] = TypeAdapter(
    Annotated[Silence | Mute, Field(discriminator="record")]
)


def parse_record(data: bytes | str) -> Silence | Mute:
    """Parse a record as kept in the store's topic (JSON, with ``record`` naming its type)."""
    return _RECORD_ADAPTER.validate_json(data)


def dump_record(record: Silence | Mute) -> bytes:
    """A record as JSON, for the store's topic."""
    return record.model_dump_json().encode()


def silencing(store: SilenceStore, alert: Alert, now: float) -> Silence | None:
    """The first active silence that selects ``alert``, if any."""
    for silence in store.silences():
        if silence.active(now) and silence.matches(alert):
            return silence
    return None


def muting(store: SilenceStore, team: str, notifier: str, now: float) -> Mute | None:
    """The first active mute that switches off ``notifier`` for ``team``, if any."""
    for mute in store.mutes():
        if mute.active(now) and mute.mutes(team, notifier):
            return mute
    return None
