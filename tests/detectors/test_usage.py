from __future__ import annotations

import itertools
import math

from alerts.lifecycle import TeamAlertLifecycle
from detectors import UsageDetector, UsageDetectorFactory, UsageDetectorSettings, default_factory
from detectors.base import Finding, WindowSummary

from .streams import DAY, MONDAY, team_windows

SETTINGS = UsageDetectorSettings(warmup_seconds=2 * DAY)


def run(detector: UsageDetector, windows) -> list[tuple[float, Finding]]:  # type: ignore[no-untyped-def]
    return [(w.end, f) for w in windows for f in detector.update(w)]


def assert_caught_as_runaway_agent(
    findings: list[tuple[float, Finding]], user: str, start: float
) -> None:
    """``user``'s first finding is a runaway agent within five minutes of ``start``, and no other
    user is flagged."""
    mine = [(at, f) for at, f in findings if f.user == user]
    assert mine, f"{user}'s runaway agent was not detected"
    assert start <= mine[0][0] <= start + 5 * 60
    assert mine[0][1].kind == "runaway_agent"
    assert [f for _, f in findings if f.user not in (None, user)] == []


def test_quiet_team_raises_nothing_after_warmup() -> None:
    findings = run(UsageDetector("search", SETTINGS), team_windows(days=6, seed=3))
    assert [f for _, f in findings] == []


def test_agent_loop_of_one_user_is_detected_and_named() -> None:
    """A user_runaway from the labelled simulator: 30x the user's mean rate, day and night."""
    from datetime import timedelta

    from tokenradar.evaluation.windows import aggregate_windows
    from tokenradar.simulator import IncidentSpec, SimulationConfig, generate

    base = SimulationConfig(seed=11, teams=3, duration=timedelta(days=4))
    team = next(t.name for t in generate(base).organisation.teams if t.appears_at is None)
    config = SimulationConfig(
        seed=11,
        teams=3,
        duration=timedelta(days=4),
        incidents=(
            IncidentSpec(
                "user_runaway", at=timedelta(days=3), duration=timedelta(hours=12),
                team=team, magnitude=30.0,
            ),
        ),
    )  # fmt: skip
    simulation = generate(config)
    (incident,) = simulation.true_incidents
    detector = UsageDetector(team, SETTINGS)
    events = (event for event in simulation.events() if event["team"] == team)
    findings = run(detector, aggregate_windows(events))
    during = [(at, f) for at, f in findings if incident.start <= at <= incident.end]
    assert during, "the loop was not detected"
    first_at, first = during[0]
    top_users = [c.name for c in first.top_contributors if c.dimension == "user"]
    assert first.user == incident.user or top_users[:1] == [incident.user]
    assert first_at - incident.start <= 30 * 60
    assert {f.user for _, f in during if f.user is not None} <= {incident.user}


def test_price_switch_is_a_cost_finding() -> None:
    start = MONDAY + 3 * DAY + 10 * 3600

    def price(ts: float) -> float:
        return 10.0 if ts >= start else 1.0

    findings = run(
        UsageDetector("search", SETTINGS), team_windows(days=4, seed=5, price_boost=price)
    )
    kinds = {f.kind for _, f in findings}
    assert "model_cost_shift" in kinds
    costs = [f for _, f in findings if f.kind == "model_cost_shift"]
    assert max(f.observed / f.expected for f in costs) > 5
    assert ("model", "pricey") in {(c.dimension, c.name) for c in costs[0].top_contributors}


def test_a_switch_to_a_model_four_times_the_price_is_found_within_ten_minutes() -> None:
    """Over half an hour, a 4x switch doubles the cost per token after about 12 minutes; over
    the fast horizon (a quarter of an hour) after about 6."""
    start = MONDAY + 3 * DAY + 10 * 3600

    def price(ts: float) -> float:
        return 4.0 if ts >= start else 1.0

    windows = team_windows(days=4, seed=5, users=8, price_boost=price)
    findings = run(UsageDetector("search", SETTINGS), windows)
    costs = [at for at, f in findings if f.kind == "model_cost_shift"]
    assert costs, "the switch was not found"
    assert start < costs[0] <= start + 10 * 60


def test_two_users_on_a_pricier_model_are_not_a_team_switching_models() -> None:
    """Two of eight users move to a model three times the price: the team's cost per token
    rises by about half. Spread over two people it passes the gates on who pays more, but a
    switch to an expensive model at least doubles what the team pays per token."""
    start = MONDAY + 3 * DAY + 10 * 3600

    def two_users(user: str, ts: float) -> float:
        return 3.0 if ts >= start and user in ("user0", "user1") else 1.0

    windows = team_windows(days=4, seed=6, users=8, user_price_boost=two_users)
    findings = run(UsageDetector("search", SETTINGS), windows)
    assert [f for _, f in findings if f.kind == "model_cost_shift"] == []


def holiday_on_thursday(user: str, ts: float) -> float:
    """A public holiday: the team works at an eighth of its usual rate all Thursday."""
    return 0.12 if MONDAY + 3 * DAY <= ts < MONDAY + 4 * DAY else 1.0


def test_a_team_switching_models_on_a_holiday_is_a_cost_finding() -> None:
    """On a holiday the few people at work move to a model six times the price. The team's
    spend stays below a working day's, and a minute rarely holds two of its users, yet everyone
    at work pays six times their usual per token."""
    start = MONDAY + 3 * DAY + 10 * 3600

    def price(ts: float) -> float:
        return 6.0 if ts >= start else 1.0

    windows = team_windows(days=4, seed=5, users=4, boost=holiday_on_thursday, price_boost=price)
    findings = run(UsageDetector("search", SETTINGS), windows)
    costs = [at for at, f in findings if f.kind == "model_cost_shift"]
    assert costs, "the switch was not found"
    assert start < costs[0] <= start + 3600


def test_one_user_on_an_expensive_model_on_a_holiday_is_not_a_switch() -> None:
    """One of the few people at work on a holiday tries a model ten times the price: the team's
    cost per token jumps, but one person trying a model is not a team switching."""
    start = MONDAY + 3 * DAY + 10 * 3600

    def one_user(user: str, ts: float) -> float:
        return 10.0 if ts >= start and user == "user0" else 1.0

    windows = team_windows(
        days=4, seed=5, users=4, boost=holiday_on_thursday, user_price_boost=one_user
    )
    findings = run(UsageDetector("search", SETTINGS), windows)
    assert [f for _, f in findings if f.kind == "model_cost_shift"] == []


def test_factory_restores_what_it_created() -> None:
    factory = default_factory(warmup_seconds=DAY)
    assert isinstance(factory, UsageDetectorFactory)
    detector = factory.create("search")
    for window in team_windows(days=1.5, seed=6):
        detector.update(window)
    restored = factory.restore("search", detector.to_state())
    assert restored.to_state() == detector.to_state()


def test_a_team_first_seen_at_a_weekend_and_a_holiday_waits_for_working_days() -> None:
    def holiday(user: str, ts: float) -> float:
        return 0.12 if MONDAY <= ts < MONDAY + DAY else 1.0

    detector = UsageDetector("search", UsageDetectorSettings())
    findings_on_tuesday = []
    for window in team_windows(days=6, start=MONDAY - 2 * DAY, boost=holiday):
        findings = detector.update(window)
        if MONDAY + DAY <= window.start < MONDAY + 2 * DAY:
            # Two calendar days old, but its only weekday so far was a holiday.
            assert not detector.established
            findings_on_tuesday += findings
    assert findings_on_tuesday == []
    assert detector.established  # Tuesday and Wednesday were working days


def test_an_established_team_stays_established_through_a_surge() -> None:
    def surge(user: str, ts: float) -> float:
        return 6.0 if MONDAY + 3 * DAY + 10 * 3600 <= ts < MONDAY + 3 * DAY + 15 * 3600 else 1.0

    detector = UsageDetector("search", UsageDetectorSettings())
    kinds = set()
    for window in team_windows(days=4, users=12, boost=surge):
        findings = detector.update(window)
        if window.start >= MONDAY + 3 * DAY:
            assert detector.established
            kinds |= {finding.kind for finding in findings}
    assert "team_surge" in kinds or "slow_ramp" in kinds


def test_a_surge_stays_one_alarm_while_its_people_take_turns() -> None:
    """Eight people at four times their pace: in a given minute only one or two of them are
    beyond their own range, so the rule that a team finding needs two such people would break
    the alarm every few minutes. While the team is in alarm, anyone beyond their range within
    the short horizon counts (the previous code broke this alarm after two windows). An alert
    needs a finding held for two windows in a row; from the first such pair on, no two windows
    in a row pass without a team finding, and the team has an alert firing until the surge
    ends. (A single window may pass without one: the two-hour horizon's "not one person's
    excess" reads the users of the window, which in a team of eight can be one or none; the
    lifecycle holds an alert through it.)"""
    start = MONDAY + 3 * DAY + 11 * 3600
    end = start + 2 * 3600

    def surge(user: str, ts: float) -> float:
        return 0.4 * (4.0 if start <= ts < end else 1.0)

    detector = UsageDetector("search", UsageDetectorSettings())
    lifecycle = TeamAlertLifecycle("search")
    flags, firing = [], []
    for window in team_windows(days=4, users=8, boost=surge, seed=4):
        findings = [finding for finding in detector.update(window) if finding.user is None]
        lifecycle.decide(window.start, window.end, window.end, findings)
        if start <= window.start < end:
            flags.append(bool(findings))
            firing.append(bool(lifecycle.firing_keys))
    first = next(i for i in range(len(flags) - 1) if flags[i] and flags[i + 1])
    assert first < 40
    held = flags[first : first + 12]
    assert all(a or b for a, b in itertools.pairwise(held)), held
    assert all(firing[first + 1 :]), firing


def test_version_1_state_restores_as_established() -> None:
    import msgpack

    factory = UsageDetectorFactory(warmup_seconds=DAY)
    detector = factory.create("search")
    for window in team_windows(days=2):
        detector.update(window)
    plain = msgpack.unpackb(detector.to_state())
    plain["v"] = 1
    del plain["day_peaks"]
    restored = factory.restore("search", msgpack.packb(plain))
    assert restored.established
    assert restored._working_days_seen() >= 2


def halfway() -> tuple[UsageDetectorFactory, UsageDetector, list[WindowSummary]]:
    """A factory, a detector fed the first half of three days of windows, and the windows."""
    factory = UsageDetectorFactory(warmup_seconds=DAY)
    detector = factory.create("search")
    windows = list(team_windows(days=3))
    for window in windows[: len(windows) // 2]:
        detector.update(window)
    return factory, detector, windows


def test_version_3_state_restores_with_empty_day_volumes() -> None:
    """State written before day volumes (version 3) restores; users and the team start
    counting their days from the restore."""
    import msgpack

    factory, detector, windows = halfway()
    plain = msgpack.unpackb(detector.to_state())
    assert any(u[9][6] >= 1 for u in plain["users"].values())  # days were counted
    plain["v"] = 3
    del plain["day_tail"]
    plain["users"] = {name: u[:9] for name, u in plain["users"].items()}
    restored = factory.restore("search", msgpack.packb(plain))
    assert all(u.day_volume.days_done == 0 for u in restored.users.values())
    assert restored.day_volume.days_done == 0
    for window in windows[len(windows) // 2 :]:
        restored.update(window)
    assert restored.day_volume.days_done >= 1


def test_version_4_state_restores_with_an_empty_context_tail() -> None:
    """State written before the context-size statistic (version 4) restores: the team's tail of
    it starts from its prior and users start smoothing their context sizes from the restore."""
    import msgpack

    factory, detector, windows = halfway()
    detector.context_tail.learn(5.0)
    plain = msgpack.unpackb(detector.to_state())
    assert any(u[10][0] != 0.0 for u in plain["users"].values())  # sizes were smoothed
    plain["v"] = 4
    del plain["context_tail"]
    plain["users"] = {name: u[:10] for name, u in plain["users"].items()}
    restored = factory.restore("search", msgpack.packb(plain))
    fresh = factory.create("search").context_tail
    assert (restored.context_tail.quantile, restored.context_tail.excess) == (
        fresh.quantile,
        fresh.excess,
    )
    assert all(u.context_short == 0.0 for u in restored.users.values())
    for window in windows[len(windows) // 2 :]:
        restored.update(window)
    assert any(u.context_short != 0.0 for u in restored.users.values())


def test_version_7_state_restores_with_empty_fast_cost_rates() -> None:
    """State written before the switch's fast horizon (version 7) restores: the team's and its
    users' cost and tokens over that horizon start from zero and fill from the restore."""
    import msgpack

    factory, detector, windows = halfway()
    plain = msgpack.unpackb(detector.to_state())
    assert plain["price"][3][0] > 0.0
    assert any(u[12][0] > 0.0 for u in plain["users"].values())
    plain["v"] = 7
    plain["price"] = plain["price"][:3]
    plain["users"] = {name: u[:12] for name, u in plain["users"].items()}
    restored = factory.restore("search", msgpack.packb(plain))
    assert restored.cost_fast == [0.0, 0.0]
    assert all(u.spend_fast == [0.0, 0.0] for u in restored.users.values())
    assert restored.cost_tokens_rate == detector.cost_tokens_rate
    for window in windows[len(windows) // 2 :]:
        restored.update(window)
    assert restored.cost_fast[0] > 0.0
    assert any(u.spend_fast[1] > 0.0 for u in restored.users.values())


def test_version_8_state_restores_with_no_user_recently_beyond_their_range() -> None:
    """State written before users kept when they were last beyond their range (version 8)
    restores as if none had been; the team marks them again from the restore."""
    import msgpack

    factory, detector, windows = halfway()
    plain = msgpack.unpackb(detector.to_state())
    assert len(next(iter(plain["users"].values()))) == 15
    plain["v"] = 8
    plain["users"] = {name: u[:13] for name, u in plain["users"].items()}
    restored = factory.restore("search", msgpack.packb(plain))
    assert all(u.elevated_at == -math.inf for u in restored.users.values())
    middle = windows[len(windows) // 2].start

    def busy_user0(user: str, ts: float) -> float:
        return 10.0 if user == "user0" and ts >= middle else 1.0

    for window in team_windows(days=3, boost=busy_user0):
        if window.start >= middle:
            restored.update(window)
    assert restored.users["user0"].elevated_at > middle


def test_version_9_state_restores_weekdays_worked_from_the_active_hours() -> None:
    """State written before users counted the weekdays they worked (version 9) restores each
    user with the most days they were active in one weekday hour: as many weekdays as they are
    known to have worked, so people already judged on their own range stay so."""
    import msgpack

    factory, detector, _ = halfway()
    assert all(u.working_days >= 2 for u in detector.users.values())
    plain = msgpack.unpackb(detector.to_state())
    plain["v"] = 9
    plain["users"] = {name: u[:14] for name, u in plain["users"].items()}
    restored = factory.restore("search", msgpack.packb(plain))
    for name, user in restored.users.items():
        assert user.working_days == max(detector.users[name].active_days[:24])
        assert 2 <= user.working_days <= detector.users[name].working_days


def test_a_person_who_joins_on_a_saturday_is_not_news_on_their_first_monday() -> None:
    """A newcomer's first days are a weekend of a few small requests; on Monday they work like
    their colleagues. Two days from first sight, with a tail learned from the weekend, that
    Monday is several times their range in an hour they have never worked: until they have
    worked two weekdays it is judged as a new person's is (only a runaway agent counts), and
    nothing is raised. Their first finding would otherwise come on Monday morning."""
    joined = MONDAY + 5 * DAY
    monday = MONDAY + 7 * DAY

    def boost(user: str, ts: float) -> float:
        if user != "user7":
            return 1.0
        if ts < joined:
            return 0.0
        return 2.0 if ts < monday else 1.0

    def small_weekend_requests(user: str, ts: float) -> float:
        return 0.3 if user == "user7" and ts < monday else 1.0

    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(
        users=8, days=9, seed=4, boost=boost, context_boost=small_weekend_requests
    )
    findings = run(detector, windows)
    newcomer = detector.users["user7"]
    assert newcomer.first_seen >= joined and newcomer.knows_its_tail()
    assert [(at, f.kind) for at, f in findings if f.user == "user7"] == []
    assert [f for _, f in findings] == []
    assert newcomer.working_days == 2  # Monday and Tuesday


def test_a_sparse_users_runaway_agent_is_caught_before_their_tail_is_known() -> None:
    """A user active in about one minute in a hundred has a young tail for weeks; a runaway
    agent of theirs (dozens of requests a minute with ten times their usual context) is still
    theirs to answer for, while the same volume at their usual context is not judged yet."""
    burst_start = MONDAY + 2 * DAY + 10.5 * 3600

    def in_burst(user: str, ts: float) -> bool:
        return user == "user0" and burst_start <= ts < burst_start + 15 * 60

    def boost(user: str, ts: float) -> float:
        if user != "user0":
            return 1.0
        return 40.0 / 0.2 if in_burst(user, ts) else 0.03

    def huge_contexts(user: str, ts: float) -> float:
        return 10.0 if in_burst(user, ts) else 1.0

    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=3, seed=5, boost=boost, context_boost=huge_contexts)
    findings = run(detector, windows)
    assert not detector.users["user0"].knows_its_tail()
    assert_caught_as_runaway_agent(findings, "user0", burst_start)
    plain = UsageDetector("search", SETTINGS)
    plain_findings = run(plain, team_windows(days=3, seed=5, boost=boost))
    assert [f for _, f in plain_findings if f.user == "user0"] == []


def test_a_nightly_jobs_first_weekend_runs_are_not_news() -> None:
    """A service account that runs for an hour every night has a young tail and no weekend
    profile on its first weekend: its usual weekday run is its range there too."""

    def boost(user: str, ts: float) -> float:
        if user != "user0":
            return 1.0
        from .streams import diurnal

        hour = (ts % DAY) / 3600.0
        return (30.0 if 1.0 <= hour < 2.0 else 0.0) / diurnal(ts)

    detector = UsageDetector("search", SETTINGS)
    findings = run(detector, team_windows(days=7, seed=7, boost=boost))
    assert not detector.users["user0"].knows_its_tail()
    assert [f for _, f in findings if f.user == "user0"] == []


def test_a_new_users_runaway_agent_is_judged_against_their_colleagues() -> None:
    """Two people join on Thursday morning and have no range of their own yet. A runaway agent
    of one of them three hours later (dozens of requests a minute with ten times their usual
    context) is beyond what any established colleague does at any hour, and is caught; the
    other's busy first day (three times their rate, at ordinary contexts) is not news, nor is
    the same burst at ordinary contexts."""
    joined = MONDAY + 3 * DAY + 8 * 3600
    burst_start = joined + 3 * 3600
    newcomers = ("user6", "user7")

    def in_burst(user: str, ts: float) -> bool:
        return user == "user6" and burst_start <= ts < burst_start + 15 * 60

    def boost(user: str, ts: float) -> float:
        if user not in newcomers:
            return 1.0
        if ts < joined:
            return 0.0
        if in_burst(user, ts):
            return 40.0 / 0.2
        return 3.0 if user == "user7" else 1.0

    def huge_contexts(user: str, ts: float) -> float:
        return 10.0 if in_burst(user, ts) else 1.0

    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(users=8, days=4, seed=9, boost=boost, context_boost=huge_contexts)
    findings = run(detector, windows)
    assert detector.users["user6"].first_seen >= joined
    assert not detector.users["user6"].knows_its_tail()
    assert_caught_as_runaway_agent(findings, "user6", burst_start)
    plain = UsageDetector("search", SETTINGS)
    plain_findings = run(plain, team_windows(users=8, days=4, seed=9, boost=boost))
    assert [f for _, f in plain_findings if f.user is not None] == []


def test_a_busy_users_agent_with_huge_contexts_at_their_usual_pace_is_caught() -> None:
    """A busy user (several requests a minute in the afternoon) whose agent keeps their usual
    pace but sends twelve times their usual context: requests are within their range and the
    token rate alone is a busy hour's, but the average request of the last minutes is far beyond
    anything the team's users send. The same pace at ordinary contexts is not news, nor are
    three minutes of large documents in an otherwise ordinary afternoon."""
    burst_start = MONDAY + 3 * DAY + 14 * 3600

    def boost(user: str, ts: float) -> float:
        return 8.0 if user == "user0" else 1.0

    def huge_contexts(user: str, ts: float) -> float:
        return 12.0 if user == "user0" and burst_start <= ts < burst_start + 15 * 60 else 1.0

    def a_few_documents(user: str, ts: float) -> float:
        return 3.0 if user == "user0" and burst_start <= ts < burst_start + 3 * 60 else 1.0

    detector = UsageDetector("search", SETTINGS)
    windows = team_windows(days=4, seed=13, boost=boost, context_boost=huge_contexts)
    findings = run(detector, windows)
    assert_caught_as_runaway_agent(findings, "user0", burst_start)
    first = next(f for _, f in findings if f.user == "user0")
    assert "their usual tokens per request" in first.summary
    for contexts in (lambda user, ts: 1.0, a_few_documents):
        plain = UsageDetector("search", SETTINGS)
        windows = team_windows(days=4, seed=13, boost=boost, context_boost=contexts)
        assert [f for _, f in run(plain, windows) if f.user is not None] == []


def test_cost_per_token_expectation_follows_what_the_team_pays() -> None:
    """The smoothed cost per token starts far too high (the cost's rate starts at its first
    window's amount, the token rate beside it from zero) and comes down over the cost's time
    constant. Learned from the first window, it set an expectation the team's later prices
    never reached (the series learns drops slowly, by design), which hides a later switch in
    those hours."""
    for seed in (3, 4):
        detector = UsageDetector("search", SETTINGS)
        worst = 0.0
        for window in team_windows(days=3, seed=seed):
            detector.update(window)
            if window.end < MONDAY + 2 * DAY:
                continue
            paid = detector._log_price(
                detector._families, detector.cost.rate, detector.cost_tokens_rate
            )
            expected, _ = detector.price.expected_at(window.end)
            worst = min(worst, paid - expected)
        assert worst > math.log(0.8), (seed, worst)


def _team_finding_times(  # type: ignore[no-untyped-def]
    boost, start: float, unit: float, days: float, users: int, seed: int
) -> list[float]:
    """Time after ``start``, in ``unit`` seconds, of each team finding of a team of ``users``
    whose paces ``boost`` sets."""
    detector = UsageDetector("identity", SETTINGS)
    return [
        (window.end - start) / unit
        for window in team_windows(days=days, users=users, boost=boost, seed=seed)
        for finding in detector.update(window)
        if finding.user is None
    ]


def _one_busy_person_team(surging: tuple[str, ...], seed: int) -> list[float]:
    """Minutes after the surge's start of each team finding, in a team of three in which user0
    sends nine in ten requests and the other two a few an hour (too few by the Wednesday to
    know their own range): the ``surging`` users go at four times their pace for four hours from
    the team's first Wednesday's noon."""
    start = MONDAY + 2 * DAY + 12 * 3600
    pace = {"user0": 6.0, "user1": 0.15, "user2": 0.15}

    def boost(user: str, ts: float) -> float:
        up = user in surging and start <= ts < start + 4 * 3600
        return pace[user] * (4.0 if up else 1.0)

    return _team_finding_times(boost, start, 60.0, days=3, users=3, seed=seed)


def test_a_surge_of_a_team_one_person_does_most_of_is_the_teams() -> None:
    """Everyone at four times their pace: the two people beyond their own range in one minute
    that a team finding needs do not exist here, but the others are, together, above their
    usual rates. The others' usual rate is an hour's typical peak of their five-minute rate,
    so the test leans towards "one person's": four of six seeds are found during the surge (the
    code before found none)."""
    firsts = [_one_busy_person_team(("user0", "user1", "user2"), seed)[:1] for seed in range(1, 7)]
    assert all(0.0 <= first[0] <= 240.0 for first in firsts if first)
    assert sum(1 for first in firsts if first) >= 4, firsts


def test_that_person_alone_at_four_times_raises_no_team_finding() -> None:
    for seed in range(1, 7):
        assert _one_busy_person_team(("user0",), seed) == []


def _one_busy_person_ramp(ramping: tuple[str, ...], seed: int) -> list[float]:
    """Hours after the ramp's start of each minute with a team finding, in a team of five in
    which user0 sends about three in five requests: the ``ramping`` users climb from their pace
    to four times it over a day from the team's first Thursday at 09:00, and stay there."""
    start = MONDAY + 3 * DAY + 9 * 3600
    pace = {"user0": 3.0, "user1": 0.4, "user2": 0.4, "user3": 0.4, "user4": 0.4}

    def boost(user: str, ts: float) -> float:
        climbed = min(1.0, max(0.0, (ts - start) / DAY))
        return pace[user] * (1.0 + 3.0 * climbed if user in ramping else 1.0)

    return _team_finding_times(boost, start, 3600.0, days=5, users=5, seed=seed)


def test_a_ramp_of_a_team_one_person_does_most_of_holds_through_its_plateau() -> None:
    """Everyone at four times their pace by the Friday: in a minute of this team one or two
    people are active, and the users' own ranges have followed the climb, so "not one person's
    excess" read from the minute's users breaks the ramp's finding again and again. Read over
    the last two hours, the others together are far above their usual for those hours, and the
    finding holds through every minute of the plateau's busiest hours (the code before dropped
    it in 19 to 25 of those 240 minutes on each of these seeds)."""
    everyone = ("user0", "user1", "user2", "user3", "user4")
    for seed in (1, 2, 3):
        minutes = [at for at in _one_busy_person_ramp(everyone, seed) if 26 <= at < 30]
        assert len(minutes) == 4 * 60, (seed, len(minutes))


def test_that_person_alone_ramping_raises_no_team_finding() -> None:
    for seed in (1, 2, 3):
        assert _one_busy_person_ramp(("user0",), seed) == []
