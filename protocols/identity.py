"""Resident identity numbers (GB 11643-1999) and masking of personal data for display.

Pure functions, no I/O: used by the hub to validate applicants, by the ID-card driver to
check what the card says, and by every screen that shows a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# GB 11643-1999 §8.2: weights W_i = 2^(i-1) mod 11 for positions 17..1, check value from
# the sum mod 11 mapped through this table (ISO 7064 MOD 11-2).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class InvalidIdNumber(ValueError):
    """An ID number that fails GB 11643; `reason` is a plain Chinese sentence."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IdNumber:
    """A validated 18-character resident identity number."""

    value: str
    region: str
    birth_date: date
    sequence: int

    @property
    def gender(self) -> str:
        """'1' male, '2' female (odd sequence = male, GB 11643 §6.3)."""
        return "1" if self.sequence % 2 else "2"


def check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def parse_id_number(raw: str, *, today: date | None = None) -> IdNumber:
    """Validate an ID number and split it into its parts.

    Raises `InvalidIdNumber` with the reason: wrong shape, impossible birth date, birth date
    in the future, or a check character that does not match.
    """
    value = (raw or "").strip().upper()
    if not _SHAPE.match(value):
        raise InvalidIdNumber("身份证号码应为18位：17位数字加1位校验码（数字或X）")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber("身份证号码中的出生日期不存在，请核对号码") from None
    if born > (today or date.today()) or born.year < 1880:
        raise InvalidIdNumber("身份证号码中的出生日期不合理，请核对号码")
    if check_character(value[:17]) != value[17]:
        raise InvalidIdNumber("身份证号码校验位不正确，请核对号码是否抄错")
    return IdNumber(value=value, region=value[:6], birth_date=born, sequence=int(value[14:17]))


def is_valid_id_number(raw: str) -> bool:
    try:
        parse_id_number(raw)
    except InvalidIdNumber:
        return False
    return True


def is_valid_mobile(raw: str) -> bool:
    """Mainland mobile numbers: 11 digits starting with 1."""
    return bool(_MOBILE.match(raw or ""))


def mask_name(name: str) -> str:
    """李*英 for three characters, 李* for two, 欧**华 for four; empty stays empty."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(value: str) -> str:
    """Keep the first 4 and last 4 characters: 4113**********0023."""
    value = value or ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """138****8000."""
    value = value or ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
