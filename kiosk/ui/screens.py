"""Kivy screens: each one only renders the flow's state and forwards taps.

`render(root, flow, app)` rebuilds the content for the current screen. Every button
carries its flow action (and value), so taps — real or synthetic — reach the flow as
`Tap(action, value)`. Large type (body 36 px at 1080p), buttons at least 120 px tall,
high contrast, nothing but taps. On a shorter screen (1280×800) every size shrinks with
the window height, so each screen keeps the layout it has at 1080p: nothing is pushed
below the bottom edge or drawn over the title.
"""

from __future__ import annotations

from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.scrollview import ScrollView
from kivy.uix.textinput import TextInput

from kiosk.flow.machine import COMPLETED_CODES, SUPPLEMENT_CODE, Flow, Screen
from kiosk.strings import text
from kiosk.ui.form import answered
from kiosk.ui.form import form_page as _form  # noqa: F401  (found by `render` by name)
from protocols.identity import mask_id_number

# Sizes at 1080p; `_scale_to` sets them for the window's height before each render.
# PREVIEW_H: a 560 px preview pushed the materials title over the header.
SIZES_1080 = {"BODY": 36, "TITLE": 56, "BIG": 96, "BUTTON_H": 130, "HEADER_H": 90,
              "PREVIEW_H": 360, "GAP": 16, "PAD": 24}
BODY, TITLE, BIG, BUTTON_H, HEADER_H, PREVIEW_H, GAP, PAD = SIZES_1080.values()
BG = (0.06, 0.09, 0.16, 1)
FG = (1, 1, 1, 1)
ACCENT = (0.0, 0.45, 0.85, 1)
GO = (0.05, 0.55, 0.25, 1)
WARN = (0.85, 0.35, 0.0, 1)


class TapButton(Button):
    """A big button bound to one flow action."""

    def __init__(self, label: str, action: str, value: str | None = None, *, tapper,
                 color=ACCENT, font_size=None, height=None, **kw):
        kw.setdefault("size_hint_y", None)
        super().__init__(text=label, font_size=font_size or BODY + 8,
                         height=height or BUTTON_H,
                         background_normal="", background_color=color, color=FG,
                         halign="center", valign="middle", **kw)
        self.bind(size=lambda *_: setattr(self, "text_size", (self.width - 20, None)))
        self.action = action
        self.value = value
        self.bind(on_release=lambda *_: tapper(action, value))


def label(txt: str, size: int | None = None, *, color=FG, bold: bool = False, height=None,
          halign: str = "left") -> Label:
    lab = Label(text=txt, font_size=size or BODY, color=color, bold=bold, halign=halign,
                valign="middle", size_hint_y=None)
    lab.bind(width=lambda *_: setattr(lab, "text_size", (lab.width, None)),
             texture_size=lambda *_: setattr(lab, "height", height or lab.texture_size[1] + 16))
    return lab


class Root(BoxLayout):
    """Banner on top, the screen's content, the idle warning over everything."""

    def __init__(self, **kw):
        super().__init__(orientation="vertical", padding=PAD, spacing=GAP, **kw)
        with self.canvas.before:
            Color(*BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos),
                  size=lambda *_: setattr(self._bg, "size", self.size))
        self.preview = Image(fit_mode="contain", size_hint_y=None, height=560)

    def buttons(self):
        """Every TapButton on screen (synthetic touches find their target here)."""
        return [w for w in self.walk(restrict=True) if isinstance(w, TapButton)]


def _scale_to(height: float) -> None:
    """Every size in proportion to the window height (1080p is 1:1, never larger)."""
    k = min(1.0, height / 1080)
    globals().update({name: round(value * k) for name, value in SIZES_1080.items()})


def render(root: Root, flow: Flow, tapper, on_text) -> None:
    """Rebuild the root for the flow's current screen."""
    from kivy.core.window import Window

    _scale_to(Window.height)
    root.padding, root.spacing = PAD, GAP
    root.preview.height = PREVIEW_H
    root.clear_widgets()
    if root.preview.parent is not None:
        root.preview.parent.remove_widget(root.preview)
    lang = flow.lang
    t = lambda key, **p: text(key, lang, **p)  # noqa: E731
    s = flow.session

    # The officer banner shares the title's row: a row of its own pushed the screen's
    # content below the bottom edge at 1280×800.
    header = BoxLayout(size_hint_y=None, height=HEADER_H, spacing=GAP)
    header.add_widget(label(t("app.title") + (f" · {flow.station_name}" if flow.station_name
                                               else ""), TITLE - 8, bold=True,
                            height=HEADER_H))
    if flow.officer:
        header.add_widget(label(t("banner.proxy", officer=flow.officer.name), BODY - 6,
                                color=(0.6, 0.9, 1, 1), height=HEADER_H, halign="right"))
    root.add_widget(header)
    if not flow.online:
        root.add_widget(label(t("banner.offline", pending=flow.pending_uploads), BODY - 4,
                              color=(1, 0.8, 0.3, 1)))
    elif flow.pending_uploads:
        root.add_widget(label(t("banner.pending", pending=flow.pending_uploads), BODY - 6))
    if flow.idle_warning:
        root.add_widget(label(t("idle.warning"), BODY + 4, color=(1, 0.6, 0.2, 1), bold=True))
        root.add_widget(TapButton(t("idle.continue"), "continue", tapper=tapper, color=WARN))

    body = BoxLayout(orientation="vertical", spacing=GAP)
    builder = globals()[f"_{flow.screen.value}"]
    builder(body, flow, t, tapper, on_text, root)
    root.add_widget(body)
    if s.message:
        root.add_widget(label(t(s.message, **s.message_params), BODY, color=(1, 0.75, 0.3, 1),
                              bold=True))
    if flow.screen != Screen.WELCOME:
        bar = BoxLayout(size_hint_y=None, height=BUTTON_H, spacing=GAP)
        bar.add_widget(TapButton(t("common.home"), "home", tapper=tapper,
                                 color=(0.3, 0.3, 0.35, 1)))
        root.add_widget(bar)


def _grid(cols: int) -> GridLayout:
    grid = GridLayout(cols=cols, spacing=GAP, size_hint_y=None)
    grid.bind(minimum_height=grid.setter("height"))
    return grid


def _scroll(widget) -> ScrollView:
    view = ScrollView(do_scroll_x=False)
    view.add_widget(widget)
    return view


def _keypad(body, t, tapper, keys="123456789", extra=("0",)) -> None:
    pad = _grid(6)
    for k in [*keys, "delete", *extra]:
        if k == "delete":
            pad.add_widget(TapButton(t("common.delete"), "delete", tapper=tapper, color=WARN))
        else:
            pad.add_widget(TapButton(k, "key", k, tapper=tapper, font_size=BIG - 30))
    body.add_widget(pad)


# --- one builder per screen ---------------------------------------------------------------
def _welcome(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("welcome.attract"), TITLE, bold=True, halign="center"))
    row = BoxLayout(spacing=32)
    for action, key, color in (("file", "welcome.file", GO), ("progress", "welcome.progress",
                                                             ACCENT),
                               ("officer", "welcome.officer", (0.35, 0.3, 0.6, 1))):
        row.add_widget(TapButton(t(key), action, tapper=tapper, color=color, font_size=BIG,
                                 size_hint_y=1))
    body.add_widget(row)
    small = BoxLayout(size_hint_y=None, height=BUTTON_H, spacing=GAP)
    small.add_widget(TapButton(t("welcome.language"), "language", tapper=tapper,
                               color=(0.25, 0.25, 0.3, 1)))
    small.add_widget(TapButton(t("welcome.maintenance"), "maintenance", tapper=tapper,
                               color=(0.2, 0.2, 0.22, 1)))
    body.add_widget(small)


def _identify(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("identify.title"), TITLE + 16, bold=True, halign="center"))
    body.add_widget(label(t("identify.hint"), BODY, halign="center"))
    body.add_widget(label("▼  ▼  ▼", BIG, color=(0.4, 0.8, 1, 1), halign="center"))
    if flow.officer:
        body.add_widget(TapButton(t("identify.type_number"), "type_number", tapper=tapper))


def _id_entry(body, flow, t, tapper, on_text, root):
    s = flow.session
    body.add_widget(label(t("identify.type_title"), TITLE, bold=True))
    body.add_widget(label(s.typed_id or "_" * 18, BIG - 20, halign="center"))
    name = TextInput(text=s.typed_name, hint_text=t("identify.name"), font_size=BODY,
                     multiline=False, size_hint_y=None, height=BUTTON_H - 30)
    name.bind(text=lambda _w, value: on_text("name", value))
    body.add_widget(name)
    _keypad(body, t, tapper, extra=("0", "X"))
    body.add_widget(TapButton(t("common.next"), "next", tapper=tapper, color=GO))


def _choose(body, flow, t, tapper, on_text, root):
    s = flow.session
    body.add_widget(label(t("choose.title"), TITLE, bold=True))
    search = TextInput(text=s.search, hint_text=t("choose.search"), font_size=BODY,
                       multiline=False, size_hint_y=None, height=BUTTON_H - 30)
    search.bind(text=lambda _w, value: on_text("search", value))
    search.bind(on_text_validate=lambda *_: tapper("search", None))
    body.add_widget(search)
    groups = _grid(6)
    for group in flow.groups():
        groups.add_widget(TapButton(group, "group", group, tapper=tapper, font_size=BODY - 2,
                                    color=GO if group == s.group else (0.2, 0.3, 0.45, 1)))
    body.add_widget(groups)
    items = _grid(2)
    for item in flow.items():
        items.add_widget(TapButton(item.name, "item", item.code, tapper=tapper))
    if flow.catalog is None:  # a first start before the hub's catalog has arrived
        body.add_widget(label(t("choose.loading"), BODY))
    elif not flow.items():
        body.add_widget(label(t("choose.none"), BODY))
    body.add_widget(_scroll(items))


def _item(body, flow, t, tapper, on_text, root):
    item = flow.item()
    s = flow.session
    if item is None:
        return
    body.add_widget(label(item.name, TITLE, bold=True))
    facts = _grid(1)
    collect = "、".join(t(f"item.collect.{c}") for c in item.collect)
    fee = t("item.fee_free") if item.fee.amount_yuan == 0 else \
        t("item.fee_amount", amount=item.fee.amount_yuan)
    bring = "、".join(mat.name + (t("item.from_card") if mat.from_id_card else "")
                     for mat in item.materials if mat.required)
    for key, value in (("item.who", "；".join(item.conditions)), ("item.bring", bring),
                       ("item.time", flow.promise_text(item)), ("item.fee", fee),
                       ("item.collect", collect)):
        facts.add_widget(label(f"{t(key)}：{value}", BODY))
    body.add_widget(_scroll(facts))
    if item.categories:
        body.add_widget(label(t("item.category"), BODY, bold=True))
        row = _grid(max(1, len(item.categories)))
        for cat in item.categories:
            row.add_widget(TapButton(cat.name, "category", cat.code, tapper=tapper,
                                     color=GO if s.category == cat.code else (0.2, 0.3, 0.45,
                                                                             1)))
        body.add_widget(row)
    body.add_widget(TapButton(t("item.start"), "start", tapper=tapper, color=GO))


def _materials(body, flow, t, tapper, on_text, root):
    s = flow.session
    material = flow.current_material()
    if material is None:
        return
    total = len(flow.to_photograph())
    body.add_widget(label(t("materials.title", material=material.name), TITLE, bold=True))
    body.add_widget(label(t("materials.progress", index=s.material_index + 1, total=total) +
                          "    " + t("materials.hint"), BODY - 4))
    body.add_widget(root.preview)
    pages = s.pages.get(material.code, [])
    body.add_widget(label(s.advice or t("materials.pages", pages=len(pages)), BODY,
                          color=(1, 0.85, 0.4, 1) if s.advice else FG))
    row = BoxLayout(size_hint_y=None, height=BUTTON_H, spacing=GAP)
    row.add_widget(TapButton(t("materials.retake"), "retake", tapper=tapper, color=WARN))
    row.add_widget(TapButton(t("materials.more"), "more", tapper=tapper))
    row.add_widget(TapButton(t("common.next"), "next", tapper=tapper,
                             color=GO if pages else (0.3, 0.3, 0.3, 1)))
    body.add_widget(row)


def _phone(body, flow, t, tapper, on_text, root):
    s = flow.session
    body.add_widget(label(t("phone.title"), TITLE, bold=True))
    body.add_widget(label(t("phone.hint"), BODY))
    body.add_widget(label(s.phone or "_" * 11, BIG, halign="center"))
    _keypad(body, t, tapper)
    body.add_widget(TapButton(t("common.next"), "next", tapper=tapper, color=GO))


def _review(body, flow, t, tapper, on_text, root):
    s = flow.session
    item = flow.item()
    body.add_widget(label(t("review.title"), TITLE, bold=True))
    rows = [("review.applicant", s.masked_name), ("review.id_number", s.masked_id),
            ("review.service", item.name if item else ""), ("review.phone", s.masked_phone)]
    if item and s.category:
        rows.append(("review.category",
                     next(c.name for c in item.categories if c.code == s.category)))
    pages = "、".join(f"{mat.name} {t('review.pages', pages=len(s.pages.get(mat.code, [])))}"
                     for mat in flow.to_photograph())
    if pages:
        rows.append(("review.materials", pages))
    if flow.officer:
        rows.append(("review.proxy", flow.officer.name))
    # Two columns: with the form's answers one column ran over the title at 1080p.
    facts = _grid(2)
    for key, value in [(t(key), value) for key, value in rows] + answered(flow, t):
        facts.add_widget(label(f"{key}：{value}", BODY + 4))
    body.add_widget(facts)
    # ● and ○ are in the CJK font; the ballot-box glyphs are not (they drew as boxes).
    body.add_widget(TapButton(("● " if s.consent else "○ ") + t("review.consent"), "consent",
                              tapper=tapper, color=GO if s.consent else (0.25, 0.25, 0.3, 1),
                              font_size=BODY))
    body.add_widget(TapButton(t("review.submit"), "submit", tapper=tapper, color=GO,
                              font_size=BIG - 40))


def _submitting(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("submit.saving"), TITLE, halign="center"))


def _receipt(body, flow, t, tapper, on_text, root):
    s = flow.session
    body.add_widget(label(t("receipt.done"), BIG, bold=True, color=(0.4, 1, 0.5, 1),
                          halign="center"))
    failed = s.print_state == "failed"
    body.add_widget(label(f"{t('receipt.number')}：{s.receipt_number}",
                          BIG if failed else TITLE, bold=True, halign="center"))
    if s.case_number:
        body.add_widget(label(f"{t('receipt.case')}：{s.case_number}",
                              BIG - 30 if failed else BODY + 8, bold=True, halign="center"))
    else:
        body.add_widget(label(t("receipt.case_waiting" if flow.online else
                                "receipt.case_offline"), BODY, halign="center"))
    state = {"printing": t("receipt.printing"), "printed": t("receipt.printed"),
             "failed": t("receipt.print_failed", reason=s.print_error)}.get(s.print_state, "")
    body.add_widget(label(state, BODY, color=(1, 0.6, 0.3, 1) if failed else FG,
                          halign="center"))
    row = BoxLayout(size_hint_y=None, height=BUTTON_H, spacing=GAP)
    row.add_widget(TapButton(t("receipt.check_progress"), "progress", tapper=tapper))
    row.add_widget(TapButton(t("common.done"), "done", tapper=tapper, color=GO))
    body.add_widget(row)


def _progress_scan(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("progress.scan_title"), TITLE, bold=True))
    body.add_widget(root.preview)


def _progress(body, flow, t, tapper, on_text, root):
    s = flow.session
    body.add_widget(label(t("progress.title"), TITLE, bold=True))
    if s.progress_local:
        body.add_widget(label(t("progress.local"), BODY, color=(1, 0.8, 0.3, 1)))
    rows = _grid(1)
    for app in s.progress:
        head = f"{app.get('service_name', '')}  {app.get('case_number') or app['receipt_number']}"
        ready = app.get("state") in COMPLETED_CODES
        rows.add_widget(label(head, BODY + 4, bold=True,
                              color=(0.4, 1, 0.5, 1) if ready else FG))
        for event in app.get("events", []):
            rows.add_widget(label(f"    {event['at'][:16].replace('T', ' ')}  {event['label']}"
                                  + (f"  {event['note']}" if event.get("note") else ""),
                                  BODY - 4))
        events = app.get("events") or []
        if events and events[-1]["code"] == SUPPLEMENT_CODE:
            rows.add_widget(label(t("progress.supplement",
                                    materials="、".join(events[-1]["materials"])), BODY,
                                  color=(1, 0.75, 0.3, 1), bold=True))
        if ready:
            rows.add_widget(label(t("progress.ready"), BODY, color=(0.4, 1, 0.5, 1),
                                  bold=True))
    body.add_widget(_scroll(rows))
    body.add_widget(TapButton(t("common.done"), "done", tapper=tapper, color=GO))


def _officer_login(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("officer.login_title"), TITLE, bold=True, halign="center"))


def _officer_pin(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("officer.pin_title"), TITLE, bold=True))
    body.add_widget(label("●" * len(flow.session.pin) or "_", BIG, halign="center"))
    _keypad(body, t, tapper)
    body.add_widget(TapButton(t("common.next"), "next", tapper=tapper, color=GO))


_maintenance_pin = _officer_pin


def _officer(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("officer.menu", officer=flow.officer.name), TITLE, bold=True))
    for action, key in (("file", "officer.file"), ("outbox", "officer.outbox"),
                        ("handover", "officer.handover"), ("logout", "officer.logout")):
        body.add_widget(TapButton(t(key), action, tapper=tapper,
                                  color=GO if action == "file" else ACCENT))


def _outbox(body, flow, t, tapper, on_text, root):
    body.add_widget(label(t("officer.outbox"), TITLE, bold=True))
    rows = _grid(1)
    for row in flow.snapshot.pending:
        rows.add_widget(label(t("officer.outbox_row", receipt=row["receipt_number"],
                                service=row["service_name"], attempts=row["attempts"]), BODY))
    if not flow.snapshot.pending:
        rows.add_widget(label(t("officer.outbox_empty"), BODY))
    body.add_widget(_scroll(rows))


def _handover(body, flow, t, tapper, on_text, root):
    s = flow.session
    body.add_widget(label(t("officer.handover"), TITLE, bold=True))
    rows = _grid(1)
    for row in flow.snapshot.handover:
        if s.collect_id == row["application_id"]:
            rows.add_widget(label(t("officer.collect_card", service=row["service_name"]),
                                  BODY, bold=True, color=(1, 0.85, 0.4, 1)))
        else:
            rows.add_widget(TapButton(f"{t('officer.collect')}：{row['service_name']} "
                                      f"{mask_id_number(row['id_number'])}", "collect",
                                      row["application_id"], tapper=tapper))
    if not flow.snapshot.handover:
        rows.add_widget(label(t("officer.handover_empty"), BODY))
    body.add_widget(_scroll(rows))


def _maintenance(body, flow, t, tapper, on_text, root):
    snap = flow.snapshot
    body.add_widget(label(t("maint.title"), TITLE, bold=True))
    for device, state, message in snap.devices:
        body.add_widget(label(t("maint.device", device=t(f"device.{device}"),
                                state=t(f"device.{state}"), message=message), BODY))
    body.add_widget(label(t("maint.config", version=snap.config_version), BODY))
    body.add_widget(label(t("maint.backlog", pending=flow.pending_uploads,
                            invalid=snap.invalid), BODY))
    body.add_widget(label(t("maint.network", state=t("maint.online" if flow.online
                                                    else "maint.offline")), BODY))
    row = BoxLayout(size_hint_y=None, height=BUTTON_H, spacing=GAP)
    row.add_widget(TapButton(t("maint.test_print"), "test_print", tapper=tapper))
    row.add_widget(TapButton(t("maint.refresh"), "refresh", tapper=tapper))
    body.add_widget(row)
