"""The console notifier: what a local run shows when no Slack or PagerDuty is configured."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from alerts.notifiers.base import Receipt
from alerts.outbox import OutboxEntry
from alerts.render import format_value, sparkline
from alerts.routing import Target

_SEVERITY_STYLE = {"info": "blue", "warning": "yellow", "error": "red", "critical": "bold red"}


class ConsoleNotifier:
    """Prints each notification as a few coloured lines.

    Names are added as :class:`rich.text.Text`, never as markup, so a user called
    ``[bold]x`` is printed as such.
    """

    def __init__(self, console: Console | None = None, prefix: str = "") -> None:
        self.console = console or Console(stderr=True, highlight=False)
        # Shown before each notification, e.g. to tell it apart from log lines in one stream.
        self.prefix = prefix

    async def deliver(
        self, target: Target, entries: Sequence[OutboxEntry], receipt: Receipt
    ) -> None:
        """Print every entry; the console never fails."""
        for entry in entries:
            text = render_console(entry)
            if self.prefix:
                text = Text(self.prefix, style="bold") + text
            self.console.print(text)
            receipt.done(entry)


def render_console(entry: OutboxEntry) -> Text:
    """The lines the console notifier prints for one entry."""
    alert = entry.alert
    text = Text()
    if alert.status == "resolved":
        text.append("RESOLVED ", style="bold green")
    else:
        text.append(f"{alert.severity.upper():<8} ", style=_SEVERITY_STYLE[alert.severity])
    text.append(alert.kind, style="bold")
    text.append(f"  team={alert.team}")
    if alert.user:
        text.append(f" user={alert.user}")
    text.append(f"  {alert.window_end:%Y-%m-%d %H:%M}Z\n  ")
    text.append(
        f"{alert.metric} {format_value(alert.observed, alert.metric)} "
        f"(expected {format_value(alert.expected, alert.metric)}, score {alert.score:.2f})"
    )
    spark = sparkline(entry.series)
    if spark:
        text.append(f"  {spark}", style="cyan")
    text.append(f"\n  {alert.summary}")
    if alert.top_contributors:
        text.append(
            "\n  top: "
            + ", ".join(f"{c.dimension} {c.name} {c.share:.0%}" for c in alert.top_contributors)
        )
    return text
