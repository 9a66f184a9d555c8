"""The office calendar: published holiday facts, counting across holidays and 调休, refusals."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from hub.calendar import DATA_DIR, CalendarError, WorkCalendar, read_year_file

D = date


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load()


# (date, working?, holiday name or the holiday a 调休 day makes up for)
FACTS = [
    (D(2025, 1, 1), False, "元旦"),
    (D(2025, 1, 26), True, "春节"),  # Sunday, 调休上班
    (D(2025, 1, 28), False, "春节"),  # 除夕, a holiday from 2025
    (D(2025, 2, 4), False, "春节"),
    (D(2025, 2, 5), True, None),
    (D(2025, 2, 8), True, "春节"),  # Saturday, 调休上班
    (D(2025, 4, 4), False, "清明节"),
    (D(2025, 4, 27), True, "劳动节"),  # Sunday, 调休上班
    (D(2025, 5, 2), False, "劳动节"),  # the second statutory 劳动节 day since 2025
    (D(2025, 5, 5), False, "劳动节"),
    (D(2025, 5, 31), False, "端午节"),
    (D(2025, 9, 28), True, "国庆节、中秋节"),
    (D(2025, 10, 9), True, None),
    (D(2025, 10, 11), True, "国庆节、中秋节"),  # Saturday, 调休上班
    (D(2025, 10, 12), False, None),  # an ordinary Sunday
    (D(2026, 1, 1), False, "元旦"),
    (D(2026, 1, 2), False, "元旦"),
    (D(2026, 1, 4), True, "元旦"),  # Sunday, 调休上班
    (D(2026, 2, 14), True, "春节"),
    (D(2026, 2, 24), True, None),
    (D(2026, 2, 28), True, "春节"),
    (D(2026, 4, 6), False, "清明节"),
    (D(2026, 5, 9), True, "劳动节"),
    (D(2026, 6, 19), False, "端午节"),
    (D(2026, 9, 20), True, "国庆节"),
    (D(2026, 9, 25), False, "中秋节"),
    (D(2026, 10, 7), False, "国庆节"),
    (D(2026, 10, 8), True, None),
    (D(2026, 10, 10), True, "国庆节"),
    (D(2027, 2, 5), False, "春节"),  # 除夕 2027 (provisional file)
    (D(2027, 10, 4), False, "国庆节"),
    *[(D(2025, 10, d), False, "国庆节、中秋节") for d in range(1, 9)],  # 1–8 Oct 2025 off
    *[(D(2026, 2, d), False, "春节") for d in range(15, 24)],  # 15–23 Feb 2026 off
]


@pytest.mark.parametrize(("day", "working", "name"), FACTS, ids=str)
def test_published_holidays_and_adjusted_weekends(cal, day, working, name):
    info = cal.describe(day)
    assert cal.is_working_day(day) is working
    assert (info.adjusted_for if working else info.holiday) == name


def test_weekday_anchors_of_the_files_match_the_real_calendar():
    # The notices name weekdays; these anchor the files to them.
    assert D(2026, 1, 1).strftime("%A") == "Thursday"
    assert D(2025, 1, 26).strftime("%A") == "Sunday"
    assert D(2025, 1, 28).strftime("%A") == "Tuesday"  # 除夕（周二）
    assert D(2026, 2, 15).strftime("%A") == "Sunday"  # 腊月二十八（周日）


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_each_year_gives_exactly_the_thirteen_statutory_days(year):
    # 全国年节及纪念日放假办法 (2024): 13 statutory days; one falling on a weekend is
    # made up on a weekday, and every other weekday off is paid back by a 调休 weekend.
    # So weekday days off minus 调休 working days is 13 whenever no two festivals share
    # a date (true for these years).
    f = read_year_file(DATA_DIR / f"{year}.yaml")
    weekday_off = {
        span.first + timedelta(days=i)
        for span in f.holidays
        for i in range((span.last - span.first).days + 1)
        if (span.first + timedelta(days=i)).weekday() < 5
    }
    assert len(weekday_off) - len(f.adjusted_workdays) == 13


def test_2025_has_248_working_days(cal):
    # (1 Jan, 31 Dec]: 1 January is 元旦, so nothing is lost by leaving it out.
    assert cal.working_days_between(D(2025, 1, 1), D(2025, 12, 31)) == 248


def test_only_2027_is_provisional(cal):
    assert (cal.first_year, cal.last_year) == (2025, 2027)
    assert cal.provisional_years == (2027,)
    assert cal.is_provisional(2027) and not cal.is_provisional(2026)


ADD = [
    # start, n, expected — 次日起算: the start day is never counted
    (D(2025, 9, 30), 1, D(2025, 10, 9)),  # across 国庆/中秋
    (D(2025, 9, 26), 1, D(2025, 9, 28)),  # the 调休 Sunday counts
    (D(2025, 9, 26), 3, D(2025, 9, 30)),
    (D(2025, 1, 24), 3, D(2025, 2, 5)),  # 26 Jan (Sun, worked), 27 Jan, then after 春节
    (D(2025, 10, 4), 1, D(2025, 10, 9)),  # a start on a holiday counts from the next working day
    (D(2025, 10, 12), 1, D(2025, 10, 13)),  # a start on a Sunday likewise
    (D(2025, 12, 31), 1, D(2026, 1, 4)),  # across the year end onto a 调休 Sunday
    (D(2026, 2, 13), 1, D(2026, 2, 14)),
    (D(2026, 2, 13), 2, D(2026, 2, 24)),  # across the 2026 Spring Festival
    (D(2026, 9, 18), 20, D(2026, 10, 22)),  # worked by hand through 中秋 and 国庆
    (D(2026, 9, 18), 0, D(2026, 9, 18)),  # 即办件
    (D(2026, 10, 3), 0, D(2026, 10, 3)),
]


@pytest.mark.parametrize(("start", "n", "expected"), ADD, ids=str)
def test_add_working_days(cal, start, n, expected):
    assert cal.add_working_days(start, n) == expected
    assert cal.working_days_between(start, expected) == n


def test_counting_back_and_forth_agrees_over_three_years(cal):
    day = D(2025, 1, 1)
    while day < D(2027, 11, 1):
        for n in (1, 5, 20):
            end = cal.add_working_days(day, n)
            assert cal.working_days_between(day, end) == n
            assert cal.working_days_between(end, day) == -n
            assert cal.is_working_day(end)
        day += timedelta(days=3)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_working_day(D(2028, 1, 3)),
        lambda c: c.is_working_day(D(2024, 12, 31)),
        lambda c: c.add_working_days(D(2027, 12, 20), 20),
        lambda c: c.working_days_between(D(2027, 12, 1), D(2028, 1, 5)),
    ],
    ids=["after-last-year", "before-first-year", "count-runs-past-2027", "span-into-2028"],
)
def test_refuses_dates_outside_the_known_years(cal, call):
    with pytest.raises(CalendarError) as info:
        call(cal)
    message = str(info.value)
    assert "日历" in message and ("补充" in message)


def test_loading_a_year_without_a_file_is_refused():
    with pytest.raises(CalendarError, match="2028"):
        WorkCalendar.load(years=[2027, 2028])


def test_loading_only_some_years_limits_the_range():
    cal = WorkCalendar.load(years=[2025])
    assert (cal.first_year, cal.last_year) == (2025, 2025)
    with pytest.raises(CalendarError, match="2026"):
        cal.is_working_day(D(2026, 1, 5))


def _write(dir_: Path, year: int, body: str) -> None:
    (dir_ / f"{year}.yaml").write_text(body, encoding="utf-8")


GOOD_2030 = """year: 2030
source: test
holidays:
  - {name: 元旦, first: 2030-01-01, last: 2030-01-01}
adjusted_workdays:
  - {date: 2030-01-05, holiday: 元旦}
"""


def test_a_gap_between_years_is_refused(tmp_path):
    _write(tmp_path, 2030, GOOD_2030)
    _write(tmp_path, 2032, GOOD_2030.replace("2030", "2032").replace("01-05", "01-03"))
    with pytest.raises(CalendarError, match="缺少 2031"):
        WorkCalendar.load(directory=tmp_path)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (GOOD_2030.replace("2030-01-05", "2030-01-07"), "周一"),  # a Monday as 调休上班
        (GOOD_2030.replace("source: test", "source: test\nnote: x"), "note"),  # unknown key
        (GOOD_2030.replace("last: 2030-01-01", "last: 2029-12-31"), "早于"),
        (GOOD_2030.replace("2030", "2031"), "文件名"),
        (GOOD_2030.replace("last: 2030-01-01", "last: 2030-01-06"), "同时"),
        ("year: [", "无法读取"),
    ],
    ids=["weekday-adjusted", "unknown-key", "reversed-span", "wrong-year", "both", "bad-yaml"],
)
def test_a_wrong_year_file_is_refused_with_the_reason(tmp_path, body, words):
    _write(tmp_path, 2030, body)
    with pytest.raises(CalendarError) as info:
        WorkCalendar.load(directory=tmp_path)
    assert "2030.yaml" in str(info.value) and words in str(info.value)


def test_a_small_directory_calendar_works(tmp_path):
    _write(tmp_path, 2030, GOOD_2030)
    cal = WorkCalendar.load(directory=tmp_path)
    assert not cal.is_working_day(D(2030, 1, 1))
    assert cal.is_working_day(D(2030, 1, 5))  # Saturday, 调休上班
    assert cal.add_working_days(D(2030, 1, 1), 3) == D(2030, 1, 4)
