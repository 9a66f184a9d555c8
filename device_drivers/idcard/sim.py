"""A SAM ID-card reader simulated on a pseudo-terminal, byte for byte (GA/T 467).

Cards are placed and taken away programmatically or loaded from a JSON/YAML file. Faults:
`no_card`, `bad_checksum`, `timeout` (silent), `unplug`, `sam_fault`, `read_failed`,
`garbage` (stray bytes before each answer), `split` (answers in several writes). With
`baudrate` set, answers are paced at the time the bytes would take on a real 8N1 line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from device_drivers.idcard.protocol import (
    FINGERPRINT_SIZE,
    FOUND,
    GENDERS,
    HMT_LAYOUT,
    NATIONS,
    NO_CARD,
    OK,
    PHOTO_SIZE,
    SAM_FAULT,
    SELECT_FAILED,
    BadFrame,
    Command,
    Request,
    baud_of,
    encode_read_data,
    encode_request,
    encode_response,
    encode_text,
    parse_request,
)
from device_drivers.sim.pty import PtySimulator

logger = logging.getLogger(__name__)

FAULTS = (
    "no_card",
    "bad_checksum",
    "timeout",
    "unplug",
    "sam_fault",
    "read_failed",
    "garbage",
    "split",
)


@dataclass
class SimCard:
    """One card as the chip stores it: raw strings (gender "1"/"2", nation "01", dates
    "YYYYMMDD", valid_to possibly "长期"). `card_type` "" for a resident card, "J" for a
    Hong Kong/Macao/Taiwan residence permit."""

    name: str
    gender: str
    nation: str
    birth: str
    address: str
    id_number: str
    authority: str
    valid_from: str
    valid_to: str
    card_type: str = ""
    pass_number: str = ""

    def text(self) -> bytes:
        """The 256-byte UCS-2 text block."""
        common = {
            "name": self.name,
            "gender": self.gender,
            "birth": self.birth,
            "address": self.address,
            "id_number": self.id_number,
            "authority": self.authority,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
        }
        if self.card_type == "J":
            return encode_text(
                {**common, "pass_number": self.pass_number, "issue_count": "01", "card_type": "J"},
                HMT_LAYOUT,
            )
        return encode_text({**common, "nation": self.nation})

    def photo(self) -> bytes:
        """1024 opaque bytes standing in for the WLT photo (stable per card)."""
        seed = hashlib.sha256(self.id_number.encode()).digest()
        return (b"WLT" + seed * 33)[:PHOTO_SIZE]

    @classmethod
    def from_dict(cls, raw: dict) -> SimCard:
        """Accept friendly values too: "男"/"女", "汉", "1952-03-14"."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"未知的卡片字段：{', '.join(sorted(unknown))}")
        values = {k: str(v) for k, v in raw.items()}
        by_label = {label: code for code, label in GENDERS.items()}
        values["gender"] = by_label.get(values.get("gender", ""), values.get("gender", ""))
        by_nation = {name: code for code, name in NATIONS.items()}
        nation = values.get("nation", "")
        values["nation"] = by_nation.get(nation.removesuffix("族"), nation)
        for key in ("birth", "valid_from", "valid_to"):
            if key in values:
                values[key] = values[key].replace("-", "")
        values.setdefault("nation", "")
        return cls(**values)


def sample_cards() -> list[SimCard]:
    """Fictional villagers of Dengzhou (prefix 411381) with valid GB 11643 numbers: two
    elderly long-term cards, a working-age card, a rare character (䶮, CJK Ext. A) and an
    expired card."""
    return [
        SimCard("张秀英", "2", "01", "19520314", "河南省邓州市林扒镇前营村三组58号",
                "411381195203140025", "邓州市公安局", "20120520", "长期"),
        SimCard("王淑珍", "2", "03", "19480921", "河南省邓州市穰东镇岗头村六组12号",
                "411381194809210046", "邓州市公安局", "20080310", "长期"),
        SimCard("李建国", "1", "01", "19850607", "河南省邓州市构林镇冯营村二组7号",
                "411381198506072019", "邓州市公安局", "20160425", "20360425"),
        SimCard("赵䶮", "1", "01", "20010815", "河南省邓州市十林镇黄营村五组21号",
                "411381200108151037", "邓州市公安局", "20180901", "20280901"),
        SimCard("刘桂兰", "2", "01", "19671102", "河南省邓州市张村镇冀寨村一组3号",
                "411381196711023022", "邓州市公安局", "20050310", "20250310"),
    ]  # fmt: skip


def load_cards(path: str | os.PathLike) -> list[SimCard]:
    """Cards from a JSON or YAML file: a list of card objects, or `{"cards": [...]}`."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get("cards", [])
    if not isinstance(data, list):
        raise ValueError("卡片文件应为卡片列表，或含 cards 列表的对象")
    return [SimCard.from_dict(item) for item in data]


class IdCardSimulator(PtySimulator):
    """A SAM module answering GA/T 467 requests on a pty.

    `cards` is the deck; `place(i)` puts one on the reader (the first is placed at start
    unless `placed=False`), `remove()` takes it away. `inject(fault)` / `clear(fault)`
    switch faults; `times=n` limits a fault to the next n answers.
    """

    def __init__(
        self,
        cards: list[SimCard] | None = None,
        *,
        link: str | None = None,
        baudrate: int | None = None,
        placed: bool = True,
        sam_id: bytes = struct.pack("<HHIII", 5, 1, 20171011, 123456789, 1000002),
    ) -> None:
        super().__init__(link=link)
        self.cards = list(cards) if cards is not None else sample_cards()
        self.card: SimCard | None = self.cards[0] if (placed and self.cards) else None
        self.baudrate = baudrate
        self.sam_id = sam_id
        self.requests: list[bytes] = []  # commands received, for tests and the bench
        self.settings: dict[str, int] = {}  # what was written into the module
        self._next_baudrate: int | None = None
        self._faults: dict[str, int | None] = {}
        self._inbox = b""

    # cards and faults ------------------------------------------------------------------
    def place(self, card: SimCard | int = 0) -> None:
        self.card = self.cards[card] if isinstance(card, int) else card

    def remove(self) -> None:
        self.card = None

    def inject(self, fault: str, times: int | None = None) -> None:
        """Switch a fault on (for the next `times` answers, or until cleared)."""
        if fault not in FAULTS:
            raise ValueError(f"未知的故障：{fault}（可用：{', '.join(FAULTS)}）")
        if fault == "timeout":
            self.silent = True
        elif fault == "unplug":
            self.unplug()
        elif fault == "no_card":
            self.remove()
        else:
            self._faults[fault] = times

    def clear(self, fault: str | None = None) -> None:
        """Switch one fault (or all of them) off; `unplug` is undone by `replug()`."""
        if fault in (None, "timeout"):
            self.silent = False
        if fault is None:
            self._faults.clear()
        else:
            self._faults.pop(fault, None)

    def _fault(self, name: str) -> bool:
        if name not in self._faults:
            return False
        left = self._faults[name]
        if left is not None:
            if left <= 1:
                del self._faults[name]
            else:
                self._faults[name] = left - 1
        return True

    # protocol --------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        result = parse_request(self._inbox + data)
        self._inbox = result.rest
        for frame in result.frames:
            if isinstance(frame, BadFrame):
                self._answer(encode_response(0x10))  # checksum error (GA/T 467)
            elif isinstance(frame, Request):
                self.requests.append(frame.command)
                if self.baudrate:  # the request itself took this long to arrive
                    time.sleep(len(encode_request(frame.command, frame.data)) * 10 / self.baudrate)
                self._answer(self._respond(frame))

    def _respond(self, request: Request) -> bytes:
        if self._fault("sam_fault"):
            return encode_response(SAM_FAULT)
        command = request.command
        card = self.card
        if command == Command.RESET_SAM or command == Command.SAM_STATUS:
            return encode_response(OK)
        if command == Command.SAM_ID:
            return encode_response(OK, self.sam_id)
        if (rate := baud_of(command)) is not None:
            # Answered at the old rate; later answers are paced at the new one.
            self.settings["baudrate"] = rate
            self._next_baudrate = rate
            return encode_response(OK)
        if command == Command.FIND_CARD:
            return encode_response(FOUND, bytes(4)) if card else encode_response(NO_CARD)
        if command == Command.SELECT_CARD:
            return encode_response(OK, bytes(8)) if card else encode_response(SELECT_FAILED)
        if command in (Command.READ_BASE, Command.READ_BASE_FP):
            if card is None:
                return encode_response(NO_CARD)
            if self._fault("read_failed"):
                return encode_response(0x41)
            data = encode_read_data(card.text(), card.photo())
            if command == Command.READ_BASE_FP:
                text, photo = card.text(), card.photo()
                data = (
                    len(text).to_bytes(2, "big")
                    + len(photo).to_bytes(2, "big")
                    + FINGERPRINT_SIZE.to_bytes(2, "big")
                    + text
                    + photo
                    + bytes(FINGERPRINT_SIZE)
                )
            return encode_response(OK, data)
        return encode_response(0x21)  # command error

    def _answer(self, frame: bytes) -> None:
        if self._fault("bad_checksum"):
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        if self._fault("garbage"):
            frame = b"\x00\xff\xaa\xaa\x13" + frame  # includes a half preamble
        if self._fault("split"):
            cut = [0, 3, 7, len(frame) // 2, len(frame)]
            for a, b in zip(cut, cut[1:], strict=False):
                self._paced(frame[a:b])
                time.sleep(0.005)
            return
        self._paced(frame)
        if self._next_baudrate is not None:
            if self.baudrate:
                self.baudrate = self._next_baudrate
            self._next_baudrate = None

    def _paced(self, data: bytes) -> None:
        """Send at the configured line speed (8N1: 10 bit times per byte)."""
        if not self.baudrate:
            self.send(data)
            return
        start = time.monotonic()
        per_byte = 10 / self.baudrate
        for i in range(0, len(data), 32):
            chunk = data[i : i + 32]
            # A byte is available to the host only once its stop bit has gone by.
            delay = start + (i + len(chunk)) * per_byte - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.send(chunk)
