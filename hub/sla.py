"""The SLA clock of one case (办件时限): a pure function of its event history.

Rules (DOMAIN.md, "Clock and alerts"; 行政许可法第四十二条、第四十五条):

- The clock starts on the day of acceptance (code 3) and counts working days on the office
  calendar, 次日起算: the acceptance day itself is not counted (see `hub.calendar`).
- 补正 (6 → 7) stops the clock until the supplement arrives; 特别程序 (9 → 10: hearing,
  expert review, inspection) pauses it and its days are subtracted. Both work the same
  way: a working day inside a pause is not used. The day a pause starts still counts (the
  officer worked on the case that day); the day it ends does not (counting resumes the
  next day, 次日起算 again).
- Every pause is subtracted, however many rounds there are, and overlapping pauses are
  subtracted once. A 补正 requested before acceptance (预审) does not touch the clock; if it
  is still open when the case is accepted, the clock starts paused. (OpenCPS #1254: there
  only the last round was added back, so the second 补正 made cases overdue.)
- A pause that starts after the deadline has passed does not move the deadline: a
  supplement request cannot cure lateness.
- The clock stops at 办结 (11/12/13), withdrawal (2/14/15) or 不受理/不予受理 (4/5).
  Later events (送达 16, a 撤销 after 办结) do not restart it.

Events after `now` are ignored, so the clock can be computed "as of" any moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hub.calendar import CalendarError, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")

ACCEPTED = 3
STOP_CODES = frozenset({2, 4, 5, 11, 12, 13, 14, 15})
PAUSE_STARTS = {6: "补正", 9: "特别程序"}
PAUSE_ENDS = {7: "补正", 10: "特别程序"}

NOT_STARTED = "not_started"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"


@dataclass(frozen=True)
class Clock:
    """Where a case stands against its promised time limit.

    `working_days_used` excludes paused days. `working_days_left` is promised minus used,
    negative when overdue; on a weekend or holiday just after the deadline, when no
    further working day has been used yet, it is -1 (the case is late all the same).
    `deadline` is the last working day of the promised limit; while a pause is open it is
    the date the limit would end if the pause ended today. `warning` is only raised while
    the clock runs. `overdue` for a stopped case means it stopped after the deadline.
    """

    state: str
    pause_reason: str | None
    accepted_on: date | None
    deadline: date | None
    working_days_used: int
    working_days_left: int | None
    paused_working_days: int
    warning: bool
    overdue: bool
    finished_on: date | None
    stop_code: int | None
    legal_deadline: date | None = None
    legal_overdue: bool = False


@dataclass
class _Pause:
    reason: str
    start: date
    end: date | None  # None while open


def _local_date(at: datetime) -> date:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("event times must be timezone-aware (Asia/Shanghai)")
    return at.astimezone(SHANGHAI).date()


def _ordered(events: Iterable[tuple[int, datetime]], now: datetime) -> list[tuple[int, date]]:
    # Stable sort by instant: events recorded in the same second keep their given order.
    timed = [(int(code), at) for code, at in events]
    for _, at in timed:
        _local_date(at)  # refuse naive times before comparing them
    timed.sort(key=lambda item: item[1])
    return [(code, _local_date(at)) for code, at in timed if at <= now]


def _deadline(calendar: WorkCalendar, accepted: date, days: int, paused: set[date]) -> date:
    """The working day on which the `days`-th unpaused working day after `accepted` ends.

    `paused` holds only days up to the reference date: later pauses are not known yet.
    """
    if days == 0:
        return accepted
    counted = 0
    for day in calendar.working_days_after(accepted):
        if day in paused:
            continue
        counted += 1
        if counted == days:
            return day
    raise CalendarError(
        f"从 {accepted} 起的 {days} 个工作日超出了工作日历（只到 {calendar.last_year} 年），"
        f"请按国务院办公厅的放假通知补充 {calendar.last_year + 1} 年的日历文件"
    )


def compute_clock(
    promised_days: int,
    events: Sequence[tuple[int, datetime]],
    now: datetime,
    calendar: WorkCalendar,
    warn_days: int = 2,
    *,
    legal_days: int | None = None,
) -> Clock:
    """Compute the clock of one case from its lifecycle events.

    `promised_days` is the promised limit in working days (0 for 即办件: due on the day of
    acceptance), `legal_days` the statutory limit if the caller wants it checked too.
    `events` are ``(code, at)`` pairs with timezone-aware times (converted to
    Asia/Shanghai dates). `warning` is raised while running with at most `warn_days`
    working days left. Raises `hub.calendar.CalendarError` for dates outside the calendar.
    """
    if promised_days < 0 or warn_days < 0 or (legal_days is not None and legal_days < 0):
        raise ValueError("time limits must not be negative")
    today = _local_date(now)
    ordered = _ordered(events, now)

    accepted: date | None = None
    stopped: date | None = None
    stop_code: int | None = None
    pauses: list[_Pause] = []
    open_pauses: dict[str, _Pause] = {}
    for code, day in ordered:
        if stopped is not None:
            break
        if code == ACCEPTED and accepted is None:
            accepted = day
        elif code in PAUSE_STARTS:
            reason = PAUSE_STARTS[code]
            if reason not in open_pauses:  # a repeated start continues the open pause
                open_pauses[reason] = _Pause(reason, day, None)
                pauses.append(open_pauses[reason])
        elif code in PAUSE_ENDS:
            pause = open_pauses.pop(PAUSE_ENDS[code], None)
            if pause is not None:  # an end without a start changes nothing
                pause.end = day
        elif code in STOP_CODES:
            stopped, stop_code = day, code

    if accepted is None:
        return Clock(
            state=STOPPED if stopped else NOT_STARTED,
            pause_reason=None,
            accepted_on=None,
            deadline=None,
            working_days_used=0,
            working_days_left=None,
            paused_working_days=0,
            warning=False,
            overdue=False,
            finished_on=stopped,
            stop_code=stop_code,
        )

    reference = stopped or today
    # Working days inside a pause, from acceptance on (a pre-acceptance 补正 is clipped).
    paused: set[date] = set()
    for pause in pauses:
        first = max(pause.start, accepted)
        last = min(pause.end or reference, reference)
        if last > first:
            paused.update(d for d in calendar.working_days_after(first) if d <= last)
    used = calendar.working_days_between(accepted, reference) - len(paused)

    deadline = _deadline(calendar, accepted, promised_days, paused)
    # Pauses that began after the deadline do not move it (see module docstring).
    overdue = reference > deadline
    left = promised_days - used
    if overdue and left >= 0:
        left = -1

    legal_deadline = None
    legal_overdue = False
    if legal_days is not None:
        legal_deadline = _deadline(calendar, accepted, legal_days, paused)
        legal_overdue = reference > legal_deadline

    open_now = [p for p in pauses if p.end is None] if stopped is None else []
    if stopped is not None:
        state, pause_reason = STOPPED, None
    elif open_now:
        state = PAUSED
        pause_reason = max(open_now, key=lambda p: p.start).reason
    else:
        state, pause_reason = RUNNING, None

    return Clock(
        state=state,
        pause_reason=pause_reason,
        accepted_on=accepted,
        deadline=deadline,
        working_days_used=used,
        working_days_left=left,
        paused_working_days=len(paused),
        warning=state == RUNNING and not overdue and left <= warn_days,
        overdue=overdue,
        finished_on=stopped,
        stop_code=stop_code,
        legal_deadline=legal_deadline,
        legal_overdue=legal_overdue,
    )
