"""The kiosk flow machine, driven by events without Kivy or hardware."""

from __future__ import annotations

from datetime import date

import pytest

from device_drivers.idcard.protocol import parse_text
from device_drivers.idcard.sim import sample_cards
from hub.catalog import load_catalog
from kiosk.flow import events as ev
from kiosk.flow.machine import Flow, OfficerAccount, Screen, hash_pin, parse_receipt_qr
from kiosk.flow.runtime import card_read
from protocols import messages as m

SID = "411381101201"
ITEM = "GG00701000"  # 老年人优待证: categories local/nonlocal, M01 from the card, M02 photo
TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def read(index: int) -> ev.CardRead:
    card = sample_cards()[index]
    return card_read(parse_text(card.text(), today=TODAY))


class Driver:
    """Feeds events at a fake monotonic time and keeps every effect."""

    def __init__(self, flow: Flow):
        self.flow = flow
        self.now = 0.0
        self.effects: list = flow.start(self.now)

    def __call__(self, event, after: float = 1.0) -> list:
        self.now += after
        out = self.flow.handle(event, self.now)
        self.effects.extend(out)
        return out

    def tap(self, action: str, value: str | None = None) -> list:
        return self(ev.Tap(action, value))

    def of(self, kind) -> list:
        return [e for e in self.effects if isinstance(e, kind)]


@pytest.fixture
def kiosk(catalog):
    officer = OfficerAccount("gzry-01", "王信息员", sample_cards()[2].id_number, hash_pin("2468"))
    return Driver(Flow(SID, catalog, officers=[officer], maintenance_pin_hash=hash_pin("9999"),
                       idle_warn=60, idle_wipe=90))


def walk_to_review(k: Driver, card: int = 0) -> None:
    k.tap("file")
    k(read(card))
    k.tap("item", ITEM)
    k.tap("category", "local")
    k.tap("start")
    k(ev.Captured(b"\xff\xd8page-1"))
    k.tap("next")
    for digit in "13800138000":
        k.tap("key", digit)
    k.tap("next")


def test_a_villager_walks_from_welcome_to_a_filed_application_with_a_printed_receipt(kiosk):
    k = kiosk
    assert k.flow.screen == Screen.WELCOME and ev.Say("voice.welcome", {}) in k.effects
    k.tap("file")
    assert k.flow.screen == Screen.IDENTIFY and ev.WatchCard(True) in k.effects
    k(read(0))
    assert k.flow.screen == Screen.CHOOSE
    assert k.flow.session.masked_name == "张*英"
    assert k.flow.session.masked_id == "4113**********0025"
    assert ITEM in [i.code for i in k.flow.items()]  # among the most used
    k.tap("item", ITEM)
    assert k.flow.screen == Screen.ITEM
    k.tap("start")  # no category yet: stays, asks for it
    assert k.flow.screen == Screen.ITEM and k.flow.session.message == "item.category"
    k.tap("category", "local")
    k.tap("start")
    # M01 (ID card copy) is made from the card read; only the photo (M02) is taken
    assert k.flow.screen == Screen.MATERIALS
    assert [mat.code for mat in k.flow.to_photograph()] == ["M02"]
    assert k.of(ev.Camera)[-1] == ev.Camera("document")
    k.tap("next")  # nothing captured yet: stays
    assert k.flow.screen == Screen.MATERIALS
    k(ev.CameraAdvice("画面模糊，请保持材料不动"))
    assert k.flow.session.advice.startswith("画面模糊")
    k(ev.Captured(b"\xff\xd8page-1"))
    k.tap("more")
    k(ev.Captured(b"\xff\xd8page-2"))
    k.tap("retake")
    k(ev.Captured(b"\xff\xd8page-2b"))
    assert k.flow.session.pages["M02"] == [b"\xff\xd8page-1", b"\xff\xd8page-2b"]
    k.tap("next")
    assert k.flow.screen == Screen.PHONE and k.of(ev.Camera)[-1] == ev.Camera("off")
    for digit in "23800138000":
        k.tap("key", digit)
    k.tap("next")
    assert k.flow.screen == Screen.PHONE and k.flow.session.message == "phone.invalid"
    k.tap("clear")
    for digit in "13800138000":
        k.tap("key", digit)
    k.tap("next")
    assert k.flow.screen == Screen.REVIEW and k.flow.session.masked_phone == "138****8000"
    k.tap("submit")
    assert k.flow.screen == Screen.REVIEW and k.flow.session.message == "review.consent_needed"
    k.tap("consent")
    k.tap("submit")
    assert k.flow.screen == Screen.SUBMITTING
    filing = k.of(ev.FileApplication)[-1]
    assert filing.fields["service_code"] == ITEM and filing.fields["category"] == "local"
    assert filing.fields["proxy_officer"] is None
    assert filing.fields["materials"] == [{"code": "M02", "pages": 2}]
    assert filing.pages == ((b"\xff\xd8page-1", b"\xff\xd8page-2b"),)
    # the fields make a valid wire message once the runtime adds blob hashes
    fields = {**filing.fields, "materials": [{"code": "M02", "pages": 2, "sha256": "a" * 64,
                                              "mime": "image/jpeg"}]}
    m.ApplicationSubmit(**fields, receipt_number=f"{SID}-1", filed_at="2026-11-27T09:00:00Z")

    k(ev.Filed("6f1c0d3e-0000-4000-8000-000000000001", f"{SID}-1"))
    assert k.flow.screen == Screen.RECEIPT and k.flow.session.print_state == "printing"
    printing = k.of(ev.PrintReceipt)[-1]
    assert parse_receipt_qr(printing.qr) == f"{SID}-1"
    assert ("print.applicant", "张*英") in printing.lines
    assert k.flow.session.pages == {}  # handed to the outbox
    k(ev.Printed(812))
    assert k.flow.session.print_state == "printed"
    k(ev.Acked("someone-else", "XX"))
    assert k.flow.session.case_number is None
    k(ev.Acked("6f1c0d3e-0000-4000-8000-000000000001", "GG007010004113812026112700001"))
    assert k.flow.session.case_number == "GG007010004113812026112700001"


def test_an_expired_card_is_refused_with_its_reason(kiosk):
    kiosk.tap("file")
    kiosk(read(4))  # 刘桂兰, valid to 2025-03-10
    assert kiosk.flow.screen == Screen.IDENTIFY
    assert kiosk.flow.session.message == "identify.refused"
    assert "过期" in kiosk.flow.session.message_params["reason"]
    assert kiosk.flow.session.applicant is None


def test_typing_an_id_number_is_only_possible_in_officer_mode(kiosk):
    kiosk.tap("file")
    kiosk.tap("type_number")
    assert kiosk.flow.screen == Screen.IDENTIFY


def test_idle_warns_after_a_minute_then_wipes_screen_memory_and_unsent_pages(kiosk):
    k = kiosk
    walk_to_review(k)
    assert k.flow.screen == Screen.REVIEW and k.flow.session.pages
    k(ev.Tick(), after=59)
    assert not k.flow.idle_warning
    k(ev.Tick(), after=2)
    assert k.flow.idle_warning and ev.Say("idle.warning", {}) in k.effects
    k.tap("continue")  # a tap keeps the visit
    assert not k.flow.idle_warning and k.flow.screen == Screen.REVIEW
    k(ev.Tick(), after=91)
    assert k.flow.screen == Screen.WELCOME
    assert k.flow.session.applicant is None and k.flow.session.pages == {}
    assert k.flow.session.phone == "" and k.flow.wipes == 1
    assert k.of(ev.DiscardImages)


def test_the_welcome_screen_is_never_wiped_and_submitting_is_never_interrupted(kiosk):
    k = kiosk
    k(ev.Tick(), after=500)
    assert k.flow.wipes == 0
    walk_to_review(k)
    k.tap("consent")
    k.tap("submit")
    k(ev.Tick(), after=500)
    assert k.flow.screen == Screen.SUBMITTING


def test_an_officer_logs_in_with_card_and_pin_and_files_on_behalf_of_a_villager(kiosk):
    k = kiosk
    k.tap("officer")
    assert k.flow.screen == Screen.OFFICER_LOGIN
    k(read(0))  # a villager's card is not an officer's
    assert k.flow.session.message == "officer.not_officer"
    k(read(2))
    assert k.flow.screen == Screen.OFFICER_PIN
    for d in "1111":
        k.tap("key", d)
    k.tap("next")
    assert k.flow.screen == Screen.OFFICER_PIN and k.flow.session.message == "officer.bad_pin"
    for d in "2468":
        k.tap("key", d)
    k.tap("next")
    assert k.flow.screen == Screen.OFFICER and k.flow.officer.name == "王信息员"
    assert k.of(ev.RefreshStation)
    k.tap("file")
    k.tap("type_number")
    assert k.flow.screen == Screen.ID_ENTRY
    for ch in "411381195203140026":  # wrong check digit
        k.tap("key", ch)
    k(ev.TextEntered("name", "张秀英"))
    k.tap("next")
    assert k.flow.session.message == "identify.bad_number"
    k.tap("delete")
    k.tap("key", "5")
    k.tap("next")
    assert k.flow.screen == Screen.CHOOSE and not k.flow.session.applicant.from_card
    k.tap("item", ITEM)
    k.tap("category", "local")
    k.tap("start")
    # typed, not read: the ID card copy must be photographed too
    assert [mat.code for mat in k.flow.to_photograph()] == ["M01", "M02"]
    for _ in range(2):
        k(ev.Captured(b"\xff\xd8x"))
        k.tap("next")
    for digit in "13900139000":
        k.tap("key", digit)
    k.tap("next")
    k.tap("consent")
    k.tap("submit")
    fields = k.of(ev.FileApplication)[-1].fields
    assert fields["proxy_officer"] == {"officer_id": "gzry-01", "name": "王信息员"}
    assert fields["applicant"]["from_card"] is False
    k(ev.Filed("6f1c0d3e-0000-4000-8000-000000000002", f"{SID}-2"))
    assert ("print.proxy", "王信息员") in k.of(ev.PrintReceipt)[-1].lines
    k.tap("done")
    assert k.flow.screen == Screen.OFFICER and k.flow.officer is not None
    k.tap("logout")
    assert k.flow.screen == Screen.WELCOME and k.flow.officer is None


def test_paper_out_keeps_the_receipt_number_on_screen_and_says_what_to_do(kiosk):
    k = kiosk
    walk_to_review(k)
    k.tap("consent")
    k.tap("submit")
    k(ev.Filed("6f1c0d3e-0000-4000-8000-000000000003", f"{SID}-3"))
    k(ev.PrintFailed("打印纸用完了，请装入新纸卷"))
    assert k.flow.screen == Screen.RECEIPT
    assert k.flow.session.print_state == "failed"
    assert k.flow.session.receipt_number == f"{SID}-3"
    assert ev.Say("voice.print_failed", {}) in k.effects


def test_a_filing_error_returns_to_review_with_the_reason(kiosk):
    k = kiosk
    walk_to_review(k)
    k.tap("consent")
    k.tap("submit")
    k(ev.FileFailed("本机存储已满"))
    assert k.flow.screen == Screen.REVIEW and k.flow.session.message == "submit.failed"


def test_progress_by_receipt_qr_asks_the_hub_and_reads_out_a_supplement_list(kiosk):
    k = kiosk
    k.tap("progress")
    assert k.flow.screen == Screen.PROGRESS_SCAN and k.of(ev.Camera)[-1] == ev.Camera("code")
    k(ev.CodeScanned("https://example.com/not-ours"))
    assert k.flow.screen == Screen.PROGRESS_SCAN and k.flow.session.message == "progress.bad_code"
    k(ev.CodeScanned("CUNBAN:R:411381999999-4"))  # another station's receipt
    assert k.flow.screen == Screen.PROGRESS_SCAN
    k(ev.CodeScanned(f"CUNBAN:R:{SID}-4"))
    assert k.flow.screen == Screen.PROGRESS
    assert k.of(ev.LookupProgress)[-1] == ev.LookupProgress({"receipt_number": f"{SID}-4"})
    app = {"application_id": "x", "state": 6, "events": [
        {"seq": 1, "code": 1, "label": "已接件", "materials": []},
        {"seq": 2, "code": 6, "label": "补正（开始）", "materials": ["河南省居住证"]}]}
    k(ev.ProgressAnswer((app,)))
    assert k.flow.session.progress == (app,)
    assert ev.Say("voice.supplement", {"materials": "河南省居住证"}) in k.effects


def test_progress_by_id_card_and_an_empty_answer(kiosk):
    k = kiosk
    k.tap("progress")
    k(read(1))
    assert k.of(ev.LookupProgress)[-1].params == {"id_number": sample_cards()[1].id_number}
    k(ev.ProgressAnswer(()))
    assert k.flow.session.message == "progress.none"


def test_search_finds_items_by_name_or_alias_and_groups_filter(kiosk, catalog):
    k = kiosk
    k.tap("file")
    k(read(0))
    k(ev.TextEntered("search", "老年卡"))
    assert [i.code for i in k.flow.items()] == [ITEM]
    k(ev.TextEntered("search", ""))
    k.tap("group", "户籍")
    assert k.flow.items() and all(i.category == "户籍" for i in k.flow.items())


def test_maintenance_needs_the_technician_pin(kiosk):
    k = kiosk
    k.tap("maintenance")
    for d in "1234":
        k.tap("key", d)
    k.tap("next")
    assert k.flow.screen == Screen.MAINTENANCE_PIN
    for d in "9999":
        k.tap("key", d)
    k.tap("next")
    assert k.flow.screen == Screen.MAINTENANCE
    k.tap("test_print")
    assert k.of(ev.PrintTest)


def test_a_results_handover_needs_the_applicants_own_card(kiosk):
    k = kiosk
    k.tap("officer")
    k(read(2))
    for d in "2468":
        k.tap("key", d)
    k.tap("next")
    k.tap("handover")
    row = {"application_id": "app-9", "id_number": sample_cards()[0].id_number,
           "service_name": "老年人优待证办理"}
    k(ev.StationSnapshot(handover=(row,)))
    k.tap("collect", "app-9")
    k(read(1))
    assert k.flow.session.message == "officer.collect_wrong" and not k.of(ev.RecordCollection)
    k(read(0))
    card = sample_cards()[0]
    assert k.of(ev.RecordCollection) == [ev.RecordCollection("app-9", "gzry-01", card.name,
                                                             card.id_number)]


def test_the_language_switches_between_chinese_and_english(kiosk):
    kiosk.tap("language")
    assert kiosk.flow.lang == "en"
    kiosk.tap("language")
    assert kiosk.flow.lang == "zh_CN"
