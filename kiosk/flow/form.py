"""Answers to a service item's form fields (`protocols.catalog.FormField`), checked here.

The form screen lets through only what its buttons can make, but the flow checks every
answer again with these functions before it keeps it, so a wrong tap, a stale page or a
typed string never reaches the application. Each answer is stored as the hub receives it
in `ApplicationSubmit.form`: numbers as JSON numbers, dates as ISO strings (2026-11-27),
yes/no as booleans, choices and text as strings.

Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from protocols.catalog import FormField

# The catalog gives a number field no bounds, so every number is checked the same way:
# not negative (counts, areas, years, amounts of money), at most 9 digits before the
# point and 2 after it (square metres and 万元 need no more).
NUMBER_MAX_DIGITS = 9
NUMBER_MAX_DECIMALS = 2
NUMBER_KEYS = frozenset("0123456789.")
# Dates the steppers reach: an admission date far back, a due date a little ahead.
DATE_YEARS_BACK = 120
DATE_YEARS_AHEAD = 2
# The wire contract refuses form strings over 2000 characters; a field without its own
# `max_length` is held to a length an officer types in one go.
TEXT_MAX_DEFAULT = 200
DATE_PARTS = ("year", "month", "day")
# Fields a tap cannot answer: Chinese text needs a keyboard, and only the station
# officer types (an on-screen pinyin keyboard is no use to an elderly villager).
TYPED_BY_OFFICER = frozenset({"text"})


class BadAnswer(ValueError):
    """An answer the field cannot take: `key` names the catalogue sentence that says why."""

    def __init__(self, key: str, **params: object):
        super().__init__(key)
        self.key = key
        self.params = params


def text_limit(field: FormField) -> int:
    return field.max_length or TEXT_MAX_DEFAULT


def date_bounds(today: date) -> tuple[date, date]:
    """The earliest and latest date a date field accepts."""
    return (date(today.year - DATE_YEARS_BACK, 1, 1),
            date(today.year + DATE_YEARS_AHEAD, 12, 31))


def add_number_key(draft: str, key: str) -> str:
    """`draft` after one keypad key; a key that cannot make a number is ignored."""
    if key not in NUMBER_KEYS or len(key) != 1:
        return draft
    if key == ".":
        if "." in draft:
            return draft
        return (draft or "0") + "."
    whole, point, decimals = draft.partition(".")
    if point:
        return draft + key if len(decimals) < NUMBER_MAX_DECIMALS else draft
    if whole == "0":
        return key  # no leading zeros: 0 then 5 is 5
    return draft + key if len(whole) < NUMBER_MAX_DIGITS else draft


def parse_number(raw: str) -> int | float:
    """A keypad entry as the number the hub stores (an int when it has no decimals)."""
    raw = raw.strip()
    if not raw:
        raise BadAnswer("form.required")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadAnswer("form.bad_number") from None
    if not value.is_finite() or value < 0:
        raise BadAnswer("form.bad_number")
    whole, _, decimals = raw.partition(".")
    if len(whole.lstrip("0")) > NUMBER_MAX_DIGITS or len(decimals) > NUMBER_MAX_DECIMALS:
        raise BadAnswer("form.number_too_long", digits=NUMBER_MAX_DIGITS,
                        decimals=NUMBER_MAX_DECIMALS)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def step_date(parts: tuple[int, int, int], part: str, delta: int,
              today: date) -> tuple[int, int, int]:
    """One tap on a stepper: the year stays within `date_bounds`, month and day wrap
    round (12 → 1, 31 → 1). The day may not exist in that month yet; `check_date` says so
    when the person goes on, rather than the day changing by itself under their eyes."""
    year, month, day = parts
    first, last = date_bounds(today)
    if part == "year":
        year = min(max(year + delta, first.year), last.year)
    elif part == "month":
        month = (month - 1 + delta) % 12 + 1
    elif part == "day":
        day = (day - 1 + delta) % 31 + 1
    return year, month, day


def check_date(parts: tuple[int, int, int], today: date) -> str:
    """The stepper's year, month and day as an ISO date, if it is a real date in range."""
    year, month, day = parts
    try:
        value = date(year, month, day)
    except ValueError:
        raise BadAnswer("form.bad_date", year=year, month=month, day=day) from None
    first, last = date_bounds(today)
    if not first <= value <= last:
        raise BadAnswer("form.date_range", first=first.year, last=last.year)
    return value.isoformat()


def check_text(raw: str, field: FormField) -> str:
    value = " ".join(raw.split())
    if not value:
        raise BadAnswer("form.required")
    if len(value) > text_limit(field):
        raise BadAnswer("form.too_long", limit=text_limit(field))
    return value


def check_answer(field: FormField, answer: object, today: date):
    """The stored value of one answer, or `BadAnswer`.

    `answer` is what the page holds: the keypad string for a number, (year, month, day)
    for a date, the option for a choice, "true"/"false" or a bool for yes/no, the typed
    string for text. A value already stored (an int, an ISO date) passes again unchanged.
    """
    if answer is None or answer == "":
        raise BadAnswer("form.required")
    if field.type == "choice":
        if answer not in field.options:
            raise BadAnswer("form.bad_choice")
        return answer
    if field.type == "bool":
        if isinstance(answer, bool):
            return answer
        if answer in ("true", "false"):
            return answer == "true"
        raise BadAnswer("form.bad_choice")
    if field.type == "number":
        if isinstance(answer, bool):
            raise BadAnswer("form.bad_number")
        return parse_number(str(answer))
    if field.type == "date":
        if isinstance(answer, str):
            try:
                answer = date.fromisoformat(answer)
            except ValueError:
                raise BadAnswer("form.bad_date_text") from None
            answer = (answer.year, answer.month, answer.day)
        return check_date(tuple(answer), today)
    return check_text(str(answer), field)


def date_parts(value: object, today: date) -> tuple[int, int, int]:
    """Where the steppers start: the stored answer, else today."""
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = today
    else:
        day = today
    return day.year, day.month, day.day


def draft_of(field: FormField, value: object) -> str:
    """The keypad or text box content for a stored answer (empty when unanswered)."""
    if value is None or field.type not in ("number", "text"):
        return ""
    return str(value)
