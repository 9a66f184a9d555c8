"""What reaches the flow (events) and what the flow asks for (effects).

Events come from the person (taps), from devices and the network (posted by worker
threads onto the UI thread) and from the clock. Effects are requests the runtime carries
out on worker threads; their outcome comes back as another event. Both are plain data, so
the flow is tested by feeding events and reading effects, without Kivy or hardware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Person:
    """An applicant as read from the ID card (or typed by an officer)."""

    name: str
    id_number: str
    gender: str | None = None  # "1" male, "2" female (GB/T 2261.1)
    nation: str | None = None
    birth_date: date | None = None
    address: str | None = None
    from_card: bool = True

    def __repr__(self) -> str:  # never print the person in logs or tracebacks
        return f"Person(from_card={self.from_card})"


# --- events -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Tap:
    """A button: `action` names it, `value` says which one of a list."""

    action: str
    value: str | None = None


@dataclass(frozen=True)
class TextEntered:
    """A text field changed (search words, a typed name)."""

    field: str
    value: str


@dataclass(frozen=True)
class Tick:
    """The clock: drives the idle warning and wipe."""


@dataclass(frozen=True)
class CardRead:
    person: Person
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardRemoved:
    pass


@dataclass(frozen=True)
class CardFault:
    message: str


@dataclass(frozen=True)
class CameraAdvice:
    """The document pipeline's advice for the current frame (only when it changes)."""

    message: str


@dataclass(frozen=True)
class Captured:
    """Auto-capture took a still, sharp page: the corrected page as JPEG."""

    jpeg: bytes


@dataclass(frozen=True)
class CameraFault:
    message: str


@dataclass(frozen=True)
class CodeScanned:
    text: str


@dataclass(frozen=True)
class Filed:
    """The application is committed in the outbox."""

    application_id: str
    receipt_number: str


@dataclass(frozen=True)
class FileFailed:
    message: str


@dataclass(frozen=True)
class Printed:
    size: int


@dataclass(frozen=True)
class PrintFailed:
    message: str


@dataclass(frozen=True)
class Acked:
    """The hub stored the application: the official case number."""

    application_id: str
    case_number: str


@dataclass(frozen=True)
class ProgressAnswer:
    applications: tuple[dict, ...]
    local: bool = False  # from the kiosk's own records (hub not reachable)


@dataclass(frozen=True)
class ProgressFailed:
    message: str


@dataclass(frozen=True)
class Network:
    online: bool
    pending: int


@dataclass(frozen=True)
class StationSnapshot:
    """For officer and maintenance screens: outbox rows, results to hand over, health."""

    pending: tuple[dict, ...] = ()
    invalid: int = 0
    handover: tuple[dict, ...] = ()
    devices: tuple[tuple[str, str, str], ...] = ()  # (device, state, message)
    config_version: str = ""


@dataclass(frozen=True)
class Collected:
    application_id: str


# --- effects ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Say:
    """Speak a catalogue sentence (voice guidance)."""

    key: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WatchCard:
    on: bool


@dataclass(frozen=True)
class Camera:
    """"off", "document" (preview + auto-capture) or "code" (look for a receipt QR)."""

    mode: str


@dataclass(frozen=True)
class FileApplication:
    """Write to the outbox: `fields` are ApplicationSubmit fields without receipt/filed_at;
    `pages` lists, per material in `fields["materials"]` order, the JPEG pages."""

    fields: dict
    pages: tuple[tuple[bytes, ...], ...]


@dataclass(frozen=True)
class PrintReceipt:
    receipt_number: str
    lines: tuple[tuple[str, str], ...]
    qr: str


@dataclass(frozen=True)
class LookupProgress:
    params: dict


@dataclass(frozen=True)
class RefreshStation:
    pass


@dataclass(frozen=True)
class PrintTest:
    pass


@dataclass(frozen=True)
class RecordCollection:
    """领取登记: the villager whose card was read collected the result from the officer."""

    application_id: str
    officer_id: str
    collector_name: str = ""
    collector_id_number: str = ""


@dataclass(frozen=True)
class DiscardImages:
    """The session was wiped: drop captured images not yet submitted."""


@dataclass(frozen=True)
class CatalogUpdated:
    """A newer catalog arrived from the hub (already cached for offline use)."""

    catalog: object  # protocols.catalog.Catalog
