"""`cunban kiosk demo-tour`: the real app walks a scripted villager through one application.

A broker and a hub are started unless `--mqtt` is given; the ID-card reader and the
printer are their pty simulators driven through the real drivers; the camera is the
synthetic one, shown a document page and later the printed receipt's QR code. Every step
is a synthetic touch on the button the villager would press. A PNG of each screen goes to
`--out`, and one JSON line reports the application id, the hub's case number and the
size of the printed receipt.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from device_drivers.camera.synthetic import SyntheticCamera, make_scene

logger = logging.getLogger(__name__)

SID = "411381101201"
ITEM = "GG00701000"
PHONE = "13800138000"
OFFICER_CARD = 2  # 李建国 on the simulator's sample cards: this station's officer
OFFICER_PIN = "2468"
FORM_ITEM = "GG00602000"  # 生育登记: a choice, then an optional date on steppers
TEXT_ITEM = "XK01601000"  # 林木采伐许可证: a text field (the officer types), then a number
SCENARIOS = ("tour", "officer", "paper-out", "idle", "offline", "form")


class ScriptedCamera(SyntheticCamera):
    """The synthetic camera, plus `show(frame)`: what is held under it from now on."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._shown: np.ndarray | None = None

    def show(self, frame: np.ndarray | None) -> None:
        self._shown = frame

    def _grab(self) -> np.ndarray:
        frame = super()._grab()
        return frame if self._shown is None else self._shown.copy()


def qr_payloads(job: bytes) -> list[str]:
    """The data of every native QR stored in an ESC/POS job (`GS ( k` cn=49 fn=80)."""
    out, i = [], 0
    while (i := job.find(b"\x1d(k", i)) >= 0:
        size = job[i + 3] + job[i + 4] * 256
        if job[i + 5:i + 7] == b"\x31\x50":
            out.append(job[i + 8:i + 5 + size].decode("utf-8"))
        i += 5 + size
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Services:
    """A broker and a hub for the tour, stopped when it ends."""

    def __init__(self, work: Path):
        from hub.broker import write_config

        self.procs: list[subprocess.Popen] = []
        port = free_port()
        conf = write_config(work / "broker", port=port)
        self.mqtt = f"mqtt://127.0.0.1:{port}"
        self.procs.append(subprocess.Popen(["mosquitto", "-c", str(conf)],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        http = free_port()
        log = open(work / "hub.log", "ab")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "cunban.cli", "hub", "--data", str(work / "hub"),
             "--mqtt", self.mqtt, "--http", f"127.0.0.1:{http}"],
            stdout=log, stderr=subprocess.STDOUT))
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"http://127.0.0.1:{http}/api/health", timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the hub did not start; see hub.log")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def hidden_by(root, button, point: tuple[float, float]) -> None:
    """Raise unless a finger at `point` lands on `button`: inside the window, inside every
    scrolling list around it, and on no other button (a layout that overflows the screen
    puts the next button under the finger)."""
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    from kiosk.ui.screens import TapButton

    x, y = point
    if not (0 <= x < Window.width and 0 <= y < Window.height):
        raise LookupError(f"button {button.action}={button.value} is off the screen at "
                          f"{point} ({Window.width}x{Window.height})")
    parent = button.parent
    while parent is not None and parent is not parent.parent:
        if isinstance(parent, ScrollView):
            left, bottom = parent.to_window(parent.x, parent.y)
            if not (left <= x < left + parent.width and bottom <= y < bottom + parent.height):
                raise LookupError(f"button {button.action}={button.value} is scrolled out "
                                  "of its list")
        parent = parent.parent
    for other in root.walk(restrict=True):
        if other is button or not isinstance(other, TapButton):
            continue
        left, bottom = other.to_window(other.x, other.y)
        if left <= x < left + other.width and bottom <= y < bottom + other.height:
            raise LookupError(f"button {button.action}={button.value} lies under "
                              f"{other.action}={other.value}")


class Tour:
    """The script, run on its own thread; every UI action goes through the Kivy clock."""

    def __init__(self, app, out: Path, camera: ScriptedCamera,
                 scenarios: tuple[str, ...] = ("tour",), shot_width: int | None = None):
        self.app = app
        self.out = out
        self.shot_width = shot_width
        self.camera = camera
        self.scenarios = scenarios
        self.shots: list[str] = []
        self.result: dict = {}
        self.error: BaseException | None = None

    # main-thread helpers ---------------------------------------------------------------
    def on_main(self, fn, delay: float = 0.0):
        from kivy.clock import Clock

        done, box = threading.Event(), []

        def run(_dt):
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the script thread
                box.append(exc)
            done.set()
        Clock.schedule_once(run, delay)
        if not done.wait(30):
            raise TimeoutError("the UI thread did not answer")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def touch(self, action: str, value: str | None = None) -> None:
        """A synthetic finger on the button bound to `action` (and `value`)."""
        from kivy.tests.common import UnitTestTouch

        seen: list = []

        def press():
            for button in self.app.root_widget.buttons():
                if button.action == action and button.value == value:
                    where = (button, tuple(button.to_window(*button.center)))
                    if not seen or seen[-1] != where:
                        seen.append(where)  # not pressed before the layout is settled
                        return False
                    hidden_by(self.app.root_widget, button, where[1])
                    touch = UnitTestTouch(*where[1])
                    touch.touch_down()
                    touch.touch_up()
                    return True
            raise LookupError(f"no button {action}={value} on {self.app.flow.screen}")
        while not self.on_main(press, delay=0.05):
            pass

    def settle(self) -> None:
        """Let the screen re-render after a tap before the next one (a re-laid-out
        screen must not take the next touch on the wrong button)."""
        self.on_main(lambda: None, delay=0.15)

    def shot(self, name: str) -> None:
        path = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        self.settle()  # a screen re-rendered by the last tap was once saved half laid out
        self.on_main(lambda: self.app.root_widget.export_to_png(str(path)), delay=0.15)
        if self.shot_width:
            shrink(path, self.shot_width)
        self.shots.append(path.name)

    def wait(self, predicate, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.on_main(predicate):
                return
            time.sleep(0.05)
        raise TimeoutError(f"waited {timeout:.0f}s for {what} (screen {self.app.flow.screen})")

    def remove_card(self) -> None:
        """Take the card off the reader, and go on only once the reader has noticed: a
        card still lying there is read again on the next screen that watches for one."""
        self.app.kiosk.simulators["idcard"].remove()
        self.wait(lambda: self.app.runtime._card is None, "the card removed")

    def screen(self, name: str, timeout: float = 30.0) -> None:
        self.wait(lambda: self.app.flow.screen.value == name, f"screen {name}", timeout)

    # the script ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            for scenario in self.scenarios:
                getattr(self, "_" + scenario.replace("-", "_"))()
        except BaseException as exc:
            logger.exception("demo tour failed")
            self.error = exc
        finally:
            self.on_main(self.app.stop)

    def _tour(self) -> None:
        app = self.app
        flow = lambda: app.flow  # noqa: E731
        reader = app.kiosk.simulators["idcard"]
        printer_sim = app.kiosk.simulators["printer"]
        self.screen("welcome")
        self.wait(lambda: flow().catalog is not None and flow().online, "catalog and network")
        self.shot("welcome")
        self.touch("file")
        self.screen("identify")
        self.shot("identify")
        reader.place(0)  # 张秀英 lays her card on the reader
        self.screen("choose")
        self.touch("group", "老龄")
        self.shot("choose")
        self.touch("item", ITEM)
        self.screen("item")
        self.touch("category", "local")
        self.shot("item")
        self.touch("start")
        self.screen("materials")
        self.shot("materials")
        self.wait(lambda: flow().session.pages.get("M02"), "auto-capture", 60)
        self.shot("materials-captured")
        self.touch("next")
        self.screen("phone")
        for digit in PHONE:
            self.touch("key", digit)
        self.shot("phone")
        self.touch("next")
        self.screen("review")
        self.touch("consent")
        self.shot("review")
        self.touch("submit")
        self.screen("receipt")
        self.wait(lambda: flow().session.print_state in ("printed", "failed"), "the receipt")
        self.wait(lambda: flow().session.case_number, "the hub's ack", 60)
        self.shot("receipt")
        application_id = flow().session.application_id
        case_number = flow().session.case_number
        job = app.runtime.last_receipt_job
        printed = bytes(printer_sim.received)
        self.remove_card()
        self.touch("done")
        self.screen("welcome")
        self.touch("progress")
        self.screen("progress_scan")
        [qr] = qr_payloads(job)
        self.camera.show(make_scene(qr, (1280, 720)).frame)  # the receipt under the camera
        self.screen("progress", 30)
        self.wait(lambda: flow().session.progress, "the progress answer")
        self.shot("progress")
        self.result = {"application_id": application_id, "case_number": case_number,
                       "receipt_bytes": len(job), "printer_received": len(printed),
                       "receipt_qr": qr, "screens": list(self.shots),
                       "progress": [a.get("label") for a in flow().session.progress]}
        self.camera.show(None)
        self.touch("home")
        self.screen("welcome")


    # scenarios beyond the plain tour ----------------------------------------------------------
    def _file_for(self, card: int, tag: str) -> None:
        """From the identify screen: a villager's card, the tour's item, a page, the phone,
        consent and submit; ends on the receipt screen."""
        reader = self.app.kiosk.simulators["idcard"]
        self.screen("identify")
        reader.place(card)
        self.screen("choose")
        self.touch("group", "老龄")
        self.shot(f"{tag}-choose")
        self.touch("item", ITEM)
        self.screen("item")
        self.touch("category", "local")
        self.settle()
        self.touch("start")
        self._materials_to_consent()
        self.touch("submit")
        self.screen("receipt")
        self.remove_card()
        self.shot(f"{tag}-receipt")

    def _materials_to_consent(self) -> None:
        """From the materials screen: a page of each material auto-captured, the phone
        typed, consent ticked; ends on the review screen."""
        flow = lambda: self.app.flow  # noqa: E731
        self.screen("materials")
        while self.on_main(lambda: flow().screen.value) == "materials":
            code = self.on_main(lambda: flow().current_material().code)
            self.wait(lambda code=code: flow().session.pages.get(code), "auto-capture", 60)
            self.touch("next")
            self.settle()
        self.screen("phone")
        for digit in PHONE:
            self.touch("key", digit)
        self.settle()
        self.touch("next")
        self.screen("review")
        self.touch("consent")
        self.settle()

    def _officer_card_and_pin(self) -> None:
        """On the officer login screen: the officer's own card, then the PIN."""
        self.screen("officer_login")
        self.app.kiosk.simulators["idcard"].place(OFFICER_CARD)
        self.screen("officer_pin")
        for digit in OFFICER_PIN:
            self.touch("key", digit)
        self.touch("next")

    def _step(self, name: str) -> None:
        """A line on stdout for whoever drives the tour from outside (a test that stops
        and restarts the broker)."""
        print(json.dumps({"step": name}), flush=True)

    def _officer(self) -> None:
        """The station officer logs in (card + PIN) and files for a villager (全程代办)."""
        flow = lambda: self.app.flow  # noqa: E731
        self.screen("welcome")
        self.wait(lambda: flow().catalog is not None and flow().online, "catalog and network")
        self.touch("officer")
        self._officer_card_and_pin()
        self.screen("officer")
        self.shot("officer")
        self.remove_card()
        self.touch("file")
        self._file_for(1, "officer")
        self.wait(lambda: flow().session.case_number, "the hub's ack", 60)
        filed = self.app.runtime.last_filing or {}
        self.result["officer"] = {
            "case_number": flow().session.case_number,
            "proxy_officer": filed.get("proxy_officer"),
            "applicant_name": (filed.get("applicant") or {}).get("name"),
            "logged_in": flow().officer.officer_id if flow().officer else None}
        self.touch("done")
        self.wait(lambda: flow().screen.value in ("officer", "welcome"), "back after filing")
        if flow().screen.value == "officer":
            self.touch("logout")
        self.screen("welcome")

    def _paper_out(self) -> None:
        """The printer runs out of paper mid-flow: the case number is shown large and the
        app goes on to the next villager."""
        flow = lambda: self.app.flow  # noqa: E731
        self.app.kiosk.simulators["printer"].paper_out = True
        self.screen("welcome")
        self.wait(lambda: flow().catalog is not None and flow().online, "catalog and network")
        self.touch("file")
        self._file_for(0, "paper-out")
        self.wait(lambda: flow().session.print_state in ("printed", "failed"), "the printer")
        self.wait(lambda: flow().session.case_number, "the hub's ack", 60)
        self.shot("paper-out")
        case = flow().session.case_number

        def case_font() -> float:
            sizes = [w.font_size for w in self.app.root_widget.walk()
                     if getattr(w, "text", None) and case in w.text
                     and hasattr(w, "font_size")]
            return max(sizes, default=0)
        self.result["paper_out"] = {
            "print_state": flow().session.print_state, "print_error": flow().session.print_error,
            "case_number": case, "case_font_size": self.on_main(case_font)}
        self.touch("done")
        self.screen("welcome")
        self.result["paper_out"]["welcome_after"] = True

    def _idle(self) -> None:
        """Nobody taps: a warning, then the session (card data and captured pages) is wiped."""
        flow = lambda: self.app.flow  # noqa: E731
        reader = self.app.kiosk.simulators["idcard"]
        self.screen("welcome")
        self.wait(lambda: flow().catalog is not None, "the catalog")
        self.touch("file")
        self.screen("identify")
        reader.place(0)
        self.screen("choose")
        self.touch("group", "老龄")
        self.settle()
        self.touch("item", ITEM)
        self.screen("item")
        self.touch("category", "local")
        self.settle()
        self.touch("start")
        self.screen("materials")
        self.wait(lambda: flow().session.pages.get("M02"), "auto-capture", 60)
        self.remove_card()

        timeouts = flow().idle_warn, flow().idle_wipe

        def set_timeouts(warn, wipe):
            flow().idle_warn, flow().idle_wipe = warn, wipe
        self.on_main(lambda: set_timeouts(2.0, 5.0))
        self.wait(lambda: flow().idle_warning, "the idle warning", 15)
        self.shot("idle-warning")
        self.screen("welcome", 15)
        self.on_main(lambda: set_timeouts(*timeouts))
        self.result["idle"] = {"applicant": bool(flow().session.applicant),
                               "pages": len(flow().session.pages),
                               "warned": True}

    def _form(self) -> None:
        """A villager answers an item's form, one field per page: a choice by a tap and a
        date on the year/month/day steppers; the review shows both, the hub stores them."""
        flow = lambda: self.app.flow  # noqa: E731
        reader = self.app.kiosk.simulators["idcard"]
        self.screen("welcome")
        self.wait(lambda: flow().catalog is not None and flow().online, "catalog and network")
        self.touch("file")
        self.screen("identify")
        reader.place(0)
        self.screen("choose")
        self.touch("group", "婚育")
        self.settle()
        self.touch("item", FORM_ITEM)
        self.screen("item")
        self.settle()
        self.touch("start")
        self.screen("form")
        self.touch("choose", "第二个子女")
        self.settle()
        self.shot("form-choice")
        self.touch("next")
        self.wait(lambda: flow().current_field().key == "due_date", "the date page")
        for step in ("month:+1", "month:+1", "day:-1"):
            self.touch("step", step)
            self.settle()
        if self.on_main(lambda: flow().session.draft_date[1] <= 2):  # past December
            self.touch("step", "year:+1")
            self.settle()
        self.shot("form-date")
        self.touch("next")
        # Stepping the month can land on a day that month lacks (31 April): the page says
        # so and stays; one day less until it is a real date.
        while self.on_main(lambda: flow().session.message) == "form.bad_date":
            self.result.setdefault("form_refused", []).append(
                self.on_main(lambda: dict(flow().session.message_params)))
            self.touch("step", "day:-1")
            self.settle()
            self.touch("next")
            self.settle()
        self._materials_to_consent()
        self.shot("form-review")
        review = self._labels()
        self.touch("submit")
        self.screen("receipt")
        self.wait(lambda: flow().session.case_number, "the hub's ack", 60)
        filed = self.app.runtime.last_filing or {}
        self.result["form"] = {"application_id": flow().session.application_id,
                               "case_number": flow().session.case_number,
                               "answers": filed.get("form"), "review": review}
        self.remove_card()
        self.touch("done")
        self.screen("welcome")
        self._form_officer_help()

    def _labels(self) -> list[str]:
        return self.on_main(lambda: [w.text for w in self.app.root_widget.walk()
                                     if type(w).__name__ == "Label"])

    def _form_officer_help(self) -> None:
        """A text field stops a villager alone: the page sends for the station officer, who
        logs in over the visit (card + PIN), types it, and the number follows on the keypad."""
        from kiosk.strings import text

        flow = lambda: self.app.flow  # noqa: E731
        reader = self.app.kiosk.simulators["idcard"]
        self.touch("file")
        self.screen("identify")
        reader.place(0)
        self.screen("choose")
        # The search box stands for the keyboard: the words go in as typed text would.
        self.on_main(lambda: self.app.entered("search", "林木"))
        self.on_main(lambda: self.app.tap("search"))
        self.settle()
        self.touch("item", TEXT_ITEM)
        self.screen("item")
        self.settle()
        self.touch("start")
        self.screen("form")
        self.shot("form-ask-officer")
        asked = text("form.ask_officer") in self._labels()
        self.remove_card()
        self.touch("officer_help")
        self._officer_card_and_pin()
        self.screen("form")
        self.remove_card()
        self.on_main(lambda: self.app.entered("form", "毛白杨"))
        self.touch("next")
        self.wait(lambda: flow().current_field().key == "volume_m3", "the number page")
        for key in "3.5":
            self.touch("key", key)
        self.settle()
        self.shot("form-number")
        self.touch("next")
        self._materials_to_consent()
        review = self._labels()
        self.touch("submit")
        self.screen("receipt")
        self.wait(lambda: flow().session.case_number, "the hub's ack", 60)
        filed = self.app.runtime.last_filing or {}
        self.result["form_officer"] = {
            "asked_officer": asked, "answers": filed.get("form"),
            "proxy_officer": filed.get("proxy_officer"),
            "applicant_name": (filed.get("applicant") or {}).get("name"),
            "case_number": flow().session.case_number, "review": review}
        self.touch("done")
        self.screen("officer")
        self.touch("logout")
        self.screen("welcome")

    def _offline(self) -> None:
        """The broker goes away (the test stops it): the application is still taken into
        the outbox, the banner and pending count show, and it is delivered on return."""
        flow = lambda: self.app.flow  # noqa: E731
        self.screen("welcome")
        self.wait(lambda: flow().catalog is not None and flow().online, "catalog and network")
        self._step("online")
        self.wait(lambda: not flow().online, "the network to go", 30)
        self.shot("offline")
        self.touch("file")
        self._file_for(0, "offline")
        self.wait(lambda: flow().session.application_id, "the outbox")
        self.wait(lambda: flow().pending_uploads >= 1, "the pending count")
        pending = flow().pending_uploads
        self._step("filed")
        self.wait(lambda: flow().online, "the network to return", 60)
        self.wait(lambda: flow().session.case_number, "the hub's ack", 60)
        self.wait(lambda: flow().pending_uploads == 0, "the outbox to empty", 30)
        self.result["offline"] = {"pending_while_offline": pending,
                                  "application_id": flow().session.application_id,
                                  "case_number": flow().session.case_number}
        self.touch("done")
        self.screen("welcome")


def shrink(path: Path, width: int) -> None:
    """Scale a saved screen down to `width` (the README's screenshots), on the script's
    thread, not the UI's."""
    import cv2

    image = cv2.imread(str(path))
    if image.shape[1] > width:
        height = round(image.shape[0] * width / image.shape[1])
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def run_tour(out: Path, mqtt: str | None, size: str = "1920x1080",
             scenarios: tuple[str, ...] = ("tour",), shot_width: int | None = None) -> int:
    from kiosk.app import configure_window

    out.mkdir(parents=True, exist_ok=True)
    configure_window(size)
    from firmware_config import KioskConfig
    from kiosk.app import make_app
    from kiosk.bootstrap import build_kiosk

    work = Path(tempfile.mkdtemp(prefix="cunban-tour-"))
    services = None if mqtt else Services(work)
    try:
        config = KioskConfig.model_validate({
            "station": {"id": SID, "name": "前营村"},
            "hub": {"url": "http://127.0.0.1"},
            "broker": {"url": mqtt or services.mqtt},
            "devices": {"idcard": {"type": "sam-simulator"},
                        "printer": {"type": "escpos-simulator"}},
            "ui": {"voice": False}})
        camera = ScriptedCamera()

        if {"officer", "form"} & set(scenarios):
            from device_drivers.idcard.sim import sample_cards
            from kiosk import officers
            from kiosk.flow.machine import hash_pin

            card = sample_cards()[OFFICER_CARD]
            officers.save(work / "kiosk", officers.LocalSecrets(officers=[officers.Officer(
                officer_id="gzry-01", name=card.name, id_number=card.id_number,
                pin_hash=hash_pin(OFFICER_PIN))]))

        def build(post):
            kiosk = build_kiosk(config, post, data_dir=work / "kiosk", camera=camera,
                                catalog_wait=20.0)
            kiosk.simulators["idcard"].remove()  # nobody at the reader yet
            return kiosk

        app = make_app(build)
        tour = Tour(app, out, camera, scenarios, shot_width)
        from kivy.clock import Clock

        Clock.schedule_once(lambda dt: threading.Thread(target=tour.run, daemon=True).start(),
                            0.5)
        app.run()
        if tour.error is not None:
            print(json.dumps({"error": str(tour.error), "screens": tour.shots},
                             ensure_ascii=False), flush=True)
            return 1
        print(json.dumps(tour.result, ensure_ascii=False), flush=True)
        return 0
    finally:
        if services:
            services.stop()
