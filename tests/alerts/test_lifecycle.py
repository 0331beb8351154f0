from __future__ import annotations

from dataclasses import replace

import msgpack
import pytest

from alerts.lifecycle import LifecyclePolicy, TeamAlertLifecycle
from alerts.model import Alert
from detectors.base import Contributor, Finding

W = 60.0
T0 = 1_793_577_600.0


def finding(kind: str = "team_surge", severity: str = "error", user: str | None = None) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,  # type: ignore[arg-type]
        metric="total_tokens",
        observed=900.0,
        expected=100.0,
        score=0.97,
        summary=f"{kind} in search",
        user=user,
        top_contributors=(Contributor("user", "ana", 0.8),),
    )


def run(
    lifecycle: TeamAlertLifecycle, windows: list[list[Finding]], start: int = 0
) -> list[list[Alert]]:
    out = []
    for i, findings in enumerate(windows, start=start):
        ws = T0 + i * W
        out.append(lifecycle.decide(ws, ws + W, ws + W + 30, findings))
    return out


def statuses(decisions: list[list[Alert]]) -> list[list[str]]:
    return [[f"{a.status}:{a.severity}" for a in d] for d in decisions]


def test_one_noisy_window_does_not_fire() -> None:
    lc = TeamAlertLifecycle("search")
    assert statuses(run(lc, [[finding()], [], [finding()], []])) == [[], [], [], []]
    assert lc.pending_keys == [] and lc.firing_keys == []


def test_fires_after_the_for_period_and_emits_at_once() -> None:
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(for_windows=3))
    decisions = run(lc, [[finding()]] * 3)
    assert statuses(decisions) == [[], [], ["firing:error"]]
    alert = decisions[2][0]
    assert alert.dedup_key == "search:team_surge"
    assert alert.window_end.timestamp() == T0 + 3 * W
    assert alert.top_contributors[0].name == "ana"


def test_for_period_in_seconds() -> None:
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(for_seconds=150))
    assert statuses(run(lc, [[finding()]] * 3)) == [[], [], ["firing:error"]]


def test_immediate_kinds_fire_on_the_first_window() -> None:
    lc = TeamAlertLifecycle("search")
    [[alert]] = run(lc, [[finding("budget_exhausted", "critical")]])
    assert alert.status == "firing"


def test_a_finding_whose_evidence_covers_the_for_period_fires_on_its_window() -> None:
    """A verdict on hours already closed (an evening, two hours of a weekend) is judged once; its
    evidence spans far more than the for-period, which exists to outwait one noisy window."""
    evening = replace(finding("slow_ramp"), evidence_seconds=7 * 3600.0)
    for policy in (LifecyclePolicy(for_windows=3), LifecyclePolicy(for_seconds=150)):
        [[alert]] = run(TeamAlertLifecycle("search", policy=policy), [[evening]])
        assert alert.status == "firing"
    # Evidence shorter than the for-period waits for it like any finding.
    short = replace(finding("slow_ramp"), evidence_seconds=2 * W)
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(for_windows=3))
    assert statuses(run(lc, [[short]] * 3)) == [[], [], ["firing:error"]]
    one_window = replace(finding("slow_ramp"), evidence_seconds=W)
    assert statuses(run(TeamAlertLifecycle("search"), [[one_window], []])) == [[], []]


def test_pending_severity_is_the_highest_seen() -> None:
    lc = TeamAlertLifecycle("search")
    assert statuses(run(lc, [[finding(severity="critical")], [finding(severity="warning")]])) == [
        [],
        ["firing:critical"],
    ]


def test_escalation_notifies_but_deescalation_does_not() -> None:
    lc = TeamAlertLifecycle("search")
    sev = ["warning", "warning", "error", "warning", "error", "critical"]
    decisions = run(lc, [[finding(severity=s)] for s in sev])
    expected = [[], ["firing:warning"], ["firing:error"], [], [], ["firing:critical"]]
    assert statuses(decisions) == expected
    ids = [a.alert_id for d in decisions for a in d]
    assert len(set(ids)) == len(ids)


def test_resolve_hysteresis_keeps_a_flapping_series_one_episode() -> None:
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(resolve_after_windows=3))
    pattern = [[finding()], [finding()]] + [[], [], [finding()]] * 5 + [[], [], []]
    flat = [s for d in statuses(run(lc, pattern)) for s in d]
    assert flat == ["firing:error", "resolved:error"]


def test_resolve_after_seconds() -> None:
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(resolve_after_seconds=120))
    decisions = statuses(run(lc, [[finding()], [finding()], [], []]))
    assert decisions == [[], ["firing:error"], [], ["resolved:error"]]


def test_repeat_after_the_interval_in_event_time() -> None:
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(repeat_interval_seconds=5 * W))
    decisions = statuses(run(lc, [[finding()]] * 13))
    fired = [i for i, d in enumerate(decisions) if d]
    assert fired == [1, 6, 11]


def test_skipped_windows_count_as_clean() -> None:
    lc = TeamAlertLifecycle("search", policy=LifecyclePolicy(resolve_after_windows=3))
    run(lc, [[finding()], [finding()]])
    assert lc.firing_keys == ["search:team_surge"]
    # The team sent nothing for 5 windows; the next window it sends resolves the key.
    [alerts] = run(lc, [[]], start=7)
    assert [a.status for a in alerts] == ["resolved"]


def test_a_gap_restarts_the_for_period() -> None:
    lc = TeamAlertLifecycle("search")
    run(lc, [[finding()]])
    assert run(lc, [[finding()]], start=3) == [[]]
    assert lc.pending_keys == ["search:team_surge"]


def test_user_level_keys_are_separate() -> None:
    lc = TeamAlertLifecycle("search")
    both = [finding("user_runaway", user="ana"), finding("user_runaway", user="bo")]
    decisions = run(lc, [both, both])
    assert [a.dedup_key for a in decisions[1]] == [
        "search:user_runaway:ana",
        "search:user_runaway:bo",
    ]


def test_deterministic_and_checkpointable_midway() -> None:
    windows = [[finding()], [finding(severity="critical")], [], [finding()], [], [], [], [], []]
    straight = run(TeamAlertLifecycle("search"), windows)
    lc = TeamAlertLifecycle("search")
    first = run(lc, windows[:2])
    state = msgpack.unpackb(msgpack.packb(lc.to_state()), raw=False)
    restored = TeamAlertLifecycle.from_state("search", state)
    second = run(restored, windows[2:], start=2)
    assert first + second == straight


def test_reads_version_one_state() -> None:
    old = {
        "v": 1,
        "firing": {
            "search:team_surge": ["team_surge", None, "error", "total_tokens", 0, {"observed": 5.0}]
        },
    }
    lc = TeamAlertLifecycle.from_state("search", old, resolve_after_windows=1)
    [[alert]] = run(lc, [[]])
    assert alert.status == "resolved" and alert.observed == 5.0


def test_unknown_state_version_is_refused() -> None:
    with pytest.raises(ValueError):
        TeamAlertLifecycle.from_state("search", {"v": 99})
