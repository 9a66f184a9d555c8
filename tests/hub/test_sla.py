"""The SLA clock: deadlines across holidays and 调休, pauses for 补正 and 特别程序, flags."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from hub.calendar import CalendarError, WorkCalendar
from hub.sla import SHANGHAI, compute_clock

D = date


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load()


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def ev(*pairs: tuple[int, date]) -> list[tuple[int, datetime]]:
    # Events on one day get increasing hours so their order is the written order.
    return [(code, at(day, 9 + i)) for i, (code, day) in enumerate(pairs)]


def test_deadline_runs_across_the_national_day_holiday(cal):
    # Accepted Tue 30 Sep 2025; 9, 10 Oct, Sat 11 Oct (调休), 13, 14 Oct.
    clock = compute_clock(5, ev((1, D(2025, 9, 30)), (3, D(2025, 9, 30))), at(D(2025, 10, 9)), cal)
    assert clock.state == "running"
    assert clock.deadline == D(2025, 10, 14)
    assert (clock.working_days_used, clock.working_days_left) == (1, 4)
    assert not clock.warning and not clock.overdue


def test_deadline_counts_the_adjusted_working_saturday_before_spring_festival(cal):
    # Accepted Thu 12 Feb 2026: Fri 13, Sat 14 (调休上班), then 24 Feb after 春节.
    clock = compute_clock(3, ev((3, D(2026, 2, 12))), at(D(2026, 2, 16)), cal)
    assert clock.deadline == D(2026, 2, 24)
    assert clock.working_days_used == 2


@pytest.mark.parametrize(
    ("finished", "left", "overdue"),
    [(D(2025, 11, 14), 0, False), (D(2025, 11, 17), -1, True)],
    ids=["on-time", "a-day-late"],
)
def test_two_supplement_rounds_do_not_make_a_case_overdue(cal, finished, left, overdue):
    # Promised 5 from Mon 3 Nov 2025 → 10 Nov without pauses. Round one pauses 5–6 Nov,
    # round two 11–12 Nov: both are added back, so 14 Nov is on time. Adding back only
    # the last round (OpenCPS #1254) would give 12 Nov and an overdue case.
    events = ev(
        (3, D(2025, 11, 3)),
        (6, D(2025, 11, 4)),
        (7, D(2025, 11, 6)),
        (6, D(2025, 11, 10)),
        (7, D(2025, 11, 12)),
        (11, finished),
    )
    clock = compute_clock(5, events, at(D(2025, 11, 20)), cal)
    assert clock.state == "stopped"
    assert clock.paused_working_days == 4
    assert clock.deadline == D(2025, 11, 14)
    assert clock.finished_on == finished
    assert clock.working_days_left == left
    assert clock.overdue is overdue


def test_a_supplement_finished_before_acceptance_does_not_touch_the_clock(cal):
    events = ev((1, D(2025, 11, 3)), (6, D(2025, 11, 3)), (7, D(2025, 11, 5)), (3, D(2025, 11, 6)))
    clock = compute_clock(5, events, at(D(2025, 11, 7)), cal)
    assert clock.accepted_on == D(2025, 11, 6)
    assert clock.paused_working_days == 0
    assert clock.deadline == D(2025, 11, 13)
    assert clock.state == "running"


def test_a_supplement_still_open_at_acceptance_starts_the_clock_paused(cal):
    events = ev((1, D(2025, 11, 3)), (6, D(2025, 11, 3)), (3, D(2025, 11, 4)))
    paused = compute_clock(5, events, at(D(2025, 11, 5)), cal)
    assert (paused.state, paused.pause_reason) == ("paused", "补正")
    assert paused.working_days_used == 0
    # Supplement arrives Thu 6 Nov: 5 and 6 Nov are paused, counting resumes on 7 Nov.
    events.append((7, at(D(2025, 11, 6), 15)))
    resumed = compute_clock(5, events, at(D(2025, 11, 7)), cal)
    assert resumed.state == "running"
    assert resumed.paused_working_days == 2
    assert resumed.deadline == D(2025, 11, 13)


def test_special_procedure_days_are_subtracted(cal):
    # Promised 10 from Mon 2 Mar 2026 → 16 Mar; 特别程序 from Wed 4 to Wed 11 Mar pauses
    # 5, 6, 9, 10, 11 Mar, so the deadline moves five working days to 23 Mar.
    events = ev((3, D(2026, 3, 2)), (8, D(2026, 3, 3)), (9, D(2026, 3, 4)))
    during = compute_clock(10, events, at(D(2026, 3, 9)), cal)
    assert (during.state, during.pause_reason) == ("paused", "特别程序")
    assert (during.working_days_used, during.working_days_left) == (2, 8)
    assert not during.warning
    events.append((10, at(D(2026, 3, 11))))
    after = compute_clock(10, events, at(D(2026, 3, 12)), cal)
    assert after.state == "running"
    assert after.paused_working_days == 5
    assert after.deadline == D(2026, 3, 23)
    assert (after.working_days_used, after.working_days_left) == (3, 7)


def test_overlapping_pauses_are_subtracted_once(cal):
    events = ev(
        (3, D(2025, 11, 3)),
        (9, D(2025, 11, 4)),
        (6, D(2025, 11, 5)),
        (7, D(2025, 11, 6)),
        (10, D(2025, 11, 7)),
    )
    clock = compute_clock(5, events, at(D(2025, 11, 10)), cal)
    assert clock.paused_working_days == 3  # 5, 6, 7 Nov
    assert clock.deadline == D(2025, 11, 13)


@pytest.mark.parametrize(
    ("today", "used", "left", "warning", "overdue"),
    [
        (D(2025, 11, 3), 0, 5, False, False),  # acceptance day
        (D(2025, 11, 5), 2, 3, False, False),
        (D(2025, 11, 6), 3, 2, True, False),  # two days left: warn
        (D(2025, 11, 8), 4, 1, True, False),  # Saturday: nothing used
        (D(2025, 11, 10), 5, 0, True, False),  # deadline day
        (D(2025, 11, 11), 6, -1, False, True),
        (D(2025, 11, 14), 9, -4, False, True),
    ],
    ids=str,
)
def test_warning_and_overdue_flags(cal, today, used, left, warning, overdue):
    clock = compute_clock(5, ev((3, D(2025, 11, 3))), at(today, 16), cal)
    assert clock.deadline == D(2025, 11, 10)
    assert (clock.working_days_used, clock.working_days_left) == (used, left)
    assert (clock.warning, clock.overdue) == (warning, overdue)


def test_warn_days_is_configurable(cal):
    clock = compute_clock(5, ev((3, D(2025, 11, 3))), at(D(2025, 11, 5)), cal, warn_days=3)
    assert clock.warning


def test_the_weekend_after_a_friday_deadline_is_already_late(cal):
    clock = compute_clock(4, ev((3, D(2025, 11, 3))), at(D(2025, 11, 8)), cal)
    assert clock.deadline == D(2025, 11, 7)
    assert clock.overdue and clock.working_days_left == -1


def test_a_supplement_requested_after_the_deadline_does_not_cure_lateness(cal):
    events = ev((3, D(2025, 11, 3)), (6, D(2025, 11, 12)))
    clock = compute_clock(4, events, at(D(2025, 11, 14)), cal)
    assert clock.state == "paused"
    assert clock.deadline == D(2025, 11, 7)
    assert clock.overdue


@pytest.mark.parametrize(
    ("finished", "overdue"), [(D(2025, 11, 3), False), (D(2025, 11, 4), True)], ids=str
)
def test_an_on_the_spot_case_is_due_on_the_day_of_acceptance(cal, finished, overdue):
    events = ev((1, D(2025, 11, 3)), (3, D(2025, 11, 3)))
    events.append((11, at(finished, 17)))
    clock = compute_clock(0, events, at(D(2025, 11, 5)), cal)
    assert clock.deadline == D(2025, 11, 3)
    assert clock.overdue is overdue


def test_before_acceptance_the_clock_has_not_started(cal):
    clock = compute_clock(5, ev((1, D(2025, 11, 3)), (6, D(2025, 11, 3))), at(D(2025, 11, 20)), cal)
    assert clock.state == "not_started"
    assert clock.deadline is None and clock.working_days_left is None
    assert not clock.overdue and not clock.warning


@pytest.mark.parametrize("code", [2, 4, 5])
def test_a_case_closed_before_acceptance_is_stopped_without_deadline(cal, code):
    events = ev((1, D(2025, 11, 3)), (code, D(2025, 11, 4)))
    clock = compute_clock(5, events, at(D(2025, 12, 1)), cal)
    assert clock.state == "stopped"
    assert clock.deadline is None
    assert (clock.finished_on, clock.stop_code) == (D(2025, 11, 4), code)


@pytest.mark.parametrize("code", [11, 12, 13, 14, 15])
def test_the_clock_stops_at_the_end_of_the_case(cal, code):
    events = ev((3, D(2025, 11, 3)), (code, D(2025, 11, 5)), (16, D(2025, 11, 20)))
    clock = compute_clock(5, events, at(D(2025, 12, 1)), cal)
    assert clock.state == "stopped"
    assert clock.finished_on == D(2025, 11, 5)
    assert clock.working_days_used == 2
    assert not clock.overdue


def test_a_revocation_after_finishing_does_not_restart_the_clock(cal):
    events = ev((3, D(2025, 11, 3)), (11, D(2025, 11, 5)), (15, D(2025, 12, 20)))
    clock = compute_clock(5, events, at(D(2025, 12, 22)), cal)
    assert (clock.finished_on, clock.stop_code) == (D(2025, 11, 5), 11)


def test_events_after_now_are_ignored(cal):
    events = ev((3, D(2025, 11, 3)), (11, D(2025, 11, 7)))
    clock = compute_clock(5, events, at(D(2025, 11, 5)), cal)
    assert clock.state == "running" and clock.finished_on is None


def test_the_clock_is_a_pure_function_of_its_inputs(cal):
    events = ev(
        (1, D(2025, 11, 3)),
        (3, D(2025, 11, 3)),
        (6, D(2025, 11, 4)),
        (7, D(2025, 11, 6)),
        (9, D(2025, 11, 10)),
        (10, D(2025, 11, 12)),
    )
    now = at(D(2025, 11, 13))
    first = compute_clock(5, events, now, cal)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    assert compute_clock(5, shuffled, now, cal) == first
    assert compute_clock(5, list(events), now, cal) == first


def test_event_times_are_read_in_shanghai_time(cal):
    # 17:30 UTC on 3 Nov is 01:30 on 4 Nov in Shanghai.
    events = [(3, datetime(2025, 11, 3, 17, 30, tzinfo=UTC))]
    clock = compute_clock(5, events, datetime(2025, 11, 5, 3, tzinfo=UTC), cal)
    assert clock.accepted_on == D(2025, 11, 4)


def test_naive_times_are_refused(cal):
    with pytest.raises(ValueError, match="timezone"):
        compute_clock(5, [(3, datetime(2025, 11, 3, 10))], at(D(2025, 11, 5)), cal)


def test_the_legal_limit_is_tracked_beside_the_promise(cal):
    clock = compute_clock(5, ev((3, D(2025, 11, 3))), at(D(2025, 11, 12)), cal, legal_days=20)
    assert clock.overdue
    assert clock.legal_deadline == D(2025, 12, 1)
    assert not clock.legal_overdue


def test_a_deadline_beyond_the_calendar_is_refused_not_guessed(cal):
    with pytest.raises(CalendarError, match="2028"):
        compute_clock(20, ev((3, D(2027, 12, 20))), at(D(2027, 12, 21)), cal)


def test_a_long_case_computes_quickly(cal):
    # A case open for two years with a pause every fortnight stays cheap to compute.
    start = D(2025, 1, 6)
    events = [(3, at(start))]
    for week in range(0, 100, 2):
        day = start + timedelta(weeks=week, days=1)
        events += [(6, at(day)), (7, at(day + timedelta(days=2)))]
    clock = compute_clock(400, events, at(D(2026, 12, 30)), cal)
    assert clock.paused_working_days > 50
    assert clock.state == "running"
