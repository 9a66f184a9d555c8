"""SMS-SUBMIT PDUs (3GPP TS 23.040, alphabets TS 23.038): pure functions, hex out.

- SCA `00`: the service centre address stored on the SIM is used;
- TP-DA in international format (TON 1, `91`) for +86 numbers, or national (`A1`);
- UCS-2 (DCS 08) for Chinese: 70 UTF-16 units fit one message; longer text is split into
  parts of 67 units behind a concatenation header `05 00 03 ref total seq` (TS 23.040
  §9.2.3.24.1), never between the two halves of a surrogate pair (𠀾 is two units);
- GSM 7-bit default alphabet for text it covers: 160 septets, 153 per part, an escape
  sequence never split;
- TP-SRR when a status report is wanted, TP-VP in relative format when a validity is set.

`decode_submit` reads these PDUs back (the simulator uses it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UCS2_SINGLE, UCS2_PART = 70, 67
GSM_SINGLE, GSM_PART = 160, 153
CONCAT_IEI = 0x00  # concatenated short messages, 8-bit reference
DCS_GSM7, DCS_UCS2 = 0x00, 0x08
TOA_INTERNATIONAL, TOA_NATIONAL, TOA_UNKNOWN = 0x91, 0xA1, 0x81

# TS 23.038 §6.2.1 default alphabet and its extension table (reached through ESC 0x1B).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {"\f": 10, "^": 20, "{": 40, "}": 41, "\\": 47, "[": 60, "~": 61, "]": 62,
                 "|": 64, "€": 101}  # fmt: skip
_GSM_INDEX = {ch: i for i, ch in enumerate(GSM_BASIC) if ch != "\x1b"}
_GSM_EXT_REVERSE = {v: k for k, v in GSM_EXTENSION.items()}

_NUMBER = re.compile(r"^\+?\d{3,20}$")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class PduError(ValueError):
    """Text or a number that cannot be put into an SMS-SUBMIT."""


# Addresses ----------------------------------------------------------------------------


def normalise_number(number: str, *, international: bool = True) -> tuple[str, int]:
    """(digits, type of address) for TP-DA.

    `+8613800138000`, `008613800138000` and `8613800138000` are international. An
    11-digit Chinese mobile number `13800138000` becomes `86…` international when
    `international` is set (most SMSCs accept both; some gateways want one), else it goes
    in national format. Other digit strings (service numbers) are sent as they are.
    """
    raw = re.sub(r"[\s\-()]", "", number or "")
    if not _NUMBER.match(raw):
        raise PduError(f"not a phone number: {len(raw)} characters")
    if raw.startswith("+"):
        return raw[1:], TOA_INTERNATIONAL
    if raw.startswith("00"):
        return raw[2:], TOA_INTERNATIONAL
    if raw.startswith("86") and _CN_MOBILE.match(raw[2:]):
        return raw, TOA_INTERNATIONAL
    if _CN_MOBILE.match(raw):
        return ("86" + raw, TOA_INTERNATIONAL) if international else (raw, TOA_NATIONAL)
    return raw, TOA_UNKNOWN


def encode_address(digits: str, toa: int) -> str:
    """TP-DA: digit count, type of address, semi-octets swapped, `F` fill (§9.1.2.5)."""
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return f"{len(digits):02X}{toa:02X}{swapped}"


# Alphabets ----------------------------------------------------------------------------


def gsm7_septets(text: str) -> list[int] | None:
    """Septets of `text` in the GSM default alphabet, or None when it does not fit."""
    out: list[int] = []
    for ch in text:
        if ch in _GSM_INDEX:
            out.append(_GSM_INDEX[ch])
        elif ch in GSM_EXTENSION:
            out += [0x1B, GSM_EXTENSION[ch]]
        else:
            return None
    return out


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB first after `fill_bits` zero bits (TS 23.038 §6.1.2.1.1)."""
    out = bytearray()
    acc, nbits = 0, fill_bits
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * i)) & 0x7F for i in range(count)]


def _split_gsm(septets: list[int]) -> list[list[int]]:
    if len(septets) <= GSM_SINGLE:
        return [septets]
    parts, current = [], []
    i = 0
    while i < len(septets):
        step = 2 if septets[i] == 0x1B else 1  # escape + character stay together
        if len(current) + step > GSM_PART:
            parts.append(current)
            current = []
        current += septets[i : i + step]
        i += step
    parts.append(current)
    return parts


def _split_ucs2(text: str) -> list[bytes]:
    data = text.encode("utf-16-be")
    units = len(data) // 2
    if units <= UCS2_SINGLE:
        return [data]
    parts, start = [], 0
    while start < len(data):
        end = min(start + 2 * UCS2_PART, len(data))
        # A high surrogate (D800–DBFF) as the last unit: keep the pair for the next part.
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2
        parts.append(data[start:end])
        start = end
    return parts


def count_parts(text: str) -> int:
    """How many messages `text` takes (GSM 7-bit when it fits, else UCS-2)."""
    septets = gsm7_septets(text)
    return len(_split_gsm(septets)) if septets is not None else len(_split_ucs2(text))


# Validity ------------------------------------------------------------------------------


def relative_validity(minutes: int) -> int:
    """TP-VP relative format (§9.2.3.12.1), rounding up to the next representable value."""
    if minutes <= 0:
        raise PduError("validity must be positive")
    if minutes <= 720:
        return max(0, -(-minutes // 5) - 1)
    if minutes <= 1440:
        return 143 + -(-(minutes - 720) // 30)
    days = -(-minutes // 1440)
    if days <= 30:
        return 166 + max(days, 2)
    return min(255, 192 + -(-days // 7))


def validity_minutes(vp: int) -> int:
    if vp <= 143:
        return (vp + 1) * 5
    if vp <= 167:
        return 720 + (vp - 143) * 30
    if vp <= 196:
        return (vp - 166) * 1440
    return (vp - 192) * 7 * 1440


# SMS-SUBMIT ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pdu:
    """One PDU for `AT+CMGS`: `hex` (with the `00` SCA) and `length` (TPDU octets)."""

    hex: str
    length: int


def encode_submit(
    to: str,
    text: str,
    *,
    reference: int = 0,
    international: bool = True,
    status_report: bool = False,
    validity_minutes: int | None = None,
    force_ucs2: bool = False,
) -> list[Pdu]:
    """SMS-SUBMIT PDUs for `text` to `to`; several when it needs concatenation.

    `reference` (0–255) ties the parts of one long message together; use a different
    one for each long message sent to the same phone.
    """
    if not text:
        raise PduError("empty message")
    digits, toa = normalise_number(to, international=international)
    septets = None if force_ucs2 else gsm7_septets(text)
    if septets is not None:
        bodies = _split_gsm(septets)
        dcs = DCS_GSM7
    else:
        bodies = _split_ucs2(text)
        dcs = DCS_UCS2
    total = len(bodies)
    if total > 255:
        raise PduError("message too long")
    first = 0x01  # TP-MTI = SMS-SUBMIT
    if validity_minutes is not None:
        first |= 0x10  # TP-VPF = relative
    if status_report:
        first |= 0x20  # TP-SRR
    if total > 1:
        first |= 0x40  # TP-UDHI
    head = f"{first:02X}00" + encode_address(digits, toa) + f"00{dcs:02X}"
    if validity_minutes is not None:
        head += f"{relative_validity(validity_minutes):02X}"
    pdus = []
    for seq, body in enumerate(bodies, start=1):
        udh = bytes((5, CONCAT_IEI, 3, reference & 0xFF, total, seq)) if total > 1 else b""
        if dcs == DCS_UCS2:
            user_data = udh + body
            udl = len(user_data)
        else:
            fill = (7 - len(udh) * 8 % 7) % 7
            user_data = udh + pack_septets(body, fill)
            udl = (len(udh) * 8 + fill) // 7 + len(body)
        tpdu = head + f"{udl:02X}" + user_data.hex().upper()
        pdus.append(Pdu("00" + tpdu, len(tpdu) // 2))
    return pdus


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT (what the simulator shows as "sent")."""

    number: str  # "+86…" for international
    toa: int
    dcs: int
    text: str
    status_report: bool
    validity_minutes: int | None
    concat: tuple[int, int, int] | None  # (reference, total, seq)
    tpdu_length: int


def decode_submit(pdu_hex: str) -> Submit:
    """Read back an SMS-SUBMIT with an SCA prefix; raises PduError when malformed."""
    try:
        data = bytes.fromhex(pdu_hex.strip())
        sca_len = data[0]
        tpdu = data[1 + sca_len :]
        first = tpdu[0]
        if first & 0x03 != 0x01:
            raise PduError("not an SMS-SUBMIT")
        n_digits, toa = tpdu[2], tpdu[3]
        addr_octets = (n_digits + 1) // 2
        semi = tpdu[4 : 4 + addr_octets].hex().upper()
        digits = "".join(semi[i + 1] + semi[i] for i in range(0, len(semi), 2))[:n_digits]
        i = 4 + addr_octets
        dcs = tpdu[i + 1]
        i += 2
        vp = None
        vpf = (first >> 3) & 0x03
        if vpf == 2:
            vp = validity_minutes(tpdu[i])
            i += 1
        elif vpf in (1, 3):
            i += 7
        udl = tpdu[i]
        ud = tpdu[i + 1 :]
        concat = None
        header_len = 0
        if first & 0x40:
            header_len = ud[0] + 1
            j = 1
            while j < header_len:
                iei, ie_len = ud[j], ud[j + 1]
                if iei == CONCAT_IEI and ie_len == 3:
                    concat = (ud[j + 2], ud[j + 3], ud[j + 4])
                j += 2 + ie_len
        if dcs & 0x0C == 0x08:
            body = ud[header_len:udl]
            if len(body) != udl - header_len:
                raise PduError("user data shorter than TP-UDL")
            text = body.decode("utf-16-be")
        elif dcs & 0x0C == 0x00:
            skip = (header_len * 8 + 6) // 7
            septets = unpack_septets(ud, udl)[skip:]
            text = _gsm_text(septets)
        else:
            raise PduError(f"unsupported DCS {dcs:02X}")
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed PDU: {exc}") from exc
    number = ("+" + digits) if toa == TOA_INTERNATIONAL else digits
    return Submit(number, toa, dcs, text, bool(first & 0x20), vp, concat, len(tpdu))


def _gsm_text(septets: list[int]) -> str:
    out, escape = [], False
    for s in septets:
        if escape:
            out.append(_GSM_EXT_REVERSE.get(s, " "))
            escape = False
        elif s == 0x1B:
            escape = True
        else:
            out.append(GSM_BASIC[s])
    return "".join(out)


# SMS-STATUS-REPORT --------------------------------------------------------------------


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT (§9.2.2.3): the fate of the message with `reference`."""

    reference: int
    number: str
    status: int  # TP-ST (§9.2.3.15)

    @property
    def delivered(self) -> bool:
        """0x00–0x1F: short message transaction completed (0x00: received by the phone)."""
        return self.status < 0x20

    @property
    def final(self) -> bool:
        """False for 0x20–0x3F: temporary error, the service centre is still trying."""
        return not 0x20 <= self.status < 0x40


def encode_status_report(reference: int, number: str, status: int, stamp: str) -> str:
    """A status report as a service centre sends it (SCA `00`); `stamp` is the 7-octet
    semi-octet time used for both TP-SCTS and TP-DT."""
    digits, toa = normalise_number(number)
    return f"0006{reference:02X}" + encode_address(digits, toa) + stamp * 2 + f"{status:02X}"


def decode_status_report(pdu_hex: str) -> StatusReport:
    """Read a `+CDS` PDU (with its SCA prefix); raises PduError when malformed."""
    try:
        data = bytes.fromhex(pdu_hex.strip())
        tpdu = data[1 + data[0] :]
        if tpdu[0] & 0x03 != 0x02:
            raise PduError("not an SMS-STATUS-REPORT")
        reference, n_digits, toa = tpdu[1], tpdu[2], tpdu[3]
        addr_octets = (n_digits + 1) // 2
        semi = tpdu[4 : 4 + addr_octets].hex().upper()
        digits = "".join(semi[i + 1] + semi[i] for i in range(0, len(semi), 2))[:n_digits]
        status = tpdu[4 + addr_octets + 14]  # after TP-SCTS and TP-DT, 7 octets each
    except (IndexError, ValueError) as exc:
        raise PduError(f"malformed status report: {exc}") from exc
    return StatusReport(reference, ("+" + digits) if toa == TOA_INTERNATIONAL else digits, status)
