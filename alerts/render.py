"""What notifications look like: Slack Block Kit with a text fallback, and PagerDuty events.

Everything here is pure: alerts in, JSON-able dicts out. Every string that comes from users
(team, user, model and tool names, summaries that quote them) goes through
:func:`escape_slack` before it reaches Slack, so a user named ``<!channel>`` shows up as text
instead of pinging a channel. Slack's limits (50 blocks a message, 3000 characters a section,
150 a header) are enforced here, not left to a 400 from Slack.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from alerts.model import Alert

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_CHARS = 3000
SLACK_MAX_FIELD_CHARS = 2000
SLACK_MAX_HEADER_CHARS = 150
SLACK_MAX_CONTEXT_ELEMENTS = 10
SLACK_MAX_FALLBACK_CHARS = 3000
PAGERDUTY_MAX_SUMMARY_CHARS = 1024
PAGERDUTY_MAX_DEDUP_KEY_CHARS = 255
PAGERDUTY_SOURCE = "tokenradar"
SPARKLINE_POINTS = 30
SPARK_CHARS = "▁▂▃▄▅▆▇█"
METADATA_EVENT_TYPE = "tokenradar_alert"
ELLIPSIS = "…"

_SEVERITY_ICON = {"info": "🔵", "warning": "🟡", "error": "🟠", "critical": "🔴"}
_RESOLVED_ICON = "✅"
# "@channel", "@here" and "@everyone" are only mentions inside <!...>, which escaping defuses;
# a zero-width space after "@" also keeps clients that link bare words from pinging anyone.
_BROADCAST_WORDS = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Transition = Literal["fired", "escalated", "repeated", "resolved"]


def escape_slack(text: str) -> str:
    """Make user-controlled text inert in Slack: no mentions, no links, no broadcasts.

    Examples
    --------
    >>> escape_slack("<!channel> & <@U123>")
    '&lt;!channel&gt; &amp; &lt;@U123&gt;'
    """
    text = _CONTROL_CHARS.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_WORDS.sub("@\u200b", text)


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut.

    Does not split an ``&amp;``-style entity that escaping produced.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def sparkline(values: Sequence[float], points: int = SPARKLINE_POINTS) -> str:
    """The last ``points`` values as Unicode block characters, lowest ``▁`` to highest ``█``.

    Examples
    --------
    >>> sparkline([1, 2, 3, 4, 5, 6, 7, 8])
    '▁▂▃▄▅▆▇█'
    >>> sparkline([5, 5, 5])
    '▄▄▄'
    >>> sparkline([])
    ''
    """
    finite = [float(v) for v in values if math.isfinite(v)][-points:]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    if high == low:
        return SPARK_CHARS[len(SPARK_CHARS) // 2 - 1] * len(finite)
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((v - low) / (high - low) * top)] for v in finite)


def format_value(value: float, metric: str) -> str:
    """A metric value for people: ``$1,234.50`` for costs, ``412,000`` for counts.

    Examples
    --------
    >>> format_value(1234.5, "cost_usd"), format_value(412000.0, "total_tokens")
    ('$1,234.50', '412,000')
    """
    if not math.isfinite(value):
        return str(value)
    if "cost" in metric or "usd" in metric:
        return f"${value:,.2f}"
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.2f}"


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert with what a notification shows beside it."""

    alert: Alert
    series: tuple[float, ...] = ()
    links: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _who(alert: Alert) -> str:
    team = escape_slack(alert.team)
    return f"{escape_slack(alert.user)} in {team}" if alert.user else team


def _headline(views: Sequence[AlertView]) -> str:
    firing = [v for v in views if v.alert.status == "firing"]
    if len(views) == 1:
        alert = views[0].alert
        icon = _RESOLVED_ICON if alert.status == "resolved" else _SEVERITY_ICON[alert.severity]
        state = "Resolved" if alert.status == "resolved" else alert.severity.capitalize()
        return f"{icon} {state}: {alert.kind} ({_who(alert)})"
    teams = sorted({v.alert.team for v in views})
    team = escape_slack(teams[0]) if len(teams) == 1 else f"{len(teams)} teams"
    if not firing:
        return f"{_RESOLVED_ICON} {team}: {len(views)} alerts resolved"
    worst = max(firing, key=lambda v: _SEVERITY_ORDER[v.alert.severity]).alert.severity
    return f"{_SEVERITY_ICON[worst]} {team}: {len(firing)} of {len(views)} alerts firing"


_SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def _alert_blocks(view: AlertView) -> list[dict[str, Any]]:
    alert = view.alert
    icon = _RESOLVED_ICON if alert.status == "resolved" else _SEVERITY_ICON[alert.severity]
    status = "resolved" if alert.status == "resolved" else f"firing ({alert.severity})"
    title = (
        f"{icon} *{escape_slack(alert.kind)}* · {_who(alert)} · {status}\n"
        f"{escape_slack(alert.summary)}"
    )
    window = (
        f"{alert.window_start:%Y-%m-%d %H:%M} to {alert.window_end:%H:%M} UTC"
        if alert.window_start.date() == alert.window_end.date()
        else f"{alert.window_start:%Y-%m-%d %H:%M} to {alert.window_end:%Y-%m-%d %H:%M} UTC"
    )
    metric = escape_slack(alert.metric)
    fields = [
        f"*Observed*\n{format_value(alert.observed, alert.metric)} {metric}",
        f"*Expected*\n{format_value(alert.expected, alert.metric)}",
        f"*Window*\n{window}",
        f"*Score*\n{alert.score:.2f}",
    ]
    blocks: list[dict[str, Any]] = [
        _section(title),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": truncate(f, SLACK_MAX_FIELD_CHARS)} for f in fields
            ],
        },
    ]
    spark = sparkline(view.series)
    if spark:
        blocks.append(_section(f"`{spark}`  recent windows of {metric}"))
    context: list[str] = []
    if alert.top_contributors:
        parts = [
            f"{escape_slack(c.dimension)} *{escape_slack(c.name)}* {c.share:.0%}"
            for c in alert.top_contributors
        ]
        context.append("Top contributors: " + ", ".join(parts))
    for label, url in view.links:
        context.append(f"<{escape_slack(url)}|{escape_slack(label)}>")
    if context:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": truncate(text, SLACK_MAX_FIELD_CHARS)}
                    for text in context[:SLACK_MAX_CONTEXT_ELEMENTS]
                ],
            }
        )
    return blocks


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, SLACK_MAX_SECTION_CHARS)},
    }


def fallback_line(alert: Alert) -> str:
    """One line per alert, for notification previews and clients without blocks (escaped)."""
    state = "RESOLVED" if alert.status == "resolved" else f"FIRING {alert.severity}"
    return (
        f"[{state}] {alert.kind} ({_who(alert)}): {escape_slack(alert.metric)} "
        f"{format_value(alert.observed, alert.metric)} vs expected "
        f"{format_value(alert.expected, alert.metric)}"
    )


def slack_message(views: Sequence[AlertView]) -> dict[str, Any]:
    """``text`` and ``blocks`` of one message showing ``views`` in their current state.

    Alerts that do not fit in Slack's 50 blocks are counted in a closing line, never dropped
    silently; the text fallback lists as many as fit in its limit.
    """
    if not views:
        raise ValueError("a message needs at least one alert")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(_headline(views), SLACK_MAX_HEADER_CHARS),
                "emoji": True,
            },
        }
    ]
    # One block stays free for the "and N more" line.
    room = SLACK_MAX_BLOCKS - 1
    shown = 0
    for view in views:
        part = _alert_blocks(view)
        divider = [{"type": "divider"}] if shown else []
        if len(blocks) + len(divider) + len(part) > room:
            break
        blocks.extend(divider + part)
        shown += 1
    if shown < len(views):
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"…and {len(views) - shown} more alerts"}],
            }
        )
    text = truncate("\n".join(fallback_line(v.alert) for v in views), SLACK_MAX_FALLBACK_CHARS)
    return {"text": text, "blocks": blocks}


def thread_reply_text(alert: Alert, transition: Transition) -> str:
    """The thread reply that records a change of an already-announced alert."""
    value = format_value(alert.observed, alert.metric)
    metric = escape_slack(alert.metric)
    if transition == "resolved":
        return truncate(
            f"{_RESOLVED_ICON} Resolved: {escape_slack(alert.kind)} ({_who(alert)}); last "
            f"{metric} {value}",
            SLACK_MAX_SECTION_CHARS,
        )
    if transition == "escalated":
        head = f"{_SEVERITY_ICON[alert.severity]} Escalated to *{alert.severity}*"
    else:
        head = f"{_SEVERITY_ICON[alert.severity]} Still firing"
    return truncate(
        f"{head}: {escape_slack(alert.summary)} ({metric} {value})", SLACK_MAX_SECTION_CHARS
    )


def key_digest(dedup_key: str) -> str:
    """A short digest of a ``dedup_key``: identifies it in message metadata without repeating
    user-controlled names there."""
    return hashlib.blake2b(dedup_key.encode(), digest_size=8).hexdigest()


def slack_metadata(delivery_id: str, dedup_keys: Sequence[str]) -> dict[str, Any]:
    """Message metadata that lets a restarted worker find a message it may already have sent.

    ``delivery_id`` is an outbox entry id (alert id and target, no names); the keys the message
    shows are listed as :func:`key_digest` values.
    """
    return {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {
            "delivery_id": delivery_id,
            "keys": [key_digest(key) for key in dedup_keys],
        },
    }


def pagerduty_dedup_key(dedup_key: str) -> str:
    """``dedup_key`` within PagerDuty's 255 characters (long names end in a stable hash).

    Examples
    --------
    >>> pagerduty_dedup_key("search:team_surge")
    'search:team_surge'
    >>> len(pagerduty_dedup_key("t" * 300))
    255
    """
    if len(dedup_key) <= PAGERDUTY_MAX_DEDUP_KEY_CHARS:
        return dedup_key
    digest = hashlib.blake2b(dedup_key.encode(), digest_size=16).hexdigest()
    keep = PAGERDUTY_MAX_DEDUP_KEY_CHARS - len(digest) - 1
    return f"{dedup_key[:keep]}#{digest}"


def pagerduty_trigger(
    alert: Alert, routing_key: str, links: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """An Events API v2 ``trigger`` for ``alert``."""
    summary = (
        f"[{alert.severity}] {alert.team}: {alert.kind}"
        + (f" ({alert.user})" if alert.user else "")
        + f": {alert.summary}"
    )
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": pagerduty_dedup_key(alert.dedup_key),
        "client": PAGERDUTY_SOURCE,
        "payload": {
            "summary": truncate(summary, PAGERDUTY_MAX_SUMMARY_CHARS),
            "source": PAGERDUTY_SOURCE,
            "severity": alert.severity,
            "timestamp": alert.detected_at.isoformat(),
            "component": alert.team,
            "group": alert.team,
            "class": alert.kind,
            "custom_details": {
                "alert_id": alert.alert_id,
                "dedup_key": alert.dedup_key,
                "team": alert.team,
                "user": alert.user,
                "metric": alert.metric,
                "observed": alert.observed,
                "expected": alert.expected,
                "score": alert.score,
                "window_start": alert.window_start.isoformat(),
                "window_end": alert.window_end.isoformat(),
                "top_contributors": [c.model_dump() for c in alert.top_contributors],
            },
        },
        "links": [{"href": url, "text": label} for label, url in links],
    }


def pagerduty_resolve(alert: Alert, routing_key: str) -> dict[str, Any]:
    """An Events API v2 ``resolve`` for ``alert``'s episode."""
    return {
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": pagerduty_dedup_key(alert.dedup_key),
    }
