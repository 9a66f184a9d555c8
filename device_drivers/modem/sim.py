"""A GSM modem on a pseudo-terminal: answers AT commands, accepts PDUs, keeps what was sent.

Echo is on until `ATE0`, as on a real modem. `AT+CMGS=<n>` answers `> `, then takes
PDU hex up to Ctrl-Z (ESC cancels), checks that `<n>` is the TPDU length, decodes the
PDU and answers `+CMGS: <mr>`; when the PDU asks for a status report (TP-SRR) a `+CDS`
"received" report follows, as a service centre would send it.

Faults: `sim_missing` (`+CPIN?` → `+CME ERROR: 10`), `sim_pin`, `no_network`
(`+CREG: 0,0`, sending → `+CMS ERROR: 331`), `reject` (`+CMS ERROR: 21`), `flaky` (the
next `flaky_failures` sends → `+CMS ERROR: 500`), `garbage` (noise instead of answers),
`urc_noise` (unsolicited result codes in front of every answer), plus `silent` and
`unplug` from `PtySimulator`.
"""

from __future__ import annotations

import threading

from device_drivers.modem.pdu import PduError, Submit, decode_submit, encode_status_report
from device_drivers.sim.pty import PtySimulator

FAULTS = (
    "sim_missing",
    "sim_pin",
    "no_network",
    "reject",
    "flaky",
    "garbage",
    "urc_noise",
    "silent",
    "unplug",
)
URC_NOISE = (
    b'\r\n+CMTI: "SM",3\r\n',
    b"\r\nRING\r\n",
    b"\r\n+CREG: 1\r\n",
    b"\r\n+CDS: 25\r\n0006D60B911326880736F4111011719551401110117195714000\r\n",
)


class ModemSimulator(PtySimulator):
    """`sent` holds every accepted PDU decoded; `texts()` joins concatenated parts."""

    device = "modem"
    FAULTS = FAULTS

    def __init__(self, link: str | None = None, fault: str | None = None) -> None:
        super().__init__(link)
        self.echo = True
        self.sim_missing = self.sim_pin = self.no_network = False
        self.reject = self.garbage = self.urc_noise = False
        self.reports = True  # answer a status report request with a +CDS "delivered"
        self.flaky_failures = 0
        self.sent: list[Submit] = []
        self.raw_pdus: list[str] = []
        self.commands: list[str] = []
        self._line = b""
        self._pdu_length: int | None = None
        self._mr = 0
        self._urc_index = 0
        self._changed = threading.Condition()
        if fault:
            self.set_fault(fault)

    def _switch_on(self, fault: str) -> None:
        if fault == "flaky":
            self.flaky_failures = 2
        else:
            super()._switch_on(fault)

    def texts(self) -> list[tuple[str, str]]:
        """(number, text) per message, concatenated parts joined in sequence order."""
        out: list[tuple[str, str]] = []
        groups: dict[tuple[str, int, int], dict[int, str]] = {}
        for s in self.sent:
            if s.concat is None:
                out.append((s.number, s.text))
                continue
            ref, total, seq = s.concat
            parts = groups.setdefault((s.number, ref, total), {})
            parts[seq] = s.text
            if len(parts) == total:
                out.append((s.number, "".join(parts[i] for i in range(1, total + 1))))
                del groups[(s.number, ref, total)]
        return out

    def wait_sent(self, count: int, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.sent) >= count, timeout)

    def urc(self, line: bytes) -> None:
        """Send an unsolicited result code now."""
        self.send(b"\r\n" + line + b"\r\n")

    # byte handling -----------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        for b in data:
            byte = bytes((b,))
            if self._pdu_length is not None:
                self._pdu_byte(byte)
            elif byte == b"\r":
                line, self._line = self._line, b""
                if self.echo:
                    self.send(line + b"\r")
                self._command(line.decode("ascii", "replace").strip())
            elif b >= 0x20:  # other control bytes (a stray ESC) are ignored
                self._line += byte

    def _reply(self, *lines: str, final: str = "OK") -> None:
        if self.garbage:
            self.send(b"\r\n\xff\xfe\x00#%&\x81\x9c\r\n\xa5\xa5\xa5\r\n")
            return
        if self.urc_noise:
            self.send(URC_NOISE[self._urc_index % len(URC_NOISE)])
            self._urc_index += 1
        body = b"".join(b"\r\n" + line.encode("ascii") + b"\r\n" for line in lines)
        self.send(body + b"\r\n" + final.encode("ascii") + b"\r\n")

    def _command(self, cmd: str) -> None:
        if not cmd:
            return
        self.commands.append(cmd)
        upper = cmd.upper()
        if upper in ("AT", "AT+CMEE=1", "AT+CMGF=0") or upper.startswith("AT+CNMI="):
            self._reply()
        elif upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            self._reply()
        elif upper == "AT+CPIN?":
            if self.sim_missing:
                self._reply(final="+CME ERROR: 10")
            else:
                self._reply("+CPIN: SIM PIN" if self.sim_pin else "+CPIN: READY")
        elif upper == "AT+CREG?":
            self._reply("+CREG: 0,0" if self.no_network else "+CREG: 0,1")
        elif upper == "AT+CSQ":
            self._reply("+CSQ: 99,99" if self.no_network else "+CSQ: 21,99")
        elif upper.startswith("AT+CMGS="):
            if self.sim_missing:
                self._reply(final="+CMS ERROR: 310")
                return
            try:
                self._pdu_length = int(cmd.split("=", 1)[1])
            except ValueError:
                self._reply(final="+CMS ERROR: 304")
                return
            self._line = b""
            if self.garbage:
                self._reply()
                self._pdu_length = None
                return
            self.send(b"\r\n> ")
        else:
            self._reply(final="ERROR")

    def _pdu_byte(self, byte: bytes) -> None:
        if byte == b"\x1b":  # ESC: cancel the message
            self._pdu_length, self._line = None, b""
            self._reply()
        elif byte == b"\x1a":
            pdu, self._line = self._line.decode("ascii", "replace").strip(), b""
            length, self._pdu_length = self._pdu_length, None
            self._submit(pdu, length)
        elif byte not in (b"\r", b"\n"):
            self._line += byte

    def _submit(self, pdu: str, length: int | None) -> None:
        try:
            decoded = decode_submit(pdu)
        except PduError:
            self._reply(final="+CMS ERROR: 304")
            return
        if decoded.tpdu_length != length:
            self._reply(final="+CMS ERROR: 304")
            return
        if self.no_network:
            self._reply(final="+CMS ERROR: 331")
            return
        if self.reject:
            self._reply(final="+CMS ERROR: 21")
            return
        if self.flaky_failures:
            self.flaky_failures -= 1
            self._reply(final="+CMS ERROR: 500")
            return
        self._mr = (self._mr + 1) % 256
        with self._changed:
            self.sent.append(decoded)
            self.raw_pdus.append(pdu)
            self._changed.notify_all()
        self._reply(f"+CMGS: {self._mr}")
        if decoded.status_report and self.reports:
            # The service centre's SMS-STATUS-REPORT, as +CDS (AT+CNMI=…,…,…,1 routing).
            report = encode_status_report(self._mr, decoded.number, 0x00, "62117231000000")
            self.send(f"\r\n+CDS: {len(report) // 2 - 1}\r\n{report}\r\n".encode("ascii"))
