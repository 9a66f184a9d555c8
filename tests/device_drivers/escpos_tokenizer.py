"""An ESC/POS tokenizer for tests, written from the Epson command reference and not
sharing code with the driver, so receipts are checked by an independent reader.

Only the commands a receipt may contain are known; anything else raises, so a stray or
malformed byte fails the test instead of passing unseen. A byte ≥ 0x80 outside an
`FS &` … `FS .` run also raises: that is exactly how Chinese gets garbled on paper.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str
    value: object = None


@dataclass(frozen=True)
class Raster:
    width_bytes: int
    height: int
    data: bytes

    def dot(self, x: int, y: int) -> bool:
        return bool(self.data[y * self.width_bytes + x // 8] & (0x80 >> (x % 8)))

    def ink(self) -> int:
        return sum(bin(b).count("1") for b in self.data)

    def columns_with_ink(self) -> list[int]:
        return [
            x
            for x in range(self.width_bytes * 8)
            if any(self.dot(x, y) for y in range(self.height))
        ]


# ESC/GS/FS commands with a fixed number of parameter bytes.
_FIXED = {
    b"\x1b@": ("init", 0),
    b"\x1ba": ("align", 1),
    b"\x1bE": ("bold", 1),
    b"\x1b!": ("print_mode", 1),
    b"\x1bd": ("feed", 1),
    b"\x1d!": ("char_size", 1),
    b"\x1c!": ("kanji_mode", 1),
    b"\x1b-": ("underline", 1),
}
_QR_FUNCTIONS = {
    65: "qr_model",
    67: "qr_module_size",
    69: "qr_error_level",
    80: "qr_store",
    81: "qr_print",
}


class TokenizeError(ValueError):
    pass


def tokenize(data: bytes, codec: str = "gb18030") -> list[Token]:
    """Tokens of an ESC/POS stream; text runs are joined into ("text", str) tokens."""
    tokens: list[Token] = []
    text = ""
    i = 0

    def flush() -> None:
        nonlocal text
        if text:
            tokens.append(Token("text", text))
            text = ""

    while i < len(data):
        b = data[i]
        two = data[i : i + 2]
        if 0x20 <= b < 0x7F:
            text += chr(b)
            i += 1
        elif b == 0x0A:
            flush()
            tokens.append(Token("newline"))
            i += 1
        elif b >= 0x80:
            raise TokenizeError(f"byte 0x{b:02X} at {i} outside Kanji mode")
        elif two == b"\x1c&":
            end = data.find(b"\x1c.", i + 2)
            if end < 0:
                raise TokenizeError(f"FS & at {i} never cancelled by FS .")
            run = data[i + 2 : end]
            try:
                decoded = run.decode(codec)
            except UnicodeDecodeError as exc:
                raise TokenizeError(f"bad {codec} in Kanji run at {i}: {run!r}") from exc
            if any(ord(ch) < 0x80 for ch in decoded):
                raise TokenizeError(f"single-byte characters inside Kanji run at {i}")
            text += decoded
            tokens.append(Token("kanji_run", run))
            i = end + 2
        elif two in _FIXED:
            flush()
            kind, n = _FIXED[two]
            if i + 2 + n > len(data):
                raise TokenizeError(f"truncated {kind} at {i}")
            tokens.append(Token(kind, data[i + 2] if n else None))
            i += 2 + n
        elif data[i : i + 3] == b"\x1dv0":
            flush()
            m, xl, xh, yl, yh = data[i + 3 : i + 8]
            width, height = xl | xh << 8, yl | yh << 8
            body = data[i + 8 : i + 8 + width * height]
            if len(body) != width * height or m not in (0, 1, 2, 3, 48, 49, 50, 51):
                raise TokenizeError(f"bad GS v 0 at {i}")
            tokens.append(Token("raster", Raster(width, height, body)))
            i += 8 + width * height
        elif data[i : i + 3] == b"\x1d(k":
            flush()
            size = data[i + 3] | data[i + 4] << 8
            params = data[i + 5 : i + 5 + size]
            if len(params) != size or params[0] != 49:  # cn = 49: QR Code
                raise TokenizeError(f"bad GS ( k at {i}")
            fn = params[1]
            kind = _QR_FUNCTIONS.get(fn)
            if kind is None:
                raise TokenizeError(f"unknown QR function {fn} at {i}")
            value: object = params[2:]
            if kind == "qr_store":
                value = params[3:]  # after m = 48
            elif kind == "qr_model":
                value = params[2] - 48
            elif kind in ("qr_module_size",):
                value = params[2]
            elif kind == "qr_error_level":
                value = "LMQH"[params[2] - 48]
            tokens.append(Token(kind, value))
            i += 5 + size
        elif two == b"\x1dV":
            flush()
            mode = data[i + 2]
            if mode in (65, 66, 97, 98, 103, 104):  # function B: cut with feed n
                tokens.append(Token("cut", (mode, data[i + 3])))
                i += 4
            else:
                tokens.append(Token("cut", (mode, None)))
                i += 3
        else:
            raise TokenizeError(f"unknown command at {i}: {data[i : i + 4]!r}")
    flush()
    return tokens


def lines(tokens: list[Token]) -> list[str]:
    """Printed text lines (rasters are not text and leave no line here)."""
    out, line = [], ""
    for token in tokens:
        if token.kind == "text":
            line += token.value
        elif token.kind == "newline":
            out.append(line)
            line = ""
    if line:
        out.append(line)
    return out


def of_kind(tokens: list[Token], kind: str) -> list:
    return [t.value for t in tokens if t.kind == kind]
