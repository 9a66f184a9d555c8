"""Carries out the flow's effects on worker threads and posts the outcomes back as events.

Nothing here touches a widget: `post(event)` is given by the host (the Kivy app hands the
event to its clock; a test may call the flow directly). Devices and the network are only
used from the threads this module starts, so the UI thread never waits on hardware.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from device_drivers.base import DeviceError, DeviceUnavailable
from device_drivers.camera.codes import decode_codes
from device_drivers.camera.document import AutoCapture, encode_jpeg
from device_drivers.idcard.protocol import IdCard
from device_drivers.printer import Receipt, build_receipt
from kiosk.catalog_cache import cache_catalog
from kiosk.flow import events as ev
from kiosk.outbox import Outbox
from kiosk.records import StationRecords
from kiosk.strings import text
from protocols import messages as m
from protocols.topics import Kind, Topics

logger = logging.getLogger(__name__)

DELIVER_RETRY = 10.0  # seconds between resends of 领取登记 the hub has not answered
GENDER_CODES = {"男": "1", "女": "2"}


def card_read(card: IdCard) -> ev.CardRead:
    """The flow's view of a card read: the person, and every reason to refuse the card."""
    person = ev.Person(name=card.name, id_number=card.id_number,
                       gender=GENDER_CODES.get(card.gender), nation=card.nation or None,
                       birth_date=card.birth_date, address=card.address or None)
    return ev.CardRead(person, tuple(card.problems))


def join_pages(pages: tuple[bytes, ...]) -> bytes:
    """Several photographed pages of one material as one JPEG, stacked top to bottom."""
    if len(pages) == 1:
        return pages[0]
    images = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in pages]
    width = min(img.shape[1] for img in images)
    scaled = [cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])),
                         interpolation=cv2.INTER_AREA) for img in images]
    return encode_jpeg(cv2.vconcat(scaled), max_bytes=1_500_000, max_long_side=1754 * len(pages))


class Speaker:
    """Voice guidance through espeak-ng (Mandarin) where installed; silent otherwise."""

    def __init__(self, enabled: bool = True, *, record_dir: Path | None = None):
        self.program = shutil.which("espeak-ng") if enabled else None
        self.spoken: list[str] = []
        self.record_dir = record_dir  # write each prompt to a WAV file instead of playing it
        self._current: subprocess.Popen | None = None

    def say(self, sentence: str, lang: str) -> None:
        self.spoken.append(sentence)
        if not self.program:
            return
        if self._current and self._current.poll() is None:
            self._current.terminate()  # the new screen's prompt replaces the old one
        # Slower than espeak's default (175 words a minute) for older listeners.
        args = [self.program, "-v", "en" if lang == "en" else "cmn", "-s", "140"]
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            args += ["-w", str(self.record_dir / f"{len(self.spoken):03d}.wav")]
        try:
            self._current = subprocess.Popen([*args, sentence], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
        except OSError:
            logger.info("voice guidance unavailable", exc_info=True)
            self.program = None

    def finish(self, timeout: float = 10.0) -> None:
        """Wait for the prompt being spoken (or written) to end."""
        if self._current is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._current.wait(timeout)


class ProgressClient:
    """`request/progress` to the hub over the uploader's connection, answer or timeout."""

    def __init__(self, uploader, station: str, topics: Topics):
        self.station = station
        self.topics = topics
        self.endpoint = uploader.endpoint
        self._waiting: dict[str, tuple[threading.Event, list]] = {}
        self._lock = threading.Lock()
        uploader.on(Kind.RESPONSE, self._on_response)

    def _on_response(self, payload: bytes) -> None:
        try:
            response = m.decode(Kind.RESPONSE, payload).data
        except m.MessageError as exc:
            logger.warning("ignored a response from the hub: %s", exc)
            return
        with self._lock:
            waiting = self._waiting.get(str(response.request_id))
        if waiting:
            waiting[1].append(response)
            waiting[0].set()

    def ask(self, params: dict, timeout: float, action: str = "progress") -> m.Response | None:
        """The hub's answer to `request/{action}`, or None when the hub cannot be reached
        in time."""
        request_id = uuid.uuid4()
        done, box = threading.Event(), []
        with self._lock:
            self._waiting[str(request_id)] = (done, box)
        try:
            sent = self.endpoint.publish(self.topics.request(self.station, action),
                                         m.encode(m.Request(params=params),
                                                  message_id=request_id))
            if not sent or not done.wait(timeout):
                return None
            return box[0]
        finally:
            with self._lock:
                self._waiting.pop(str(request_id), None)


@dataclass
class Devices:
    """The peripherals the runtime drives; any of them may be missing."""

    reader: object | None = None  # device_drivers.idcard.SamReader
    camera: object | None = None  # a camera driver (CameraBase)
    printer: object | None = None  # device_drivers.printer.EscposPrinter


class Runtime:
    """The kiosk's worker side. `post(event)` must hand the event to the flow's thread."""

    def __init__(self, *, station: str, station_name: str, outbox: Outbox, uploader,
                 devices: Devices, records: StationRecords, post: Callable[[object], None],
                 progress: ProgressClient | None = None, speaker: Speaker | None = None,
                 lang: Callable[[], str] = lambda: "zh_CN", catalog=None,
                 config_version: str = "", progress_timeout: float = 6.0,
                 catalog_key=None, catalog_payload: bytes | None = None):
        self.station = station
        self.station_name = station_name
        self.outbox = outbox
        self.uploader = uploader
        self.devices = devices
        self.records = records
        self.post = post
        self.progress_client = progress
        self._delivering = threading.Lock()
        self.speaker = speaker or Speaker(enabled=False)
        self.lang = lang
        self.catalog = catalog
        self.config_version = config_version
        self.progress_timeout = progress_timeout
        self.catalog_key = catalog_key  # newer catalogs are taken only if signed with it
        # The payload `catalog` was made from: any other the uploader holds is news, even
        # one that arrived before the monitor started.
        self._catalog_payload = catalog_payload
        self.preview: Callable[[np.ndarray], None] | None = None  # set by the UI
        self.last_receipt_job = b""
        self.last_filing: dict | None = None  # what went into the outbox last (demo, tests)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kiosk-work")
        self._stop = threading.Event()
        self._camera_mode = "off"
        self._camera_wake = threading.Event()
        self._card_wanted = False
        self._card: ev.CardRead | None = None
        self._watch_ack: str | None = None
        self._threads = [
            threading.Thread(target=self._camera_loop, name="kiosk-camera", daemon=True),
            threading.Thread(target=self._card_loop, name="kiosk-card", daemon=True),
            threading.Thread(target=self._monitor_loop, name="kiosk-monitor", daemon=True),
        ]

    def start(self) -> Runtime:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._camera_wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # effects (called on the UI thread: never block) ------------------------------------
    def run(self, effects: list) -> None:
        for effect in effects:
            handler = getattr(self, f"_do_{type(effect).__name__}")
            handler(effect)

    def _work(self, fn, *args) -> None:
        def guarded():
            try:
                fn(*args)
            except Exception:
                logger.exception("kiosk work %s failed", getattr(fn, "__name__", fn))
        self._pool.submit(guarded)

    def _do_Say(self, say: ev.Say) -> None:
        lang = self.lang()
        self.speaker.say(text(say.key, lang, **say.params), lang)

    def _do_WatchCard(self, watch: ev.WatchCard) -> None:
        was, self._card_wanted = self._card_wanted, watch.on
        if watch.on and not was and self._card is not None:
            self.post(self._card)  # a card already lying on the reader counts

    def _do_Camera(self, camera: ev.Camera) -> None:
        self._camera_mode = camera.mode
        self._camera_wake.set()

    def _do_DiscardImages(self, _: ev.DiscardImages) -> None:
        """Pages live only in the flow's memory until filed: the wipe dropped them."""

    def _do_FileApplication(self, filing: ev.FileApplication) -> None:
        self._work(self._file, filing)

    def _do_PrintReceipt(self, job: ev.PrintReceipt) -> None:
        self._work(self._print, job)

    def _do_LookupProgress(self, lookup: ev.LookupProgress) -> None:
        self._work(self._lookup, lookup.params)

    def _do_RefreshStation(self, _: ev.RefreshStation) -> None:
        self._work(self._refresh)

    def _do_PrintTest(self, _: ev.PrintTest) -> None:
        self._work(self._print, ev.PrintReceipt(
            f"{self.station}-0", (("print.filed_at", datetime.now().strftime("%Y-%m-%d %H:%M")),),
            ""))

    def _do_RecordCollection(self, rec: ev.RecordCollection) -> None:
        def collect():
            # The hub records 送达 and texts the applicant. The handover and the request
            # are on disk first: a hub out of reach gets it later (`_deliver_pending`).
            params = {"application_id": rec.application_id,
                      "collector_name": rec.collector_name,
                      "collector_id_number": rec.collector_id_number, "method": "station"}
            self.records.collect(rec.application_id, rec.officer_id,
                                 params if self.progress_client else None)
            self.post(ev.Collected(rec.application_id))
            self._deliver_pending()
        self._work(collect)

    def _deliver_pending(self) -> None:
        """Send each 领取登记 the hub has not answered; kept until it records or refuses it."""
        with self._delivering:
            for params in self.records.undelivered():
                answer = self.progress_client.ask(params, self.progress_timeout,
                                                  action="deliver")
                if answer is None:
                    return  # the hub is out of reach: the monitor tries again
                if answer.status != "ok":
                    logger.warning("the hub refused the collection of %s: %s",
                                   params["application_id"], answer.error)
                self.records.delivered(params["application_id"])

    # work --------------------------------------------------------------------------------
    def _file(self, filing: ev.FileApplication) -> None:
        try:
            blobs, refs = [], []
            for ref, pages in zip(filing.fields["materials"], filing.pages, strict=True):
                data = join_pages(pages)
                blobs.append(data)
                refs.append({**ref, "sha256": hashlib.sha256(data).hexdigest(),
                             "mime": "image/jpeg"})
            filed = self.outbox.file({**filing.fields, "materials": refs}, blobs)
        except Exception as exc:
            logger.exception("could not write the application to the outbox")
            self.post(ev.FileFailed(getattr(exc, "message", "") or "本机保存出错"))
            return
        self._watch_ack = str(filed.application_id)
        self.last_filing = filing.fields
        self.uploader.nudge()
        self.post(ev.Filed(str(filed.application_id), filed.receipt_number))

    def _print(self, job: ev.PrintReceipt) -> None:
        printer = self.devices.printer
        lang = self.lang()
        receipt = Receipt(
            header=text("print.header", lang, station=self.station_name),
            title=text("print.title", lang),
            lines=tuple((text(key, lang), value) for key, value in job.lines),
            qr=job.qr, footer=(text("print.footer", lang),) if job.qr else ())
        if printer is None:
            self.post(ev.PrintFailed(text("device.offline", lang)))
            return
        try:
            built = build_receipt(receipt, width_mm=printer.width_mm, fonts=printer.font_set)
            printer.print_job(built)
        except DeviceError as exc:
            logger.warning("receipt not printed: %s (%s)", exc.message, exc.detail)
            self.post(ev.PrintFailed(exc.message))
            return
        self.last_receipt_job = built
        self.post(ev.Printed(len(built)))

    def _lookup(self, params: dict) -> None:
        answer = None
        if self.progress_client is not None:
            answer = self.progress_client.ask(params, self.progress_timeout)
        if answer is not None and answer.status == "ok":
            self.post(ev.ProgressAnswer(tuple(answer.data.get("applications", []))))
        elif answer is not None:
            self.post(ev.ProgressFailed(answer.error or ""))
        else:
            self.post(ev.ProgressAnswer(tuple(self.records.progress(self.catalog, params)),
                                        local=True))

    def _refresh(self) -> None:
        devices = []
        for name in ("idcard", "camera", "printer"):
            device = {"idcard": self.devices.reader, "camera": self.devices.camera,
                      "printer": self.devices.printer}[name]
            if device is None:
                devices.append((name, "offline", ""))
                continue
            health = device.health()
            devices.append((name, health.state, health.message))
        counts = self.outbox.counts()
        self.post(ev.StationSnapshot(
            pending=tuple(self.records.pending(self.catalog)),
            invalid=counts.get("invalid", 0),
            handover=tuple(self.records.handover(self.catalog)),
            devices=tuple(devices), config_version=self.config_version))

    # loops -------------------------------------------------------------------------------
    def _card_loop(self) -> None:
        present = False
        last_error = ""
        while not self._stop.is_set():
            # Read each time: an applied configuration may replace the reader.
            reader = self.devices.reader
            if reader is None:
                present, self._card = False, None
                self._stop.wait(1.0)
                continue
            try:
                if present:
                    present = reader.card_present()
                    if not present:
                        self._card = None
                        self.post(ev.CardRemoved())
                else:
                    card = reader.read_card(timeout=0)
                    if card is not None:
                        present = True
                        self._card = card_read(card)
                        if self._card_wanted:
                            self.post(self._card)
                last_error = ""
            except DeviceError as exc:
                present, self._card = False, None
                if exc.message != last_error and self._card_wanted:
                    self.post(ev.CardFault(exc.message))
                last_error = exc.message
                self._stop.wait(1.0)
            except Exception:
                logger.exception("card loop failed; continuing")
                self._stop.wait(1.0)
            self._stop.wait(0.3)

    def _camera_loop(self) -> None:
        mode = "off"
        auto: AutoCapture | None = None
        advice = ""
        failed = False
        while not self._stop.is_set():
            camera = self.devices.camera  # an applied configuration may replace it
            if self._camera_mode != mode or self._camera_wake.is_set():
                self._camera_wake.clear()
                mode = self._camera_mode
                auto, advice, failed = AutoCapture(), "", False
            if mode == "off" or camera is None or failed:
                if camera is None and mode != "off" and not failed:
                    failed = True
                    self.post(ev.CameraFault(text("common.help_officer", self.lang())))
                self._camera_wake.wait(0.5)
                continue
            try:
                frame = camera.read_frame()
            except DeviceUnavailable as exc:
                failed = True
                self.post(ev.CameraFault(exc.message))
                continue
            except Exception:
                logger.exception("camera read failed")
                failed = True
                self.post(ev.CameraFault(text("common.help_officer", self.lang())))
                continue
            if self.preview is not None:
                self.preview(frame)
            if mode == "code":
                codes = decode_codes(frame, qr_only=True)
                if codes and codes[0].data != advice:
                    # Keep looking after a wrong code: the flow turns the camera off
                    # once it has the receipt it wants.
                    advice = codes[0].data
                    self.post(ev.CodeScanned(advice))
                continue
            shot = auto.feed(frame)
            if shot is not None and shot.page() is not None:
                self.post(ev.Captured(encode_jpeg(shot.page())))
                self._camera_mode = mode = "off"
                continue
            now_advice = auto.last.quality.advice[0] if auto.last and \
                auto.last.quality.advice else ""
            if now_advice != advice:
                advice = now_advice
                self.post(ev.CameraAdvice(advice))

    def _monitor_loop(self) -> None:
        """Network state, pending count, the hub's ack of the application on screen, and
        newer catalogs — polled, so the paho thread never reaches the flow."""
        last = None
        retry_at = time.monotonic() + DELIVER_RETRY
        catalog_seen = self._catalog_payload
        while not self._stop.is_set():
            try:
                online = bool(self.uploader and self.uploader.endpoint.connected.is_set())
                pending = self.outbox.counts().get("pending", 0)
                if (online, pending) != last:
                    last = (online, pending)
                    self.post(ev.Network(online, pending))
                if self._watch_ack:
                    receipt = self.outbox.receipt(self._watch_ack)
                    if receipt:
                        self.post(ev.Acked(self._watch_ack, receipt["case_number"]))
                        self._watch_ack = None
                if online and self.progress_client and time.monotonic() >= retry_at:
                    retry_at = time.monotonic() + DELIVER_RETRY
                    if self.records.undelivered() and not self._delivering.locked():
                        self._work(self._deliver_pending)
                payload = self.uploader.catalog_payload if self.uploader else None
                if payload and payload is not catalog_seen:
                    catalog_seen = payload
                    with contextlib.suppress(m.MessageError):
                        self.catalog = cache_catalog(payload, self.outbox.root, self.catalog_key)
                        self.post(ev.CatalogUpdated(self.catalog))
            except Exception:
                logger.exception("kiosk monitor failed; continuing")
            self._stop.wait(0.3)
