"""The kiosk's flows as one plain-Python state machine (no Kivy, no I/O).

`Flow.handle(event, now)` moves the screen on and returns the effects the runtime must
carry out (read the card, start the camera, write the outbox, print …); their outcomes
come back as events. The flow holds the session — applicant, chosen item, captured pages,
phone — and wipes it after `idle_wipe` seconds without a tap (a warning shows from
`idle_warn`). Screens read `flow.screen` and `flow.session` and only forward taps.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from kiosk.flow import events as ev
from kiosk.flow import form as answers
from protocols.catalog import Catalog, FormField, Material, ServiceItem, UnknownItem
from protocols.identity import (
    InvalidIdNumber,
    is_valid_mobile,
    mask_id_number,
    mask_name,
    mask_phone,
    parse_id_number,
)
from protocols.messages import RECEIPT_NUMBER

logger = logging.getLogger(__name__)

RECEIPT_QR_PREFIX = "CUNBAN:R:"
_RECEIPT = re.compile(RECEIPT_NUMBER)
COMPLETED_CODES = (11, 12)  # 办结（通过）/（容缺通过）: a result to collect
SUPPLEMENT_CODE = 6


class Screen(StrEnum):
    WELCOME = "welcome"
    IDENTIFY = "identify"
    ID_ENTRY = "id_entry"
    CHOOSE = "choose"
    ITEM = "item"
    FORM = "form"
    MATERIALS = "materials"
    PHONE = "phone"
    REVIEW = "review"
    SUBMITTING = "submitting"
    RECEIPT = "receipt"
    PROGRESS_SCAN = "progress_scan"
    PROGRESS = "progress"
    OFFICER_LOGIN = "officer_login"
    OFFICER_PIN = "officer_pin"
    OFFICER = "officer"
    OUTBOX = "outbox"
    HANDOVER = "handover"
    MAINTENANCE_PIN = "maintenance_pin"
    MAINTENANCE = "maintenance"


CARD_SCREENS = frozenset({Screen.IDENTIFY, Screen.PROGRESS_SCAN, Screen.OFFICER_LOGIN,
                          Screen.HANDOVER})
CAMERA_MODES = {Screen.MATERIALS: "document", Screen.PROGRESS_SCAN: "code"}

# --- officers and PINs ----------------------------------------------------------------
PIN_ITERATIONS = 50_000


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """`pbkdf2_sha256$iterations$salt$hash`, for the kiosk configuration."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PIN_ITERATIONS)
    return f"pbkdf2_sha256${PIN_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_pin(pin: str, hashed: str) -> bool:
    try:
        scheme, iterations, salt, digest = hashed.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class OfficerAccount:
    """A station officer who may log in at this kiosk (their ID card + PIN)."""

    officer_id: str
    name: str
    id_number: str
    pin_hash: str


def receipt_qr(receipt_number: str) -> str:
    """What the receipt's QR code says: the provisional receipt number, prefixed."""
    return RECEIPT_QR_PREFIX + receipt_number


def parse_receipt_qr(text: str) -> str | None:
    """The receipt number in a scanned receipt QR, or None for any other code."""
    if not text.startswith(RECEIPT_QR_PREFIX):
        return None
    number = text[len(RECEIPT_QR_PREFIX):].strip()
    return number if _RECEIPT.match(number) else None


# --- the session ------------------------------------------------------------------------
@dataclass
class Session:
    """Everything one visit holds; replaced by a fresh one on wipe."""

    purpose: str = ""  # "file" | "progress" | "collect"
    applicant: ev.Person | None = None
    message: str = ""  # a key of the strings catalogue, or ""
    message_params: dict = field(default_factory=dict)
    group: str | None = None
    search: str = ""
    item_code: str | None = None
    category: str | None = None
    form: dict = field(default_factory=dict)  # answers by field key, as the hub takes them
    form_index: int = 0
    draft: str = ""  # the number keys or typed text on the current form page
    draft_date: tuple[int, int, int] = (0, 0, 0)  # the date steppers' year, month, day
    officer_help: bool = False  # an officer logs in to type a field for this villager
    material_index: int = 0
    pages: dict[str, list[bytes]] = field(default_factory=dict)
    advice: str = ""
    phone: str = ""
    consent: bool = False
    application_id: str | None = None
    receipt_number: str | None = None
    case_number: str | None = None
    print_state: str = ""  # "" | printing | printed | failed
    print_error: str = ""
    progress: tuple[dict, ...] = ()
    progress_local: bool = False
    typed_id: str = ""
    typed_name: str = ""
    pin: str = ""
    pending_officer: OfficerAccount | None = None
    collect_id: str | None = None

    @property
    def masked_name(self) -> str:
        return mask_name(self.applicant.name) if self.applicant else ""

    @property
    def masked_id(self) -> str:
        return mask_id_number(self.applicant.id_number) if self.applicant else ""

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


class Flow:
    def __init__(self, station: str, catalog: Catalog | None, *,
                 officers: list[OfficerAccount] | None = None,
                 maintenance_pin_hash: str | None = None, idle_warn: float = 60.0,
                 idle_wipe: float = 90.0, station_name: str = "",
                 today: Callable[[], date] = date.today):
        self.station = station
        self.today = today
        self.station_name = station_name
        self.catalog = catalog
        self.officers = list(officers or [])
        self.maintenance_pin_hash = maintenance_pin_hash
        self.idle_warn = idle_warn
        self.idle_wipe = idle_wipe
        self.lang = "zh_CN"
        self.screen = Screen.WELCOME
        self.session = Session()
        self.officer: OfficerAccount | None = None
        self.online = False
        self.pending_uploads = 0
        self.snapshot = ev.StationSnapshot()
        self.idle_warning = False
        self.wipes = 0
        self._last_activity = 0.0
        self._out: list = []
        self._next_catalog: Catalog | None = None

    # the one entry point ------------------------------------------------------------------
    def handle(self, event, now: float) -> list:
        """Apply one event at monotonic time `now`; return the effects to carry out."""
        self._out = []
        if isinstance(event, ev.Tick):
            self._tick(now)
        else:
            if isinstance(event, ev.Tap | ev.TextEntered | ev.CardRead | ev.Captured):
                self._last_activity = now
                self.idle_warning = False
            handler = getattr(self, f"_on_{type(event).__name__}", None)
            if handler is None:
                logger.debug("flow ignores %s on %s", type(event).__name__, self.screen)
            else:
                handler(event)
        out, self._out = self._out, []
        return out

    def start(self, now: float) -> list:
        """The first screen after start-up."""
        self._last_activity = now
        self._out = []
        self._go(Screen.WELCOME)
        out, self._out = self._out, []
        return out

    # helpers ------------------------------------------------------------------------------
    def _emit(self, *effects) -> None:
        self._out.extend(effects)

    def _say(self, key: str, **params) -> None:
        self._emit(ev.Say(key, params))

    def _note(self, key: str = "", **params) -> None:
        self.session.message = key
        self.session.message_params = params

    def _go(self, screen: Screen) -> None:
        """Enter a screen: start/stop the devices it needs, speak its prompt."""
        self.screen = screen
        # Devices follow the screen; the runtime ignores a request for the state it is in.
        self._emit(ev.WatchCard(screen in CARD_SCREENS))
        self._emit(ev.Camera(CAMERA_MODES.get(screen, "off")))
        prompt = {
            Screen.WELCOME: "voice.welcome", Screen.IDENTIFY: "voice.identify",
            Screen.CHOOSE: "voice.choose", Screen.ITEM: "voice.item",
            Screen.PHONE: "voice.phone", Screen.REVIEW: "voice.review",
            Screen.PROGRESS_SCAN: "voice.progress_scan",
        }.get(screen)
        if prompt:
            self._say(prompt)
        if screen == Screen.FORM:
            fld = self.current_field()
            if fld is not None:
                self._say("voice.form", label=fld.label)
        if screen == Screen.MATERIALS:
            material = self.current_material()
            if material is not None:
                self._say("voice.materials", material=material.name)
        if screen in (Screen.OFFICER, Screen.OUTBOX, Screen.HANDOVER, Screen.MAINTENANCE):
            self._emit(ev.RefreshStation())

    def wipe(self) -> None:
        """Forget the visit: screen, memory and pages not yet submitted."""
        had_pages = any(self.session.pages.values()) and not self.session.application_id
        self.session = Session()
        self.officer = None
        self.idle_warning = False
        self.wipes += 1
        if self._next_catalog is not None:
            self.catalog, self._next_catalog = self._next_catalog, None
        if had_pages:
            self._emit(ev.DiscardImages())
        self._go(Screen.WELCOME)

    def _tick(self, now: float) -> None:
        if self.screen == Screen.WELCOME and not self.officer:
            self._last_activity = now
            return
        if self.screen in (Screen.SUBMITTING,):
            return  # never wipe while the outbox is being written
        idle = now - self._last_activity
        if idle >= self.idle_wipe:
            self.wipe()
            self._last_activity = now
        elif idle >= self.idle_warn and not self.idle_warning:
            self.idle_warning = True
            self._say("idle.warning")

    # catalogue views ----------------------------------------------------------------------
    def items(self) -> list[ServiceItem]:
        """Items to show on the choose screen: by group or search, most used first."""
        if self.catalog is None:
            return []
        active = [i for i in self.catalog.items if i.status == "active"]
        words = self.session.search.strip()
        if words:
            active = [i for i in active if words in i.name or any(words in t for t in i.tags)]
        elif self.session.group:
            active = [i for i in active if i.category == self.session.group]
        else:
            active = sorted(active, key=lambda i: i.popularity)[:8]
        return sorted(active, key=lambda i: i.popularity)

    def groups(self) -> list[str]:
        return list(self.catalog.groups) if self.catalog else []

    def item(self) -> ServiceItem | None:
        if self.catalog is None or not self.session.item_code:
            return None
        try:
            return self.catalog.item(self.session.item_code)
        except UnknownItem:
            return None

    def to_photograph(self) -> list[Material]:
        """The item's required materials for this category, less those the card read makes."""
        item = self.item()
        if item is None or (item.categories and not self.session.category):
            return []
        required = self.catalog.required_materials(item.code, self.session.category)
        from_card = self.session.applicant is not None and self.session.applicant.from_card
        return [mat for mat in required if not (mat.from_id_card and from_card)]

    def current_material(self) -> Material | None:
        materials = self.to_photograph()
        i = self.session.material_index
        return materials[i] if 0 <= i < len(materials) else None

    def needs_officer(self, item: ServiceItem) -> bool:
        """A required field only the station officer can type, and no officer here."""
        return not self.officer and any(
            f.required and f.type in answers.TYPED_BY_OFFICER for f in item.form)

    def current_field(self) -> FormField | None:
        item = self.item()
        i = self.session.form_index
        return item.form[i] if item is not None and 0 <= i < len(item.form) else None

    def can_type(self, fld: FormField) -> bool:
        """Text is typed only in officer mode (the villager is sent to the officer)."""
        return fld.type not in answers.TYPED_BY_OFFICER or self.officer is not None

    def form_problem(self) -> tuple[int, answers.BadAnswer] | None:
        """The first field whose stored answer is missing or wrong, with why."""
        item = self.item()
        for i, fld in enumerate(item.form if item else ()):
            if fld.key not in self.session.form:
                if fld.required:
                    return i, answers.BadAnswer("form.required")
                continue
            try:
                answers.check_answer(fld, self.session.form[fld.key], self.today())
            except answers.BadAnswer as exc:
                return i, exc
        return None

    # taps ---------------------------------------------------------------------------------
    def _on_Tap(self, tap: ev.Tap) -> None:
        action = tap.action
        if action == "language":
            self.lang = "en" if self.lang == "zh_CN" else "zh_CN"
            return
        if action == "continue":
            return  # the idle warning is gone: any tap counts as activity
        if action == "home":
            if self.officer and self.screen not in (Screen.WELCOME, Screen.OFFICER):
                keep = self.officer
                self.session = Session()
                self.officer = keep
                self._go(Screen.OFFICER)
            else:
                self.wipe()
            return
        handler = getattr(self, f"_tap_{self.screen.value}", None)
        if handler is not None:
            handler(action, tap.value)

    def _tap_welcome(self, action: str, value: str | None) -> None:
        self._note()
        if action == "file":
            self.session.purpose = "file"
            self._go(Screen.IDENTIFY)
        elif action == "progress":
            self.session.purpose = "progress"
            self._go(Screen.PROGRESS_SCAN)
        elif action == "officer":
            self._go(Screen.OFFICER_LOGIN)
        elif action == "maintenance":
            self.session.pin = ""
            self._go(Screen.MAINTENANCE_PIN)

    def _tap_identify(self, action: str, value: str | None) -> None:
        if action == "type_number" and self.officer:
            self.session.typed_id = ""
            self._note()
            self._go(Screen.ID_ENTRY)
        elif action == "back":
            self._tap_back_to_start()

    def _tap_back_to_start(self) -> None:
        if self.officer:
            self._go(Screen.OFFICER)
        else:
            self.wipe()

    def _tap_id_entry(self, action: str, value: str | None) -> None:
        s = self.session
        if action == "key" and value and len(s.typed_id) < 18:
            s.typed_id += value
        elif action == "delete":
            s.typed_id = s.typed_id[:-1]
        elif action == "back":
            self._go(Screen.IDENTIFY)
        elif action == "next":
            try:
                ident = parse_id_number(s.typed_id)
            except InvalidIdNumber as exc:
                self._note("identify.bad_number", reason=exc.reason)
                return
            name = s.typed_name.strip()
            if not name:
                self._note("identify.name")
                return
            s.applicant = ev.Person(name=name, id_number=ident.value, gender=ident.gender,
                                    birth_date=ident.birth_date, from_card=False)
            self._note()
            self._go(Screen.CHOOSE)

    def _tap_choose(self, action: str, value: str | None) -> None:
        s = self.session
        if action == "group":
            s.group = value if value != s.group else None
            s.search = ""
        elif action == "item" and value:
            s.item_code = value
            item = self.item()
            s.category = None
            s.form = {}
            s.pages = {}
            s.material_index = 0
            if item is not None and len(item.categories) == 1:
                s.category = item.categories[0].code
            self._note("item.needs_officer" if item and self.needs_officer(item) else "")
            self._go(Screen.ITEM)
        elif action == "back":
            self._tap_back_to_start()

    def _tap_item(self, action: str, value: str | None) -> None:
        s = self.session
        item = self.item()
        if action == "category" and item and value in {c.code for c in item.categories}:
            s.category = value
        elif action == "back":
            self._go(Screen.CHOOSE)
        elif action == "start" and item is not None:
            if item.categories and not s.category:
                self._note("item.category")
                return
            self._note()
            if item.form:
                self._enter_field(0)
            else:
                s.material_index = 0
                self._next_material_or_phone()

    # the form: one field per page ----------------------------------------------------------
    def _enter_field(self, index: int) -> None:
        s = self.session
        s.form_index = index
        fld = self.current_field()
        if fld is None:
            return
        s.draft = answers.draft_of(fld, s.form.get(fld.key))
        s.draft_date = answers.date_parts(s.form.get(fld.key), self.today())
        self._note()  # a text page a villager cannot type says so itself
        self._go(Screen.FORM)

    def _after_form(self) -> None:
        item = self.item()
        if item is not None and self.session.form_index + 1 < len(item.form):
            self._enter_field(self.session.form_index + 1)
            return
        self.session.material_index = 0
        self._next_material_or_phone()

    def _before_materials(self) -> None:
        """Back from the first material (or from the phone when nothing is photographed)."""
        item = self.item()
        if item is not None and item.form:
            self._enter_field(len(item.form) - 1)
        else:
            self._go(Screen.ITEM)

    def _tap_form(self, action: str, value: str | None) -> None:
        s = self.session
        fld = self.current_field()
        if fld is None:
            return
        if action == "choose" and fld.type in ("choice", "bool"):
            try:
                s.form[fld.key] = answers.check_answer(fld, value, self.today())
                self._note()
            except answers.BadAnswer as exc:
                self._note(exc.key, **exc.params)
        elif action == "key" and fld.type == "number" and value:
            s.draft = answers.add_number_key(s.draft, value)
            self._note()
        elif action == "delete" and fld.type == "number":
            s.draft = s.draft[:-1]
        elif action == "clear" and fld.type == "number":
            s.draft = ""
        elif action == "step" and fld.type == "date" and value and ":" in value:
            part, _, delta = value.partition(":")
            if part in answers.DATE_PARTS and delta in ("+1", "-1"):
                s.draft_date = answers.step_date(s.draft_date, part, int(delta), self.today())
                self._note()
        elif action == "officer_help" and not self.can_type(fld):
            # The officer logs in (card + PIN) over this visit, then types the field; the
            # application is then filed on the villager's behalf and names the officer.
            s.officer_help = True
            s.pin = ""
            self._note()
            self._go(Screen.OFFICER_LOGIN)
        elif action == "skip" and not fld.required:
            s.form.pop(fld.key, None)
            self._note()
            self._after_form()
        elif action == "next":
            self._answer(fld)
        elif action == "back":
            if s.form_index > 0:
                self._enter_field(s.form_index - 1)
            else:
                self._note()
                self._go(Screen.ITEM)

    def _answer(self, fld: FormField) -> None:
        """Keep the page's answer if the field takes it, and go on."""
        s = self.session
        if not self.can_type(fld):
            self._note("form.ask_officer")
            return
        raw = {"number": s.draft, "text": s.draft, "date": s.draft_date}.get(
            fld.type, s.form.get(fld.key))
        try:
            s.form[fld.key] = answers.check_answer(fld, raw, self.today())
        except answers.BadAnswer as exc:
            self._note(exc.key, **exc.params)
            return
        self._note()
        self._after_form()

    def _next_material_or_phone(self) -> None:
        if self.current_material() is not None:
            self.session.advice = ""
            self._go(Screen.MATERIALS)
        else:
            self._go(Screen.PHONE)

    def _tap_materials(self, action: str, value: str | None) -> None:
        s = self.session
        material = self.current_material()
        if material is None:
            return
        pages = s.pages.setdefault(material.code, [])
        if action == "retake" and pages:
            pages.pop()
            self._emit(ev.Camera("document"))  # re-arm auto-capture on the same page
        elif action == "more":
            self._emit(ev.Camera("document"))
        elif action == "next" and pages:
            s.material_index += 1
            self._next_material_or_phone()
        elif action == "back":
            if s.material_index > 0:
                s.material_index -= 1
                self._go(Screen.MATERIALS)
            else:
                self._before_materials()

    def _tap_phone(self, action: str, value: str | None) -> None:
        s = self.session
        if action == "key" and value and value.isdigit() and len(s.phone) < 11:
            s.phone += value
            self._note()
        elif action == "delete":
            s.phone = s.phone[:-1]
        elif action == "clear":
            s.phone = ""
        elif action == "back":
            if self.to_photograph():
                s.material_index = len(self.to_photograph()) - 1
                self._go(Screen.MATERIALS)
            else:
                self._before_materials()
        elif action == "next":
            if not is_valid_mobile(s.phone):
                self._note("phone.invalid")
                return
            self._note()
            self._go(Screen.REVIEW)

    def _tap_review(self, action: str, value: str | None) -> None:
        s = self.session
        if action == "consent":
            s.consent = not s.consent
            self._note()
        elif action == "back":
            self._go(Screen.PHONE)
        elif action == "submit":
            if not s.consent:
                self._note("review.consent_needed")
                return
            self._submit()

    def _submit(self) -> None:
        s = self.session
        item = self.item()
        person = s.applicant
        if item is None or person is None or self.catalog is None:
            return
        problem = self.form_problem()
        if problem is not None:
            index, exc = problem
            self._enter_field(index)
            self._note(exc.key, **exc.params)
            return
        materials = [mat for mat in self.to_photograph() if s.pages.get(mat.code)]
        fields = {
            "service_code": item.code,
            "catalog_version": self.catalog.version,
            "applicant": {
                "id_number": person.id_number, "name": person.name, "gender": person.gender,
                "nation": person.nation or None, "birth_date": person.birth_date,
                "address": person.address or None, "phone": s.phone,
                "from_card": person.from_card,
            },
            "category": s.category,
            "form": dict(s.form),
            "materials": [{"code": mat.code, "pages": len(s.pages[mat.code])}
                          for mat in materials],
            "proxy_officer": ({"officer_id": self.officer.officer_id, "name": self.officer.name}
                              if self.officer else None),
        }
        pages = tuple(tuple(s.pages[mat.code]) for mat in materials)
        self._note()
        self._go(Screen.SUBMITTING)
        self._emit(ev.FileApplication(fields, pages))

    def _tap_receipt(self, action: str, value: str | None) -> None:
        s = self.session
        if action == "progress" and s.applicant:
            s.purpose = "progress"
            s.progress = ()
            self._emit(ev.LookupProgress({"id_number": s.applicant.id_number}))
            self._note("progress.looking")
            self._go(Screen.PROGRESS)
        elif action == "done":
            self._tap_back_to_start()

    def _tap_progress_scan(self, action: str, value: str | None) -> None:
        if action == "back":
            self._tap_back_to_start()

    def _tap_progress(self, action: str, value: str | None) -> None:
        if action in ("back", "done"):
            self._tap_back_to_start()

    def _pin_key(self, action: str, value: str | None) -> bool:
        s = self.session
        if action == "key" and value and value.isdigit() and len(s.pin) < 8:
            s.pin += value
            return True
        if action == "delete":
            s.pin = s.pin[:-1]
            return True
        return False

    def _tap_officer_login(self, action: str, value: str | None) -> None:
        if action == "back":
            self._leave_officer_login()

    def _leave_officer_login(self) -> None:
        """Back without an officer: to the villager's form page if one called for help."""
        s = self.session
        if s.officer_help:
            s.officer_help = False
            s.pending_officer = None
            s.pin = ""
            self._enter_field(s.form_index)
        else:
            self.wipe()

    def _tap_officer_pin(self, action: str, value: str | None) -> None:
        s = self.session
        if self._pin_key(action, value):
            self._note()
        elif action == "back":
            self._leave_officer_login()
        elif action == "next" and s.pending_officer is not None:
            if check_pin(s.pin, s.pending_officer.pin_hash):
                self.officer = s.pending_officer
                logger.info("officer %s logged in", self.officer.officer_id)
                if s.officer_help:
                    s.officer_help = False
                    s.pending_officer = None
                    s.pin = ""
                    self._enter_field(s.form_index)
                    return
                self.session = Session()
                self._go(Screen.OFFICER)
            else:
                s.pin = ""
                self._note("officer.bad_pin")

    def _tap_officer(self, action: str, value: str | None) -> None:
        if action == "file":
            self.session = Session(purpose="file")
            self._go(Screen.IDENTIFY)
        elif action == "outbox":
            self._go(Screen.OUTBOX)
        elif action == "handover":
            self.session.collect_id = None
            self._go(Screen.HANDOVER)
        elif action == "logout":
            self.wipe()

    def _tap_outbox(self, action: str, value: str | None) -> None:
        if action == "back":
            self._go(Screen.OFFICER)

    def _tap_handover(self, action: str, value: str | None) -> None:
        if action == "collect" and value:
            self.session.collect_id = value
            self._note()
        elif action == "back":
            self._go(Screen.OFFICER)

    def _tap_maintenance_pin(self, action: str, value: str | None) -> None:
        s = self.session
        if self._pin_key(action, value):
            self._note()
        elif action == "back":
            self.wipe()
        elif action == "next":
            if self.maintenance_pin_hash and check_pin(s.pin, self.maintenance_pin_hash):
                s.pin = ""
                self._note()
                self._go(Screen.MAINTENANCE)
            else:
                s.pin = ""
                self._note("officer.bad_pin")

    def _tap_maintenance(self, action: str, value: str | None) -> None:
        if action == "test_print":
            self._emit(ev.PrintTest())
        elif action == "refresh":
            self._emit(ev.RefreshStation())
        elif action == "back":
            self.wipe()

    # typed text ---------------------------------------------------------------------------
    def _on_TextEntered(self, entered: ev.TextEntered) -> None:
        if entered.field == "search" and self.screen == Screen.CHOOSE:
            self.session.search = entered.value[:20]
        elif entered.field == "name" and self.screen == Screen.ID_ENTRY:
            self.session.typed_name = entered.value[:30]
        elif entered.field == "form" and self.screen == Screen.FORM:
            fld = self.current_field()
            if fld is not None and fld.type == "text" and self.can_type(fld):
                self.session.draft = entered.value[:answers.text_limit(fld)]

    # devices ------------------------------------------------------------------------------
    def _on_CardRead(self, read: ev.CardRead) -> None:
        s = self.session
        if self.screen == Screen.IDENTIFY:
            if read.problems:
                self._note("identify.refused", reason="；".join(read.problems))
                return
            s.applicant = read.person
            self._note()
            self._go(Screen.CHOOSE)
        elif self.screen == Screen.PROGRESS_SCAN:
            s.applicant = read.person
            s.progress = ()
            self._note("progress.looking")
            self._emit(ev.LookupProgress({"id_number": read.person.id_number}))
            self._go(Screen.PROGRESS)
        elif self.screen == Screen.OFFICER_LOGIN:
            account = next((o for o in self.officers
                            if o.id_number == read.person.id_number), None)
            if account is None:
                self._note("officer.not_officer")
                return
            s.pending_officer = account
            s.pin = ""
            self._note()
            self._go(Screen.OFFICER_PIN)
        elif self.screen == Screen.HANDOVER and s.collect_id and self.officer:
            row = next((r for r in self.snapshot.handover
                        if r["application_id"] == s.collect_id), None)
            if row is None:
                return
            if row.get("id_number") != read.person.id_number:
                self._note("officer.collect_wrong")
                return
            self._emit(ev.RecordCollection(s.collect_id, self.officer.officer_id,
                                           read.person.name, read.person.id_number))
            s.collect_id = None

    def _on_CardFault(self, fault: ev.CardFault) -> None:
        if self.screen in CARD_SCREENS:
            self._note("identify.reader_fault", reason=fault.message)

    def _on_CardRemoved(self, removed: ev.CardRemoved) -> None:
        """Taking the card away changes nothing: the visit goes on with what was read."""

    def _on_CameraAdvice(self, advice: ev.CameraAdvice) -> None:
        if self.screen == Screen.MATERIALS:
            self.session.advice = advice.message

    def _on_Captured(self, shot: ev.Captured) -> None:
        material = self.current_material()
        if self.screen != Screen.MATERIALS or material is None:
            return
        self.session.pages.setdefault(material.code, []).append(shot.jpeg)
        self.session.advice = ""
        self._emit(ev.Camera("off"))
        self._say("voice.captured")

    def _on_CameraFault(self, fault: ev.CameraFault) -> None:
        if self.screen in (Screen.MATERIALS, Screen.PROGRESS_SCAN):
            self._note("materials.camera_fault", reason=fault.message)

    def _on_CodeScanned(self, scanned: ev.CodeScanned) -> None:
        if self.screen != Screen.PROGRESS_SCAN:
            return
        number = parse_receipt_qr(scanned.text)
        if number is None or not number.startswith(self.station.split("-")[0]):
            self._note("progress.bad_code")
            return
        self.session.progress = ()
        self._note("progress.looking")
        self._emit(ev.LookupProgress({"receipt_number": number}))
        self._go(Screen.PROGRESS)

    # outbox, printer, hub -----------------------------------------------------------------
    def _on_Filed(self, filed: ev.Filed) -> None:
        s = self.session
        if self.screen != Screen.SUBMITTING:
            return
        item = self.item()
        s.application_id = filed.application_id
        s.receipt_number = filed.receipt_number
        s.pages = {}  # submitted: the outbox holds them now
        s.print_state = "printing"
        self._go(Screen.RECEIPT)
        self._say("voice.receipt")
        lines = [("print.receipt_number", filed.receipt_number),
                 ("print.service", item.name if item else ""),
                 ("print.applicant", s.masked_name)]
        if item is not None:
            lines.append(("print.deadline", self.promise_text(item)))
        if self.officer:
            lines.append(("print.proxy", self.officer.name))
        self._emit(ev.PrintReceipt(filed.receipt_number, tuple(lines),
                                   receipt_qr(filed.receipt_number)))

    def promise_text(self, item: ServiceItem) -> str:
        from kiosk.strings import text

        if item.promised_days == 0:
            return text("item.time_now", self.lang)
        return text("item.time_days", self.lang, days=item.promised_days)

    def _on_FileFailed(self, failed: ev.FileFailed) -> None:
        if self.screen == Screen.SUBMITTING:
            self._note("submit.failed", reason=failed.message)
            self._go(Screen.REVIEW)

    def _on_Printed(self, printed: ev.Printed) -> None:
        if self.screen == Screen.RECEIPT:
            self.session.print_state = "printed"

    def _on_PrintFailed(self, failed: ev.PrintFailed) -> None:
        if self.screen == Screen.RECEIPT:
            self.session.print_state = "failed"
            self.session.print_error = failed.message
            self._say("voice.print_failed")

    def _on_Acked(self, acked: ev.Acked) -> None:
        if self.session.application_id == acked.application_id:
            self.session.case_number = acked.case_number

    def _on_ProgressAnswer(self, answer: ev.ProgressAnswer) -> None:
        if self.screen != Screen.PROGRESS:
            return
        s = self.session
        s.progress = answer.applications
        s.progress_local = answer.local
        self._note("" if answer.applications else "progress.none")
        for app in answer.applications:
            events = app.get("events") or []
            last = events[-1] if events else {}
            if last.get("code") == SUPPLEMENT_CODE and last.get("materials"):
                self._say("voice.supplement", materials="、".join(last["materials"]))
                break
            if app.get("state") in COMPLETED_CODES:
                self._say("voice.ready")
                break

    def _on_ProgressFailed(self, failed: ev.ProgressFailed) -> None:
        if self.screen == Screen.PROGRESS:
            self._note("progress.failed", reason=failed.message)

    def _on_Network(self, net: ev.Network) -> None:
        self.online = net.online
        self.pending_uploads = net.pending

    def _on_StationSnapshot(self, snap: ev.StationSnapshot) -> None:
        self.snapshot = snap

    def _on_Collected(self, done: ev.Collected) -> None:
        if self.screen == Screen.HANDOVER:
            self._note("officer.collected")
            self._emit(ev.RefreshStation())

    def _on_CatalogUpdated(self, updated: ev.CatalogUpdated) -> None:
        # A visit in progress keeps the item it chose: the old catalog object stays valid
        # for it until the next visit (the hub accepts the version it was filed under).
        if self.screen == Screen.WELCOME or self.catalog is None:
            self.catalog = updated.catalog
        else:
            self._next_catalog = updated.catalog
