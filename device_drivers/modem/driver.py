"""GSM modem (短信猫) on the hub: `send(to, text)` in PDU mode, every attempt recorded.

Initialisation (TS 27.007 / 27.005): `AT` (until the modem answers), `ATE0` (no echo),
`AT+CMEE=1` (numeric error codes), `AT+CPIN?` (SIM ready?), `AT+CMGF=0` (PDU mode).
Each part goes out with `AT+CMGS=<TPDU length>`, `> `, PDU hex, Ctrl-Z and comes back as
`+CMS: <mr>`; a part that fails with a transient error (network timeout, congestion,
unknown error) is retried, a permanent one (no SIM, rejected by the operator) is not.

With `status_report` the network's `+CDS` reports are matched to the parts they confirm
(`SendRecord.reports`, `on_status_report`); `poll()` takes in those that arrive while the
modem is idle.

The notifier only sees `send()` and `DeviceError` subclasses whose `message` says in
plain Chinese what happened and what to do; numbers in logs and records are masked.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from device_drivers.base import (
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    Health,
    ProtocolError,
    SerialLink,
    register_driver,
)
from device_drivers.modem.at import CTRL_Z, ESC, AtChannel, AtError
from device_drivers.modem.pdu import (
    PduError,
    StatusReport,
    decode_status_report,
    encode_submit,
    normalise_number,
)
from protocols.identity import mask_phone

logger = logging.getLogger(__name__)


class SimError(DeviceError):
    message = "短信猫的 SIM 卡不可用，请检查 SIM 卡是否插好"


class NetworkError(DeviceError):
    message = "短信猫没有网络服务，请检查天线和 SIM 卡是否欠费；稍后会自动重试"


class SmsRejected(DeviceError):
    message = "运营商拒绝发送这条短信，请检查 SIM 卡是否欠费或开通了短信功能"


class InvalidNumber(DeviceError):
    message = "手机号码不正确，请核对后重新填写"


MSG_NO_SIM = "短信猫里没有插 SIM 卡，请关闭短信猫电源，插好 SIM 卡后再开机"
MSG_PIN = "短信猫的 SIM 卡设置了开机密码（PIN 码），请把卡放到手机里取消 PIN 码后再插回"
MSG_PUK = "短信猫的 SIM 卡已被锁（需要 PUK 码），请联系运营商解锁"
MSG_SIM_FAIL = "短信猫的 SIM 卡读不出来，请重新插好 SIM 卡；仍不行请更换 SIM 卡"
MSG_SMSC = "SIM 卡里没有短信中心号码，请联系运营商或技术员设置短信中心号码"
MSG_BAD_NUMBER = "收信号码无效或已停机，请核对申请人的手机号"
MSG_BAD_PDU = "短信猫不接受这条短信的格式，请联系技术员"
MSG_GAVE_UP = "短信多次发送失败（网络繁忙或出错），请稍后再试；多次失败请联系技术员"

# (kind, code) → (error class, plain message, transient?). CME codes: TS 27.007 §9.2;
# CMS codes: TS 27.005 §3.2.5 (0–127 are TS 24.011 RP causes).
ERRORS: dict[tuple[str, int], tuple[type[DeviceError], str, bool]] = {
    ("CME", 10): (SimError, MSG_NO_SIM, False),
    ("CME", 11): (SimError, MSG_PIN, False),
    ("CME", 12): (SimError, MSG_PUK, False),
    ("CME", 13): (SimError, MSG_SIM_FAIL, False),
    ("CME", 14): (SimError, SimError.message, True),  # SIM busy
    ("CME", 15): (SimError, MSG_SIM_FAIL, False),
    ("CME", 30): (NetworkError, NetworkError.message, True),
    ("CMS", 310): (SimError, MSG_NO_SIM, False),
    ("CMS", 311): (SimError, MSG_PIN, False),
    ("CMS", 313): (SimError, MSG_SIM_FAIL, False),
    ("CMS", 314): (SimError, SimError.message, True),
    ("CMS", 316): (SimError, MSG_PUK, False),
    ("CMS", 330): (SmsRejected, MSG_SMSC, False),
    ("CMS", 331): (NetworkError, NetworkError.message, True),
    ("CMS", 332): (NetworkError, NetworkError.message, True),  # network timeout
    ("CMS", 1): (SmsRejected, MSG_BAD_NUMBER, False),  # unassigned number
    ("CMS", 28): (SmsRejected, MSG_BAD_NUMBER, False),  # unidentified subscriber
    ("CMS", 21): (SmsRejected, SmsRejected.message, False),  # transfer rejected
    ("CMS", 29): (SmsRejected, SmsRejected.message, False),  # facility rejected
    ("CMS", 50): (SmsRejected, SmsRejected.message, False),  # not subscribed
    ("CMS", 38): (NetworkError, NetworkError.message, True),  # network out of order
    ("CMS", 41): (NetworkError, NetworkError.message, True),  # temporary failure
    ("CMS", 42): (NetworkError, NetworkError.message, True),  # congestion
    ("CMS", 47): (NetworkError, NetworkError.message, True),  # resources unavailable
    ("CMS", 304): (ProtocolError, MSG_BAD_PDU, False),
    ("CMS", 500): (SmsRejected, MSG_GAVE_UP, True),  # unknown error: often transient
}


def classify(error: AtError) -> tuple[DeviceError, bool]:
    """The `DeviceError` to raise for an AT error result, and whether to retry."""
    kind, message, transient = ERRORS.get(
        (error.kind, error.code or -1), (DeviceError, MSG_GAVE_UP, error.kind == "CMS")
    )
    exc = kind(message, detail=error.line)
    exc.at_error = error  # type: ignore[attr-defined]
    return exc, transient


def mask_number(number: str) -> str:
    """138****8000 for any of +8613800138000, 008613800138000, 13800138000."""
    digits = re.sub(r"\D", "", number or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    return mask_phone(digits)


@dataclass
class SendRecord:
    """One `send()` call: what the hub stores next to the notification."""

    to: str  # masked
    parts: int
    refs: list[int] = field(default_factory=list)
    attempts: int = 0
    error_code: str = ""  # "CMS 21", "timeout" …
    error: str = ""  # the plain message shown to officers
    reports: dict[int, int] = field(default_factory=dict)  # reference → TP-ST
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and len(self.refs) == self.parts


@register_driver("modem", "at")
class GsmModem:
    """A GSM modem speaking AT commands in PDU mode.

    `send(to, text) -> list[int]` returns the message references of the parts. The port
    is opened and initialised on first use and reopened after the modem was unplugged.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        command_timeout: float = 5.0,
        send_timeout: float = 60.0,
        retries: int = 2,
        retry_delay: float = 3.0,
        international: bool = True,
        status_report: bool = False,
        validity_minutes: int | None = 1440,
        on_record: Callable[[SendRecord], None] | None = None,
        on_urc: Callable[[str], None] | None = None,
        on_status_report: Callable[[StatusReport], None] | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.international = international
        self.status_report = status_report
        self.validity_minutes = validity_minutes
        self.on_record = on_record
        self.on_urc = on_urc
        self.on_status_report = on_status_report
        self.records: list[SendRecord] = []
        self._in_flight: SendRecord | None = None  # status reports may come mid-send
        self._link = SerialLink(port, baudrate=baudrate, timeout=0.2)
        self._channel: AtChannel | None = None
        self._lock = threading.Lock()
        self._reference = random.randrange(256)  # concatenation reference, per message

    # lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Open the port and run the initialisation sequence."""
        with self._lock:
            self._ensure_open()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self._link.close()
        self._channel = None

    def _ensure_open(self) -> AtChannel:
        if self._channel is None:
            channel = AtChannel(self._link.open(), on_urc=self._handle_urc)
            try:
                self._initialise(channel)
            except BaseException:
                self._link.close()
                raise
            self._channel = channel
        return self._channel

    def _initialise(self, ch: AtChannel) -> None:
        # A modem just powered on may drop the first characters while it autobauds.
        for attempt in range(3):
            try:
                ch.command("AT", timeout=min(self.command_timeout, 2.0))
                break
            except DeviceTimeout:
                if attempt == 2:
                    raise
        for cmd in ("ATE0", "AT+CMEE=1"):
            self._run(ch, cmd)
        pin = self._run(ch, "AT+CPIN?", expect="+CPIN:")
        state = pin[0].split(":", 1)[1].strip() if pin else ""
        if state != "READY":
            message = {"SIM PIN": MSG_PIN, "SIM PUK": MSG_PUK}.get(state, MSG_SIM_FAIL)
            raise SimError(message, detail=f"+CPIN: {state}")
        self._run(ch, "AT+CMGF=0")
        if self.status_report:
            # TS 27.005 §3.4.1 AT+CNMI: ds=1 routes status reports to us as +CDS.
            self._run(ch, "AT+CNMI=2,1,0,1,0")

    def _run(self, ch: AtChannel, cmd: str, expect: str = "") -> list[str]:
        try:
            return ch.command(cmd, expect=expect, timeout=self.command_timeout)
        except AtError as exc:
            raise classify(exc)[0] from exc

    # unsolicited results --------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> None:
        """Take in what the idle modem reported (status reports, new-message notices)."""
        try:
            with self._lock:
                self._ensure_open().drain(timeout)
        except DeviceUnavailable:
            with self._lock:
                self._drop()
            raise

    def _handle_urc(self, line: str) -> None:
        if line.startswith("+CDS:") and "\n" in line:
            try:
                report = decode_status_report(line.split("\n", 1)[1])
            except PduError:
                logger.warning("unreadable status report")
            else:
                # References wrap at 256: the newest record holding it is the one meant.
                for record in [self._in_flight, *reversed(self.records)]:
                    if record is not None and report.reference in record.refs:
                        record.reports[report.reference] = report.status
                        break
                logger.info(
                    "status report for %s ref %d: 0x%02X",
                    mask_number(report.number),
                    report.reference,
                    report.status,
                )
                if self.on_status_report:
                    self.on_status_report(report)
        if self.on_urc:
            self.on_urc(line)

    # health ----------------------------------------------------------------------------
    def health(self) -> Health:
        """SIM, registration and signal for the device state topic; never raises."""
        try:
            with self._lock:
                ch = self._ensure_open()
                reg = self._run(ch, "AT+CREG?", expect="+CREG:")
                csq = self._run(ch, "AT+CSQ", expect="+CSQ:")
        except DeviceError as exc:
            if isinstance(exc, DeviceUnavailable | DeviceTimeout):
                with self._lock:
                    self._drop()
                return Health("offline", type(exc).__name__, exc.message)
            return Health("fault", type(exc).__name__, exc.message)
        stat = _field(reg, 1)
        rssi = _field(csq, 0)
        details = {"registration": stat, "rssi": rssi}
        if stat not in (1, 5):  # 1 home, 5 roaming (TS 27.007 §7.2)
            return Health("fault", "no_network", NetworkError.message, details)
        if rssi is None or rssi == 99 or rssi < 8:
            return Health("warning", "weak_signal", "短信猫信号弱，请调整天线位置", details)
        return Health("ok", details=details)

    # sending ---------------------------------------------------------------------------
    def send(self, to: str, text: str) -> list[int]:
        """Send `text` to `to`; the message references of its parts.

        Raises `InvalidNumber`, `SimError`, `NetworkError`, `SmsRejected`,
        `DeviceTimeout`, `DeviceUnavailable` or `ProtocolError`; the attempt is recorded
        either way (`records`, `on_record`).
        """
        with self._lock:
            self._reference = (self._reference + 1) % 256
            try:
                normalise_number(to)
            except PduError as exc:
                self._refuse(to, InvalidNumber(detail=str(exc)), "invalid_number")
            try:
                pdus = encode_submit(
                    to,
                    text,
                    reference=self._reference,
                    international=self.international,
                    status_report=self.status_report,
                    validity_minutes=self.validity_minutes,
                )
            except PduError as exc:
                message = "短信内容为空或太长，请检查短信内容"
                self._refuse(to, DeviceError(message, detail=str(exc)), "invalid_text")
            record = self._in_flight = SendRecord(mask_number(to), parts=len(pdus))
            try:
                for pdu in pdus:
                    record.refs.append(self._send_part(pdu, record))
            except DeviceError as exc:
                self._finish(record, exc, _code(exc))
                raise
            self._finish(record, None, "")
            logger.info("SMS to %s sent in %d part(s)", record.to, record.parts)
            return list(record.refs)

    def _refuse(self, to: str, error: DeviceError, code: str) -> NoReturn:
        self._finish(SendRecord(mask_number(to), parts=0), error, code)
        raise error

    def _send_part(self, pdu, record: SendRecord) -> int:
        last: DeviceError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_delay)
            record.attempts += 1
            try:
                ch = self._ensure_open()
                return self._cmgs(ch, pdu)
            except AtError as exc:
                error, transient = classify(exc)
                if not transient:
                    raise error from exc
                last = error
            except DeviceTimeout as exc:
                # No +CMGS within send_timeout. The part may still have gone out, so a
                # retry can deliver it twice; a duplicate notice is better than none.
                # Cancel a half-entered PDU (ESC) so the next attempt starts clean.
                self._resync()
                last = exc
            except DeviceUnavailable as exc:
                self._drop()  # reopen on the next attempt: the modem may come back
                last = exc
            logger.warning(
                "SMS to %s: part attempt %d failed: %s", record.to, attempt + 1, last.detail
            )
        assert last is not None
        raise last

    def _cmgs(self, ch: AtChannel, pdu) -> int:
        cmd = f"AT+CMGS={pdu.length}"
        ch.garbage = 0
        ch.write(cmd.encode("ascii") + b"\r")
        ch.wait_prompt(cmd, timeout=self.command_timeout)
        # The PDU carries the phone number: never logged, only its size.
        ch.write(pdu.hex.encode("ascii") + CTRL_Z)
        lines = ch.collect(cmd, expect="+CMGS:", timeout=self.send_timeout)
        if not lines:
            raise ProtocolError(detail=f"{cmd}: OK without +CMGS")
        try:
            return int(lines[0].split(":", 1)[1].split(",")[0])
        except ValueError as exc:
            raise ProtocolError(detail=f"{cmd}: {lines[0]!r}") from exc

    def _resync(self) -> None:
        if self._channel is None:
            return
        try:
            self._channel.write(ESC)
            time.sleep(0.1)
            self._channel.discard_input()
        except DeviceError:
            self._drop()

    def _finish(self, record: SendRecord, error: DeviceError | None, code: str) -> None:
        self._in_flight = None
        record.finished = time.time()
        if error is not None:
            record.error = error.message
            record.error_code = code or type(error).__name__
            logger.warning("SMS to %s failed: %s (%s)", record.to, record.error_code, error)
        self.records.append(record)
        del self.records[:-100]
        if self.on_record:
            try:
                self.on_record(record)
            except Exception:
                logger.exception("SMS record callback failed")


def _code(exc: DeviceError) -> str:
    at = getattr(exc, "at_error", None)
    if at is not None and at.kind:
        return f"{at.kind} {at.code}"
    return {DeviceTimeout: "timeout", DeviceUnavailable: "unavailable"}.get(type(exc), "")


def _field(lines: list[str], index: int) -> int | None:
    try:
        return int(lines[0].split(":", 1)[1].split(",")[index])
    except (IndexError, ValueError):
        return None
