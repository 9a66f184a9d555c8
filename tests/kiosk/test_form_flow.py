"""The form step of the flow machine, without Kivy: one catalog form field per page,
numbers on a keypad, dates on steppers, text only by the station officer; every answer
checked by the flow before it is kept and again before the application is filed."""

from __future__ import annotations

from datetime import date

import pytest

from device_drivers.idcard.sim import sample_cards
from kiosk.flow import events as ev
from kiosk.flow import form as answers
from kiosk.flow.machine import Flow, OfficerAccount, Screen, hash_pin
from tests.kiosk.test_flow import SID, TODAY, Driver, read

FARMLAND = "JF01303000"  # 耕地地力保护补贴: area_mu (number); photos M02, M03
BIRTH = "GG00602000"  # 生育登记: child_order (choice), due_date (date, optional); photo M02
TIMBER = "XK01601000"  # 林木采伐许可证: species (text), volume_m3 (number); photos M01, M03
INSURANCE = "GG00101000"  # 医保参保登记: insured_year (number); category


@pytest.fixture
def kiosk(catalog):
    officer = OfficerAccount("gzry-01", "王信息员", sample_cards()[2].id_number, hash_pin("2468"))
    return Driver(Flow(SID, catalog, officers=[officer], idle_warn=60, idle_wipe=90,
                       today=lambda: TODAY))


@pytest.fixture(scope="module")
def catalog():
    from hub.catalog import load_catalog

    return load_catalog()


def open_item(k: Driver, code: str, category: str | None = None) -> None:
    k.tap("file")
    k(read(0))
    k.tap("item", code)
    if category:
        k.tap("category", category)
    k.tap("start")


def keys(k: Driver, typed: str) -> None:
    for key in typed:
        k.tap("key", key)


def to_review(k: Driver, page=lambda k: b"\xff\xd8page") -> None:
    """From the first material: every page photographed, the phone typed."""
    while k.flow.screen == Screen.MATERIALS:
        k(ev.Captured(page(k)))
        k.tap("next")
    assert k.flow.screen == Screen.PHONE
    keys(k, "13800138000")
    k.tap("next")
    assert k.flow.screen == Screen.REVIEW


def photograph_phone_and_submit(k: Driver) -> dict:
    to_review(k)
    k.tap("consent")
    k.tap("submit")
    assert k.flow.screen == Screen.SUBMITTING
    return k.of(ev.FileApplication)[-1].fields


def test_a_number_field_is_typed_on_the_keypad_checked_and_filed_as_a_number(kiosk):
    k = kiosk
    open_item(k, FARMLAND)
    assert k.flow.screen == Screen.FORM and k.flow.current_field().key == "area_mu"
    assert ev.Say("voice.form", {"label": "实际种植面积（亩）"}) in k.effects
    k.tap("next")  # nothing typed
    assert k.flow.screen == Screen.FORM and k.flow.session.message == "form.required"
    keys(k, "0012.345.")  # leading zeros dropped, one point, two decimals at most
    assert k.flow.session.draft == "12.34"
    k.tap("delete")
    k.tap("delete")
    k.tap("delete")
    assert k.flow.session.draft == "12"
    k.tap("next")
    assert k.flow.session.form == {"area_mu": 12}
    assert k.flow.screen == Screen.MATERIALS
    k.tap("back")  # from the first material back to the last form page, answer kept
    assert k.flow.screen == Screen.FORM and k.flow.session.draft == "12"
    keys(k, ".5")
    k.tap("next")
    fields = photograph_phone_and_submit(k)
    assert fields["form"] == {"area_mu": 12.5}
    assert isinstance(fields["form"]["area_mu"], float)


def test_the_number_checks_refuse_what_the_keypad_cannot_make_either():
    assert answers.parse_number("007") == 7 and answers.parse_number("0.50") == 0.5
    for bad, why in (("", "form.required"), ("-3", "form.bad_number"),
                     ("1e3x", "form.bad_number"), ("NaN", "form.bad_number"),
                     ("1234567890", "form.number_too_long"),
                     ("1.234", "form.number_too_long")):
        with pytest.raises(answers.BadAnswer) as exc:
            answers.parse_number(bad)
        assert exc.value.key == why, bad
    assert answers.add_number_key("123456789", "1") == "123456789"
    assert answers.add_number_key("", ".") == "0."
    assert answers.add_number_key("5", "x") == "5"


def test_a_choice_and_a_date_on_steppers_refuse_a_day_that_does_not_exist(kiosk):
    k = kiosk
    open_item(k, BIRTH)
    assert k.flow.current_field().key == "child_order"
    k.tap("next")
    assert k.flow.session.message == "form.required"
    k.tap("choose", "第四个子女")  # not an option of the field
    assert k.flow.session.message == "form.bad_choice" and k.flow.session.form == {}
    k.tap("choose", "第二个子女")
    k.tap("next")
    assert k.flow.current_field().key == "due_date"
    assert k.flow.session.draft_date == (2026, 11, 27)  # the steppers start at today
    for _ in range(3):
        k.tap("step", "month:+1")  # 11 → 12 → 1 → 2 (the year is its own stepper)
    k.tap("step", "year:+1")
    for _ in range(4):
        k.tap("step", "day:+1")  # 27 → 31
    assert k.flow.session.draft_date == (2027, 2, 31)
    k.tap("next")
    assert k.flow.screen == Screen.FORM and k.flow.session.message == "form.bad_date"
    assert k.flow.session.message_params == {"year": 2027, "month": 2, "day": 31}
    for _ in range(3):
        k.tap("step", "day:-1")
    k.tap("step", "year:+9")  # not a stepper's tap: ignored
    k.tap("next")
    assert k.flow.session.form == {"child_order": "第二个子女", "due_date": "2027-02-28"}
    fields = photograph_phone_and_submit(k)
    assert fields["form"] == {"child_order": "第二个子女", "due_date": "2027-02-28"}


def test_an_optional_field_can_be_left_out_and_a_required_one_cannot(kiosk):
    k = kiosk
    open_item(k, BIRTH)
    k.tap("skip")
    assert k.flow.current_field().key == "child_order"
    k.tap("choose", "第一个子女")
    k.tap("next")
    k.tap("step", "day:+1")
    k.tap("skip")  # the due date is optional: left out, and no value is sent
    assert k.flow.screen == Screen.MATERIALS
    fields = photograph_phone_and_submit(k)
    assert fields["form"] == {"child_order": "第一个子女"}


def test_the_date_steppers_stay_within_the_years_a_form_accepts():
    today = date(2026, 11, 27)
    parts = (2028, 12, 31)
    assert answers.step_date(parts, "year", 1, today) == (2028, 12, 31)
    assert answers.step_date(parts, "month", 1, today) == (2028, 1, 31)
    assert answers.step_date(parts, "day", 1, today) == (2028, 12, 1)
    assert answers.check_date((2024, 2, 29), today) == "2024-02-29"
    with pytest.raises(answers.BadAnswer) as exc:
        answers.check_date((1900, 1, 1), today)
    assert exc.value.key == "form.date_range"


def test_a_villager_alone_is_sent_to_the_officer_for_text_and_cannot_type_it(kiosk):
    k = kiosk
    open_item(k, TIMBER)
    assert k.flow.current_field().key == "species"
    assert not k.flow.can_type(k.flow.current_field())
    k(ev.TextEntered("form", "杨树"))  # no keyboard is offered; a stray entry is ignored
    k.tap("next")
    assert k.flow.screen == Screen.FORM and k.flow.session.form == {}
    assert k.flow.session.message == "form.ask_officer"

    # the officer comes over, logs in on top of the visit, and types the field
    k.tap("officer_help")
    assert k.flow.screen == Screen.OFFICER_LOGIN
    k.tap("back")  # changed their mind: back on the same page, nothing lost
    assert k.flow.screen == Screen.FORM and k.flow.session.applicant is not None
    k.tap("officer_help")
    k(read(2))
    assert k.flow.screen == Screen.OFFICER_PIN
    keys(k, "2468")
    k.tap("next")
    assert k.flow.screen == Screen.FORM and k.flow.current_field().key == "species"
    assert k.flow.officer.name == "王信息员" and k.flow.session.masked_name == "张*英"
    assert k.flow.session.message == ""
    k(ev.TextEntered("form", "  杨树   （毛白杨） "))
    k.tap("next")
    assert k.flow.session.form == {"species": "杨树 （毛白杨）"}
    keys(k, "3.5")
    k.tap("next")
    fields = photograph_phone_and_submit(k)
    assert fields["form"] == {"species": "杨树 （毛白杨）", "volume_m3": 3.5}
    assert fields["proxy_officer"] == {"officer_id": "gzry-01", "name": "王信息员"}
    assert fields["applicant"]["name"] == "张秀英"


def test_text_longer_than_the_catalog_allows_is_refused(kiosk, catalog):
    k = kiosk
    k.tap("officer")
    k(read(2))
    keys(k, "2468")
    k.tap("next")
    k.tap("file")
    k(read(0))
    k.tap("item", TIMBER)
    k.tap("start")
    assert k.flow.can_type(k.flow.current_field())  # the officer types: no help needed
    limit = catalog.item(TIMBER).form[0].max_length
    k(ev.TextEntered("form", "杨" * (limit + 5)))
    assert k.flow.session.draft == "杨" * limit  # the box takes no more
    with pytest.raises(answers.BadAnswer) as exc:
        answers.check_text("杨" * (limit + 1), catalog.item(TIMBER).form[0])
    assert exc.value.params == {"limit": limit}
    k(ev.TextEntered("form", "   "))
    k.tap("next")
    assert k.flow.session.message == "form.required"


def test_back_walks_the_form_pages_then_the_item_and_answers_are_kept(kiosk):
    k = kiosk
    open_item(k, BIRTH)
    k.tap("choose", "第三个子女")
    k.tap("next")
    k.tap("back")
    assert k.flow.current_field().key == "child_order"
    k.tap("back")
    assert k.flow.screen == Screen.ITEM and k.flow.session.form == {"child_order": "第三个子女"}
    k.tap("start")
    assert k.flow.current_field().key == "child_order"


def test_answers_are_checked_again_before_filing(kiosk):
    k = kiosk
    open_item(k, INSURANCE, "resident")
    keys(k, "2026")
    k.tap("next")
    to_review(k)
    k.flow.session.form["insured_year"] = "twenty"  # however it got there
    k.tap("consent")
    k.tap("submit")
    assert not k.of(ev.FileApplication)
    assert k.flow.screen == Screen.FORM and k.flow.current_field().key == "insured_year"
    assert k.flow.session.message == "form.bad_number"


def test_the_idle_wipe_clears_the_answers_and_the_page_being_filled(kiosk):
    k = kiosk
    open_item(k, BIRTH)
    k.tap("choose", "第二个子女")
    k.tap("next")
    k.tap("step", "month:+1")
    k(ev.Tick(), after=91)
    assert k.flow.screen == Screen.WELCOME and k.flow.wipes == 1
    s = k.flow.session
    assert s.form == {} and s.draft == "" and s.form_index == 0 and s.item_code is None
    assert s.draft_date == (0, 0, 0)


def test_the_officer_help_login_is_wiped_with_the_visit(kiosk):
    k = kiosk
    open_item(k, TIMBER)
    k.tap("officer_help")
    k(read(2))
    k(ev.Tick(), after=91)
    assert k.flow.screen == Screen.WELCOME and k.flow.officer is None
    assert k.flow.session.applicant is None and not k.flow.session.officer_help
