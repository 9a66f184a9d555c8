"""Settings an ESC/POS printer keeps in its own memory, as command bytes (pure).

Print density is a customised setting value written in user setting mode (Epson ESC/POS
reference: `GS ( E` <Function 1> enters the mode, <Function 5> sets customised values —
`a = 5` is print density — and <Function 2> ends the mode with a software reset, after
which the values stay in the printer's NV memory).

The Chinese code system is chosen with `FS C n` (select Chinese character code system) on
Chinese-market printers. Its numbers `n` are not the same for every maker: the table below
is the one this driver sends, and a model whose manual gives other numbers must have its
code page set by hand (leave `internal.code_page` empty for it).
"""

from __future__ import annotations

GS = b"\x1d"
FS = b"\x1c"

ENTER_USER_SETTINGS = GS + b"(E" + bytes((3, 0, 1)) + b"IN"  # <Function 1>, d1 d2 = "IN"
END_USER_SETTINGS = GS + b"(E" + bytes((4, 0, 2)) + b"OUT"  # <Function 2>, "OUT"
DENSITY_VALUE = 5  # `a` of <Function 5>: print density
DENSITY_LEVELS = range(1, 9)
DENSITY_STANDARD = 4  # level 4 is the printer's standard density (value 0)

CODE_SYSTEMS: dict[str, int] = {"gb18030": 0, "gbk": 1, "gb2312": 2}


def density_value(level: int) -> int:
    """The 16-bit customised value for density `level` 1–8: level − 4, two's complement
    (65533 = three steps lighter … 0 = standard … 4 = four steps darker)."""
    if level not in DENSITY_LEVELS:
        raise ValueError(f"打印浓度须为 1–8（收到 {level}）")
    return (level - DENSITY_STANDARD) & 0xFFFF


def density_level(value: int) -> int:
    """Inverse of `density_value`."""
    signed = value - 0x10000 if value >= 0x8000 else value
    return signed + DENSITY_STANDARD


def set_customized(values: dict[int, int]) -> bytes:
    """`GS ( E pL pH 5 [a nL nH]…`: set customised values `a` to `n`."""
    body = bytes((5,)) + b"".join(bytes((a, n & 0xFF, n >> 8)) for a, n in values.items())
    return GS + b"(E" + bytes((len(body) & 0xFF, len(body) >> 8)) + body


def select_code_system(code_page: str) -> bytes:
    """`FS C n` for a code page name (gb18030, gbk, gb2312)."""
    try:
        return FS + b"C" + bytes((CODE_SYSTEMS[code_page],))
    except KeyError:
        raise ValueError(
            f"打印机字符集须为 {'、'.join(CODE_SYSTEMS)} 之一（收到 {code_page}）"
        ) from None


def settings_job(*, density: int | None = None, code_page: str | None = None) -> bytes:
    """The bytes that write the given settings into the printer; empty when none."""
    job = b""
    if density is not None:
        job += ENTER_USER_SETTINGS + set_customized({DENSITY_VALUE: density_value(density)})
        job += END_USER_SETTINGS
    if code_page is not None:
        job += select_code_system(code_page)
    return job
