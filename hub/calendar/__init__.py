"""The office working-day calendar: national holidays and adjusted working weekends (调休).

One YAML file per year sits beside this module (``2025.yaml`` …), transcribed from the
State Council General Office notice (国务院办公厅关于××年部分节假日安排的通知). A year
whose notice has not been published yet may be built from the statutory rules and is then
marked ``provisional: true``; `WorkCalendar.provisional_years` exposes that.

Counting convention: time limits are counted in working days without statutory holidays
(行政许可法第八十二条), and the starting day is not counted (民法典第二百零一条: 开始的当日
不计入，自下一日开始计算 — 次日起算): the day a case is accepted is not counted; the first
working day *after* it is day 1. A case accepted on a Saturday therefore starts counting on the
following Monday. Dates outside the loaded years raise `CalendarError`: the calendar never
guesses that an unknown year has no holidays.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DATA_DIR = Path(__file__).resolve().parent

_WEEKDAYS = "一二三四五六日"


class CalendarError(ValueError):
    """A date the calendar cannot answer for, or a calendar file that is wrong.

    The message is a plain Chinese sentence saying what to do.
    """


class HolidaySpan(BaseModel):
    """One block of days off, weekends inside it included."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="节日名称，如 春节、国庆节、中秋节")
    first: date = Field(description="放假第一天")
    last: date = Field(description="放假最后一天（含）")

    @model_validator(mode="after")
    def _ordered(self) -> HolidaySpan:
        if self.last < self.first:
            raise ValueError(f"{self.name}: 最后一天 {self.last} 早于第一天 {self.first}")
        return self


class AdjustedWorkday(BaseModel):
    """A Saturday or Sunday that is a working day (调休上班)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # `_dt.date`: the field is called `date` as in the YAML, which would shadow the type.
    date: _dt.date = Field(description="调休上班的日期（必须是周六或周日）")
    holiday: str = Field(min_length=1, description="为哪个节日调休")


class YearFile(BaseModel):
    """The schema of one ``<year>.yaml`` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=2000, le=2100, description="年份，须与文件名一致")
    provisional: bool = Field(
        default=False, description="true 表示按规则推算、尚未按国务院办公厅通知核对"
    )
    source: str = Field(min_length=1, description="依据的通知或推算说明")
    holidays: list[HolidaySpan] = Field(description="放假安排，每段假期一项")
    adjusted_workdays: list[AdjustedWorkday] = Field(
        default_factory=list, description="调休上班的周末"
    )

    @model_validator(mode="after")
    def _consistent(self) -> YearFile:
        off: set[date] = set()
        for span in self.holidays:
            for day in _days(span.first, span.last):
                if day.year != self.year:
                    raise ValueError(f"{span.name}: {day} 不在 {self.year} 年内")
                if day in off:
                    raise ValueError(f"{span.name}: {day} 与另一段假期重叠")
                off.add(day)
        for adjusted in self.adjusted_workdays:
            day = adjusted.date
            if day.year != self.year:
                raise ValueError(f"调休上班日 {day} 不在 {self.year} 年内")
            if day.weekday() < 5:
                raise ValueError(
                    f"调休上班日 {day} 是周{_WEEKDAYS[day.weekday()]}，"
                    "调休上班只会安排在周六或周日，请核对日期"
                )
            if day in off:
                raise ValueError(f"调休上班日 {day} 同时列在放假日里")
        return self


@dataclass(frozen=True)
class DayInfo:
    """What the calendar says about one date."""

    day: date
    working: bool
    holiday: str | None  # the holiday name for a day off in a holiday block
    adjusted_for: str | None  # the holiday a 调休 working weekend day makes up for


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def read_year_file(path: Path) -> YearFile:
    """Parse and validate one year file; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CalendarError(f"无法读取工作日历文件 {path.name}：{exc}") from exc
    try:
        parsed = YearFile.model_validate(raw)
    except ValidationError as exc:
        problems = "；".join(
            f"{'.'.join(str(p) for p in err['loc']) or '文件'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise CalendarError(f"工作日历文件 {path.name} 有误：{problems}") from exc
    if path.stem != str(parsed.year):
        raise CalendarError(f"工作日历文件 {path.name} 写的是 {parsed.year} 年，文件名与年份不一致")
    return parsed


class WorkCalendar:
    """Working days for a contiguous run of years.

    Build it with `WorkCalendar.load()`; the constructor takes already-parsed year files
    (tests and other data directories use it the same way).
    """

    def __init__(self, year_files: Iterable[YearFile]):
        files = sorted(year_files, key=lambda f: f.year)
        if not files:
            raise CalendarError("没有任何年份的工作日历，请在 hub/calendar/ 下放入年度文件")
        years = [f.year for f in files]
        if len(set(years)) != len(years):
            raise CalendarError(f"工作日历的年份重复：{years}")
        gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years))
        if gaps:
            # A missing year in the middle would silently count its holidays as working
            # days, so the run of years must be unbroken.
            raise CalendarError(
                f"工作日历缺少 {', '.join(map(str, gaps))} 年，年份必须连续，请补齐后再加载"
            )
        self._files = {f.year: f for f in files}
        self._holiday: dict[date, str] = {}
        self._adjusted: dict[date, str] = {}
        for f in files:
            for span in f.holidays:
                for day in _days(span.first, span.last):
                    self._holiday[day] = span.name
            for adjusted in f.adjusted_workdays:
                self._adjusted[adjusted.date] = adjusted.holiday
        self._first = date(years[0], 1, 1)
        self._last = date(years[-1], 12, 31)
        # Every working day of the loaded range, sorted: counting becomes two bisections.
        self._working = [d for d in _days(self._first, self._last) if self._is_working(d)]

    @classmethod
    def load(
        cls, years: Iterable[int] | None = None, directory: Path | None = None
    ) -> WorkCalendar:
        """Load the year files (all of them, or the given years) from `directory`.

        `directory` defaults to the files shipped with this package. A requested year
        without a file raises `CalendarError`.
        """
        directory = directory or DATA_DIR
        if years is None:
            paths = sorted(p for p in directory.glob("*.yaml") if p.stem.isdigit())
        else:
            paths = []
            for year in sorted(set(years)):
                path = directory / f"{year}.yaml"
                if not path.is_file():
                    raise CalendarError(
                        f"没有 {year} 年的工作日历文件，请按国务院办公厅当年的放假通知补充 "
                        f"{year}.yaml"
                    )
                paths.append(path)
        return cls(read_year_file(p) for p in paths)

    @property
    def first_year(self) -> int:
        """The earliest year the calendar knows."""
        return self._first.year

    @property
    def last_year(self) -> int:
        """The latest year the calendar knows; later dates raise `CalendarError`."""
        return self._last.year

    @property
    def provisional_years(self) -> tuple[int, ...]:
        """Years built from the rules rather than from a published notice."""
        return tuple(y for y, f in sorted(self._files.items()) if f.provisional)

    def is_provisional(self, year: int) -> bool:
        """True when `year` is loaded from a provisional file."""
        self._check_year(year)
        return self._files[year].provisional

    def _check_year(self, year: int) -> None:
        if year > self.last_year:
            raise CalendarError(
                f"工作日历只到 {self.last_year} 年，无法计算 {year} 年的工作日；"
                f"请按国务院办公厅的放假通知补充 {year} 年的日历文件"
            )
        if year < self.first_year:
            raise CalendarError(
                f"工作日历从 {self.first_year} 年开始，无法计算 {year} 年的工作日；"
                f"如需处理旧办件，请补充 {year} 年的日历文件"
            )

    def _check(self, day: date) -> None:
        if not self._first <= day <= self._last:
            self._check_year(day.year)

    def _is_working(self, day: date) -> bool:
        if day in self._adjusted:
            return True
        if day in self._holiday:
            return False
        return day.weekday() < 5

    def is_working_day(self, day: date) -> bool:
        """True on Monday–Friday outside holidays, and on adjusted working weekends."""
        self._check(day)
        return self._is_working(day)

    def describe(self, day: date) -> DayInfo:
        """Whether `day` is worked, and which holiday it belongs to or makes up for."""
        self._check(day)
        return DayInfo(
            day=day,
            working=self._is_working(day),
            holiday=self._holiday.get(day),
            adjusted_for=self._adjusted.get(day),
        )

    def add_working_days(self, start: date, n: int) -> date:
        """The date on which the `n`-th working day after `start` ends.

        次日起算: `start` itself is never counted, whether or not it is a working day, so a
        start on a weekend or holiday counts from the next working day. ``n == 0`` returns
        `start` (即办件: due on the day of acceptance).
        """
        if n < 0:
            raise ValueError("n must not be negative")
        self._check(start)
        if n == 0:
            return start
        index = bisect.bisect_right(self._working, start) + n - 1
        if index >= len(self._working):
            raise CalendarError(
                f"从 {start} 起第 {n} 个工作日已超出工作日历（只到 {self.last_year} 年），"
                f"请按国务院办公厅的放假通知补充 {self.last_year + 1} 年的日历文件"
            )
        return self._working[index]

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in the half-open span (a, b]: `a` not counted, `b` counted.

        So ``working_days_between(a, add_working_days(a, n)) == n``. Negative when
        ``b < a``.
        """
        self._check(a)
        self._check(b)
        if b < a:
            return -self.working_days_between(b, a)
        return bisect.bisect_right(self._working, b) - bisect.bisect_right(self._working, a)

    def working_days_after(self, start: date) -> Iterator[date]:
        """Working days after `start`, in order, up to the end of the last known year."""
        self._check(start)
        yield from self._working[bisect.bisect_right(self._working, start) :]


__all__ = [
    "AdjustedWorkday",
    "CalendarError",
    "DayInfo",
    "HolidaySpan",
    "WorkCalendar",
    "YearFile",
    "read_year_file",
]
