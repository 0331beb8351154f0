"""Events to closed per-team windows, with the core's semantics and no broker.

Windows are tumbling, ``[k * width, (k + 1) * width)`` per team. A window is emitted once the
stream has moved past its end (events arrive in event-time order), windows are emitted in order of
end time (then team), and a window in which a team sent nothing is not emitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from detectors.base import Usage, WindowSummary
from tokenradar.pricing import DEFAULT_PRICES, ModelPrice, cost_usd

WindowSource = Callable[[Iterable[Mapping[str, Any]]], Iterable[WindowSummary]]
"""Anything that turns events (in event-time order) into closed windows in order of end time."""

# [input_tokens, output_tokens, cached_input_tokens, cost_usd, requests]
_Acc = list[Any]


def _acc() -> _Acc:
    return [0, 0, 0, 0.0, 0]


def _usage(acc: _Acc) -> Usage:
    return Usage(acc[0], acc[1], acc[2], float(acc[3]), acc[4])


class _OpenWindow:
    __slots__ = ("by_model", "by_tool", "by_user", "totals")

    def __init__(self) -> None:
        self.totals = _acc()
        self.by_user: dict[str, _Acc] = {}
        self.by_model: dict[str, _Acc] = {}
        self.by_tool: dict[str, _Acc] = {}


def event_seconds(value: Any) -> float:
    """Event time as epoch seconds, from a number, a datetime or RFC 3339 text."""
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def aggregate_windows(
    events: Iterable[Mapping[str, Any]],
    *,
    window_seconds: float = 60.0,
    prices: Mapping[str, ModelPrice] = DEFAULT_PRICES,
) -> Iterator[WindowSummary]:
    """Closed windows of ``events`` (dicts with ts, team, user, model, tool and token counts).

    Examples
    --------
    >>> events = [
    ...     {"ts": 5.0, "team": "a", "user": "u", "model": "m", "input_tokens": 10,
    ...      "output_tokens": 5, "cost_usd": 0.01},
    ...     {"ts": 130.0, "team": "a", "user": "u", "model": "m", "input_tokens": 1,
    ...      "output_tokens": 1},
    ... ]
    >>> [(w.start, w.end, w.totals.total_tokens) for w in aggregate_windows(events)]
    [(0.0, 60.0, 15), (120.0, 180.0, 2)]
    """
    open_windows: dict[tuple[float, str], _OpenWindow] = {}
    current_start = -math.inf
    for event in events:
        ts = event_seconds(event["ts"])
        start = math.floor(ts / window_seconds) * window_seconds
        if start > current_start:
            yield from _close_before(open_windows, start, window_seconds)
            current_start = start
        team = str(event["team"])
        window = open_windows.get((start, team))
        if window is None:
            window = open_windows[(start, team)] = _OpenWindow()
        inp = int(event.get("input_tokens") or 0)
        out = int(event.get("output_tokens") or 0)
        cached = int(event.get("cached_input_tokens") or 0)
        model = str(event.get("model") or "unknown")
        cost = event.get("cost_usd")
        if cost is None:
            cost = cost_usd(model, inp, cached, out, prices)
        tool = str(event.get("tool") or "unknown")
        for table, name in (
            (window.by_user, str(event["user"])),
            (window.by_model, model),
            (window.by_tool, tool),
        ):
            acc = table.get(name)
            if acc is None:
                acc = table[name] = _acc()
            _add(acc, inp, out, cached, cost)
        _add(window.totals, inp, out, cached, cost)
    yield from _close_before(open_windows, math.inf, window_seconds)


def _add(acc: _Acc, inp: int, out: int, cached: int, cost: float) -> None:
    acc[0] += inp
    acc[1] += out
    acc[2] += cached
    acc[3] += cost
    acc[4] += 1


def _close_before(
    open_windows: dict[tuple[float, str], _OpenWindow], before: float, width: float
) -> Iterator[WindowSummary]:
    closing = sorted(key for key in open_windows if key[0] + width <= before)
    for start, team in closing:
        window = open_windows.pop((start, team))
        yield WindowSummary(
            team=team,
            start=start,
            end=start + width,
            totals=_usage(window.totals),
            by_user={name: _usage(acc) for name, acc in window.by_user.items()},
            by_model={name: _usage(acc) for name, acc in window.by_model.items()},
            by_tool={name: _usage(acc) for name, acc in window.by_tool.items()},
        )
