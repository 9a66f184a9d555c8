"""The official case number (办件编号): the one place its format is defined.

DOMAIN: case number = implementation code + date + sequence. The national digit counts
(GB/T 39554.1-2020) are unverified, so the layout is kept here only:

    {service_code}{county division, 6 digits}{YYYYMMDD}{sequence, 5 digits}
    XK00012000 411381 20261127 00001   →   XK000120004113812026112700001
"""

from __future__ import annotations

import re
from datetime import date

PATTERN = re.compile(r"^(?P<service>[A-Z]{2}\d{8})(?P<county>\d{6})(?P<day>\d{8})(?P<seq>\d{5})$")


def sequence_key(service_code: str, county: str, day: date) -> str:
    """Sequences restart every day per item and county."""
    return f"{service_code}:{county}:{day:%Y%m%d}"


def format_case_number(service_code: str, county: str, day: date, sequence: int) -> str:
    if not 1 <= sequence <= 99999:
        raise ValueError("case sequence out of range for one day")
    return f"{service_code}{county}{day:%Y%m%d}{sequence:05d}"


def is_case_number(value: str) -> bool:
    return bool(PATTERN.match(value or ""))
