"""The form page: one catalog form field at a time, in large type, answered by taps.

Choices and yes/no are big buttons; numbers come from a big keypad; dates from year,
month and day steppers (nothing to type); text only in officer mode, through a text box,
while a villager alone is told to ask the station officer and given the button that lets
the officer log in over the visit. The page renders the flow's state and forwards taps;
every answer is checked by the flow (`kiosk.flow.form`), not here.
"""

from __future__ import annotations

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.textinput import TextInput

from kiosk.flow.machine import Flow

MUTED = (0.2, 0.3, 0.45, 1)
GREY = (0.3, 0.3, 0.35, 1)


def answer_text(fld, value, t) -> str:
    """One stored answer as the review screen shows it."""
    if fld.type == "bool":
        return t("form.yes" if value else "form.no")
    if fld.type == "date" and isinstance(value, str):
        year, month, day = (int(part) for part in value.split("-"))
        return t("form.date_value", year=year, month=month, day=day)
    return str(value)


def answered(flow: Flow, t) -> list[tuple[str, str]]:
    """(label, answer) for every answered field of the chosen item, in catalog order."""
    item = flow.item()
    form = flow.session.form
    return [(fld.label, answer_text(fld, form[fld.key], t))
            for fld in (item.form if item else ()) if fld.key in form]


def form_page(body, flow: Flow, t, tapper, on_text, root) -> None:
    # Sizes are read from the screens module when the page is built: they follow the
    # window height (`screens._scale_to`).
    from kiosk.ui import screens as sc

    s = flow.session
    item = flow.item()
    fld = flow.current_field()
    if item is None or fld is None:
        return
    # Where the person is, and what to do, on one line: a line each pushed the keypad page
    # over the header at 1280×800.
    line = [t("form.progress", index=s.form_index + 1, total=len(item.form))]
    if not fld.required:
        line.append(t("form.optional"))
    if flow.can_type(fld):
        line.append(t(f"form.hint.{fld.type}"))
    body.add_widget(sc.label("    ".join(line), sc.BODY, color=(0.75, 0.85, 1, 1)))
    body.add_widget(sc.label(fld.label, sc.TITLE, bold=True))
    {"choice": _choice, "bool": _choice, "number": _number, "date": _date,
     "text": _text}[fld.type](body, flow, fld, t, tapper, on_text, sc)

    row = BoxLayout(size_hint_y=None, height=sc.BUTTON_H, spacing=sc.GAP)
    row.add_widget(sc.TapButton(t("common.back"), "back", tapper=tapper, color=GREY))
    if not fld.required:
        row.add_widget(sc.TapButton(t("form.skip"), "skip", tapper=tapper, color=sc.ACCENT))
    if flow.can_type(fld):
        row.add_widget(sc.TapButton(t("common.next"), "next", tapper=tapper, color=sc.GO))
    body.add_widget(row)


def _choice(body, flow, fld, t, tapper, on_text, sc) -> None:
    current = flow.session.form.get(fld.key)
    if fld.type == "bool":
        options = [("true", t("form.yes"), current is True),
                   ("false", t("form.no"), current is False)]
    else:
        options = [(option, option, current == option) for option in fld.options]
    grid = sc._grid(2 if len(options) <= 4 else 3)
    for value, shown, chosen in options:
        grid.add_widget(sc.TapButton(("● " if chosen else "") + shown, "choose", value,
                                     tapper=tapper, color=sc.GO if chosen else MUTED,
                                     font_size=sc.BODY + 12))
    body.add_widget(grid)


def _number(body, flow, fld, t, tapper, on_text, sc) -> None:
    body.add_widget(sc.label(flow.session.draft or "_", sc.BIG - 30, bold=True,
                             halign="center"))
    pad = sc._grid(6)
    for key in "1234567890.":
        pad.add_widget(sc.TapButton(key, "key", key, tapper=tapper, font_size=sc.BIG - 30))
    pad.add_widget(sc.TapButton(t("common.delete"), "delete", tapper=tapper, color=sc.WARN))
    body.add_widget(pad)


def _date(body, flow, fld, t, tapper, on_text, sc) -> None:
    year, month, day = flow.session.draft_date
    row = BoxLayout(size_hint_y=None, height=sc.BUTTON_H * 2 + sc.BIG + 2 * sc.GAP,
                    spacing=sc.GAP * 3)
    for part, value in (("year", year), ("month", month), ("day", day)):
        column = BoxLayout(orientation="vertical", spacing=sc.GAP)
        column.add_widget(sc.TapButton("＋", "step", f"{part}:+1", tapper=tapper,
                                       font_size=sc.BIG - 30))
        column.add_widget(sc.label(f"{value} {t('form.' + part)}", sc.BIG - 20, bold=True,
                                   halign="center", height=sc.BIG))
        column.add_widget(sc.TapButton("－", "step", f"{part}:-1", tapper=tapper,
                                       font_size=sc.BIG - 30))
        row.add_widget(column)
    body.add_widget(row)


def _text(body, flow, fld, t, tapper, on_text, sc) -> None:
    if not flow.can_type(fld):
        # A villager alone: no keyboard (an on-screen pinyin keyboard is no use to most
        # of them); the officer logs in over this visit and types the answer.
        body.add_widget(sc.label(t("form.ask_officer"), sc.TITLE, bold=True,
                                 color=(1, 0.8, 0.3, 1), halign="center"))
        body.add_widget(sc.label(t("form.ask_officer_note"), sc.BODY))
        body.add_widget(sc.TapButton(t("form.officer_help"), "officer_help", tapper=tapper,
                                     color=(0.35, 0.3, 0.6, 1)))
        return
    box = TextInput(text=flow.session.draft, font_size=sc.BODY + 4, multiline=False,
                    size_hint_y=None, height=sc.BUTTON_H)
    box.bind(text=lambda _w, value: on_text("form", value))
    body.add_widget(box)
