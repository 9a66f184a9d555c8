"""Bytes of the resident ID-card reader's SAM module (GA/T 467), as pure functions.

Frame layout, both directions (GA/T 467 communication protocol between the business
terminal and the SAM):

    AA AA AA 96 69 | LEN (2 bytes, big-endian) | body | CHK

`LEN` counts everything after itself, checksum included. The request body is
`CMD PARA [DATA]`, the response body `SW1 SW2 SW3 [DATA]`. `CHK` is the XOR of every byte
after the preamble: the two length bytes and the body.

A successful "read text and photo" (30 01) answer carries 2 bytes text length, 2 bytes
photo length, 256 bytes of UCS-2 little-endian text and 1024 bytes of WLT-compressed photo:
1295 bytes on the wire in all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from protocols.identity import InvalidIdNumber, mask_id_number, mask_name, parse_id_number

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
# The largest legal answer is "read with fingerprint" (30 10): 3 + 6 + 256 + 1024 + 1024
# + 1 bytes after the length field. Anything longer is a corrupted length.
MAX_LENGTH = 4096

TEXT_SIZE = 256
PHOTO_SIZE = 1024
FINGERPRINT_SIZE = 1024
READ_FRAME_SIZE = len(PREAMBLE) + 2 + 3 + 4 + TEXT_SIZE + PHOTO_SIZE + 1  # 1295


class Command(bytes, enum.Enum):
    """`CMD PARA` pairs of GA/T 467 (names as in the SAM module manuals)."""

    RESET_SAM = b"\x10\xff"
    SAM_STATUS = b"\x11\xff"
    SAM_ID = b"\x12\xff"
    FIND_CARD = b"\x20\x01"
    SELECT_CARD = b"\x20\x02"
    READ_BASE = b"\x30\x01"  # text + photo
    READ_BASE_FP = b"\x30\x10"  # text + photo + fingerprint
    # Set the SAM's baud rate towards the terminal (60 PARA); answered at the old rate,
    # the new one is used from the next request and kept across power cycles.
    SET_BAUD_115200 = b"\x60\x00"
    SET_BAUD_57600 = b"\x60\x01"
    SET_BAUD_38400 = b"\x60\x02"
    SET_BAUD_19200 = b"\x60\x03"
    SET_BAUD_9600 = b"\x60\x04"


def set_baud_command(rate: int) -> Command:
    """The GA/T 467 command that sets the SAM's serial rate to `rate`."""
    try:
        return Command[f"SET_BAUD_{rate}"]
    except KeyError:
        raise ValueError(f"读卡器不支持波特率 {rate}") from None


def baud_of(command: bytes) -> int | None:
    """The rate a set-baud-rate request asks for; None for any other request."""
    try:
        name = Command(command).name
    except ValueError:
        return None
    return int(name.removeprefix("SET_BAUD_")) if name.startswith("SET_BAUD_") else None


# SW3 result codes of the SAM (GA/T 467 appendix, as printed in the reader manuals), each
# with the sentence shown to people: what happened and what to do next.
STATUS_MESSAGES: dict[int, str] = {
    0x90: "操作成功",
    0x91: "身份证中没有这一项内容",
    0x9F: "已找到身份证",
    0x10: "读卡器收到的数据校验出错，请重新放卡再试",
    0x11: "读卡器收到的数据长度不对，请重新放卡再试",
    0x21: "读卡器不认识这条命令，请重启读卡器；仍不行请联系技术员",
    0x23: "读卡器拒绝了越权操作，请联系技术员",
    0x24: "读卡器发生无法识别的错误，请重新放卡；仍不行请联系技术员",
    0x31: "身份证认证读卡器安全模块失败，请把身份证取下重新放好",
    0x32: "读卡器安全模块认证身份证失败，请确认是否为有效的居民身份证",
    0x33: "身份证信息验证失败，请把身份证取下重新放好",
    0x37: "指纹信息验证失败，请把身份证取下重新放好",
    0x3F: "身份证信息长度错误，请把身份证取下重新放好",
    0x40: "无法识别这张卡的类型，请放居民身份证",
    0x41: "读身份证失败，请把身份证平放在感应区，不要移动",
    0x47: "读卡器取随机数失败，请把身份证取下重新放好",
    0x60: "读卡器安全模块自检失败，暂时不能读卡，请联系技术员",
    0x66: "读卡器安全模块未经授权，无法使用，请联系技术员",
    0x80: "没有找到身份证，请把身份证平放在读卡区",
    0x81: "选卡失败，请把身份证取下重新放好",
}
OK = 0x90
FOUND = 0x9F
NO_CARD = 0x80
SELECT_FAILED = 0x81
SAM_FAULT = 0x60


def status_message(sw3: int) -> str:
    """The plain Chinese sentence for a SW3 code (a generic one for unknown codes)."""
    return STATUS_MESSAGES.get(
        sw3, f"读卡器返回未知状态（{sw3:02X}），请重新放卡；仍不行请联系技术员"
    )


def checksum(payload: bytes) -> int:
    """XOR of the length bytes and the body (GA/T 467)."""
    value = 0
    for b in payload:
        value ^= b
    return value


def encode_frame(body: bytes) -> bytes:
    """Wrap a request or response body in preamble, length and checksum."""
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([checksum(length + body)])


def encode_request(command: Command | bytes, data: bytes = b"") -> bytes:
    """A complete request frame: `encode_request(Command.FIND_CARD)` → AA AA AA 96 69 00 03
    20 01 22."""
    return encode_frame(bytes(command) + data)


def encode_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """A complete response frame (used by the simulator and by tests)."""
    return encode_frame(bytes([sw1, sw2, sw3]) + data)


@dataclass(frozen=True)
class Response:
    """One well-formed answer from the SAM."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes = b""

    @property
    def message(self) -> str:
        return status_message(self.sw3)


@dataclass(frozen=True)
class Request:
    """One well-formed request (what the simulator receives)."""

    command: bytes
    data: bytes = b""


@dataclass(frozen=True)
class BadFrame:
    """A frame whose preamble was found but whose length or checksum is wrong."""

    reason: str
    raw: bytes


@dataclass
class ParseResult:
    """What a buffer held: frames in order, bytes skipped as garbage, and the unfinished
    tail to keep for the next read."""

    frames: list[Response | Request | BadFrame] = field(default_factory=list)
    rest: bytes = b""
    skipped: int = 0

    @property
    def responses(self) -> list[Response]:
        return [f for f in self.frames if isinstance(f, Response)]

    @property
    def bad(self) -> list[BadFrame]:
        return [f for f in self.frames if isinstance(f, BadFrame)]


def _scan(buf: bytes, min_body: int, make) -> ParseResult:
    result = ParseResult()
    pos = 0
    n = len(buf)
    while pos < n:
        start = buf.find(PREAMBLE, pos)
        if start < 0:
            # Keep a tail that could be the start of a preamble split across reads.
            keep = 0
            for k in range(min(len(PREAMBLE) - 1, n - pos), 0, -1):
                if buf.endswith(PREAMBLE[:k]):
                    keep = k
                    break
            result.skipped += n - pos - keep
            result.rest = buf[n - keep :] if keep else b""
            return result
        result.skipped += start - pos
        head = start + len(PREAMBLE)
        if n < head + 2:
            result.rest = buf[start:]
            return result
        length = int.from_bytes(buf[head : head + 2], "big")
        if length < min_body + 1 or length > MAX_LENGTH:
            result.frames.append(BadFrame(f"长度字段不合理：{length}", buf[start : head + 2]))
            pos = start + 1  # resynchronise on the next preamble
            continue
        end = head + 2 + length
        if n < end:
            result.rest = buf[start:]
            return result
        payload = buf[head : end - 1]
        if checksum(payload) != buf[end - 1]:
            result.frames.append(BadFrame("校验和错误", buf[start:end]))
            # The length itself may be the corrupted byte: search again from just after
            # this preamble so a good frame inside the span is not lost.
            pos = start + 1
            continue
        result.frames.append(make(payload[2:]))
        pos = end
    return result


def parse_response(buf: bytes) -> ParseResult:
    """Split a byte stream from the reader into response frames.

    Garbage before a preamble is skipped (counted in `skipped`), several frames in one
    buffer are all returned, an incomplete frame is left in `rest`, and a frame with an
    impossible length or a wrong checksum becomes a `BadFrame`.
    """
    return _scan(buf, 3, lambda body: Response(body[0], body[1], body[2], bytes(body[3:])))


def parse_request(buf: bytes) -> ParseResult:
    """Split a byte stream from the terminal into request frames (the simulator's side)."""
    return _scan(buf, 2, lambda body: Request(bytes(body[:2]), bytes(body[2:])))


# ---------------------------------------------------------------------------------------
# The 256-byte text block
# ---------------------------------------------------------------------------------------

# Field widths in bytes of the resident ID card text (GA 450 / GA/T 467): UCS-2 LE,
# padded with spaces.
RESIDENT_LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30),
    ("gender", 2),
    ("nation", 4),
    ("birth", 16),
    ("address", 70),
    ("id_number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
)
# Residence permit for Hong Kong, Macao and Taiwan residents (card type "J", 2018): same
# leading fields, nation left blank, then pass number and issue count.
HMT_LAYOUT: tuple[tuple[str, int], ...] = (
    ("name", 30),
    ("gender", 2),
    ("reserved1", 4),
    ("birth", 16),
    ("address", 70),
    ("id_number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("pass_number", 18),
    ("issue_count", 4),
    ("reserved2", 6),
    ("card_type", 2),
    ("reserved3", 6),
)
# Foreigner's permanent residence ID card (card type "I", 2017 edition).
FOREIGNER_LAYOUT: tuple[tuple[str, int], ...] = (
    ("english_name", 120),
    ("gender", 2),
    ("permit_number", 30),
    ("nationality", 6),
    ("name", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("birth", 16),
    ("version", 4),
    ("authority_code", 8),
    ("card_type", 2),
    ("reserved", 6),
)
CARD_TYPE_OFFSET = 248  # the type flag's two bytes in every layout

GENDERS = {"0": "未知", "1": "男", "2": "女", "9": "未说明"}

# GB 3304 codes of the 56 nationalities plus 97/98, as printed on the card.
NATIONS: dict[str, str] = {
    "01": "汉", "02": "蒙古", "03": "回", "04": "藏", "05": "维吾尔", "06": "苗", "07": "彝",
    "08": "壮", "09": "布依", "10": "朝鲜", "11": "满", "12": "侗", "13": "瑶", "14": "白",
    "15": "土家", "16": "哈尼", "17": "哈萨克", "18": "傣", "19": "黎", "20": "傈僳",
    "21": "佤", "22": "畲", "23": "高山", "24": "拉祜", "25": "水", "26": "东乡",
    "27": "纳西", "28": "景颇", "29": "柯尔克孜", "30": "土", "31": "达斡尔", "32": "仫佬",
    "33": "羌", "34": "布朗", "35": "撒拉", "36": "毛南", "37": "仡佬", "38": "锡伯",
    "39": "阿昌", "40": "普米", "41": "塔吉克", "42": "怒", "43": "乌孜别克", "44": "俄罗斯",
    "45": "鄂温克", "46": "德昂", "47": "保安", "48": "裕固", "49": "京", "50": "塔塔尔",
    "51": "独龙", "52": "鄂伦春", "53": "赫哲", "54": "门巴", "55": "珞巴", "56": "基诺",
    "97": "其他", "98": "外国血统中国籍人士",
}  # fmt: skip

LONG_TERM = "长期"


class CardFormatError(ValueError):
    """A text block this driver cannot turn into an `IdCard`; `reason` is for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class IdCard:
    """What a card says, checked: GB 11643 number, birth date and gender agreeing with the
    number, expiry against today. `problems` lists every disagreement in plain Chinese.
    `valid_to` is None for a long-term (长期) card. `photo_wlt` is the reader's compressed
    photo, kept opaque (the WLT format is proprietary)."""

    name: str
    gender: str  # "男" / "女"
    nation: str  # "汉" …; empty on cards that carry no nationality
    birth_date: date | None
    address: str
    id_number: str
    authority: str
    valid_from: date | None
    valid_to: date | None
    id_number_valid: bool
    problems: list[str] = field(default_factory=list)
    photo_wlt: bytes = b""
    card_type: str = "resident"  # "resident" | "hmt_residence_permit"
    pass_number: str = ""

    def __repr__(self) -> str:  # never print the person in logs or tracebacks
        return (
            f"IdCard(name={mask_name(self.name)!r}, id_number={mask_id_number(self.id_number)!r},"
            f" card_type={self.card_type!r}, problems={self.problems!r})"
        )

    def to_public_dict(self) -> dict[str, object]:
        """The fields printed by `cunban devices idcard --json`, dates as ISO strings."""
        return {
            "name": self.name,
            "gender": self.gender,
            "nation": self.nation,
            "birth_date": _iso(self.birth_date),
            "address": self.address,
            "id_number": self.id_number,
            "authority": self.authority,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to) if self.valid_to else LONG_TERM,
            "id_number_valid": self.id_number_valid,
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _split(text: bytes, layout) -> dict[str, str]:
    fields: dict[str, str] = {}
    pos = 0
    for name, width in layout:
        raw = text[pos : pos + width]
        pos += width
        try:
            value = raw.decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise CardFormatError("身份证文字信息无法解码，请把身份证取下重新放好") from exc
        fields[name] = value.replace("\x00", " ").strip()
    return fields


def _parse_yyyymmdd(value: str) -> date | None:
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def card_type_flag(text: bytes) -> str:
    """The card type character at bytes 248–249: "" for a resident card, "I" or "J"."""
    return text[CARD_TYPE_OFFSET : CARD_TYPE_OFFSET + 2].decode("utf-16-le", "replace").strip()


def parse_text(text: bytes, *, photo: bytes = b"", today: date | None = None) -> IdCard:
    """Turn the 256-byte text block (and photo) into a checked `IdCard`.

    Resident cards and Hong Kong/Macao/Taiwan residence permits ("J") are parsed; a
    foreigner's permanent residence card ("I") is refused with `CardFormatError`, because
    its number does not follow GB 11643 and the kiosk's services need a resident number.
    """
    if len(text) != TEXT_SIZE:
        raise CardFormatError("身份证文字信息长度不对，请把身份证取下重新放好")
    today = today or date.today()
    flag = card_type_flag(text)
    # "I": 2017 edition; "Y": 2023 edition of the foreigner's permanent residence card.
    if flag in ("I", "Y"):
        raise CardFormatError("这是外国人永久居留身份证，本机暂不支持，请到窗口由工作人员办理")
    if flag == "J":
        fields = _split(text, HMT_LAYOUT)
        card_type, nation = "hmt_residence_permit", ""
    elif flag == "":
        fields = _split(text, RESIDENT_LAYOUT)
        card_type = "resident"
        nation = NATIONS.get(fields["nation"], "")
    else:
        raise CardFormatError("无法识别这张证件的类型，请放居民身份证")

    problems: list[str] = []
    if flag == "" and not nation:
        problems.append(f"民族代码“{fields['nation']}”不在国家标准代码表中")
    gender = GENDERS.get(fields["gender"], "")
    if gender not in ("男", "女"):
        problems.append("性别代码不正确")
    birth = _parse_yyyymmdd(fields["birth"])
    if birth is None:
        problems.append("出生日期格式不正确")
    valid_from = _parse_yyyymmdd(fields["valid_from"])
    if valid_from is None:
        problems.append("有效期起始日期格式不正确")
    valid_to: date | None = None
    if fields["valid_to"] != LONG_TERM:
        valid_to = _parse_yyyymmdd(fields["valid_to"])
        if valid_to is None:
            problems.append("有效期截止日期格式不正确")
        elif valid_to < today:
            problems.append(f"证件已于{valid_to.isoformat()}过期，请先办理换证")

    id_number = fields["id_number"].upper()
    id_valid = True
    try:
        parsed = parse_id_number(id_number, today=today)
    except InvalidIdNumber as exc:
        id_valid = False
        problems.append(exc.reason)
    else:
        if birth is not None and parsed.birth_date != birth:
            problems.append("证件上的出生日期与身份证号码不一致")
        if gender in ("男", "女") and GENDERS[parsed.gender] != gender:
            problems.append("证件上的性别与身份证号码不一致")

    return IdCard(
        name=fields["name"],
        gender=gender,
        nation=nation,
        birth_date=birth,
        address=fields["address"],
        id_number=id_number,
        authority=fields["authority"],
        valid_from=valid_from,
        valid_to=valid_to,
        id_number_valid=id_valid,
        problems=problems,
        photo_wlt=bytes(photo),
        card_type=card_type,
        pass_number=fields.get("pass_number", ""),
    )


def parse_read_data(data: bytes, *, today: date | None = None) -> IdCard:
    """Parse the data part of a successful 30 01 / 30 10 answer.

    30 01 carries text length and photo length; 30 10 adds a fingerprint length. Both are
    recognised by how the stated lengths add up against the bytes received.
    """
    if len(data) < 4:
        raise CardFormatError("读卡器返回的身份证数据不完整，请把身份证取下重新放好")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    start = 4
    if len(data) >= 6 and 4 + text_len + photo_len != len(data):
        fp_len = int.from_bytes(data[4:6], "big")
        if 6 + text_len + photo_len + fp_len == len(data):
            start = 6
    if text_len != TEXT_SIZE or start + text_len + photo_len > len(data):
        raise CardFormatError("读卡器返回的身份证数据不完整，请把身份证取下重新放好")
    text = data[start : start + text_len]
    photo = data[start + text_len : start + text_len + photo_len]
    return parse_text(text, photo=photo, today=today)


def _pad(value: str, width: int) -> bytes:
    raw = value.encode("utf-16-le")
    if len(raw) > width:
        raise ValueError(f"{value!r} is longer than {width // 2} characters")
    return raw + " ".encode("utf-16-le") * ((width - len(raw)) // 2)


def encode_text(fields: dict[str, str], layout=RESIDENT_LAYOUT) -> bytes:
    """Build a 256-byte text block from field values (simulator and tests).

    Values are the raw card strings: gender "1"/"2", nation "01", dates "YYYYMMDD",
    valid_to possibly "长期".
    """
    unknown = set(fields) - {name for name, _ in layout}
    if unknown:
        raise ValueError(f"unknown text fields: {sorted(unknown)}")
    block = b"".join(_pad(fields.get(name, ""), width) for name, width in layout)
    assert len(block) == TEXT_SIZE
    return block


def encode_read_data(text: bytes, photo: bytes) -> bytes:
    """Data part of a successful 30 01 answer: lengths, text, photo."""
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo
