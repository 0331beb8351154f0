"""Notifiers: Slack (Web API and incoming webhook), PagerDuty Events v2 and the console."""

from alerts.notifiers.base import Notifier, Receipt

__all__ = ["Notifier", "Receipt"]
