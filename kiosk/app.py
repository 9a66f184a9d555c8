"""The Kivy application: renders the flow, forwards taps, and takes worker-thread events
only through the Kivy clock (`post` → `Clock.schedule_once`)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

logger = logging.getLogger(__name__)


def configure_window(size: str = "1920x1080") -> None:
    """Window size before Kivy creates the window (import-time configuration)."""
    from kivy.config import Config

    width, height = size.split("x")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("graphics", "resizable", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")
    # No multisample anti-aliasing (Kivy asks for 2x): every shape on the kiosk's screens
    # is an axis-aligned rectangle or a text texture, so it changes no pixel, and with
    # software OpenGL the multisample buffer made each redraw of a 1080p window 4-5x slower.
    Config.set("graphics", "multisamples", "0")


def register_fonts() -> None:
    """Every label uses Noto Sans CJK: without it each Chinese glyph renders as a box."""
    from kivy.core.text import LabelBase

    if Path(CJK_FONT).exists():
        LabelBase.register(name="Roboto", fn_regular=CJK_FONT, fn_bold=CJK_FONT)
    else:
        logger.error("CJK font missing (%s): install fonts-noto-cjk", CJK_FONT)


def make_app(build_kiosk_fn, **app_kw):
    """The App class is made after the window configuration, so importing this module
    does not create a window."""
    import cv2
    import numpy as np
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.graphics.texture import Texture

    from kiosk.flow import events as ev
    from kiosk.ui.screens import Root, render

    class KioskApp(App):
        title = "村办"

        def build(self):
            register_fonts()
            self.root_widget = Root()
            self.kiosk = build_kiosk_fn(self.post)
            self.flow = self.kiosk.flow
            self.runtime = self.kiosk.runtime
            self._frame = None
            self._frame_lock = threading.Lock()
            self._show_frame = Clock.create_trigger(self._update_preview)
            self._preview_box: tuple[int, int] | None = None  # read by the camera thread
            self.preview_frames = 0  # frames uploaded to the preview (the benchmark reads it)
            preview = self.root_widget.preview
            preview.bind(size=self._fit_preview)
            self._fit_preview(preview)
            self._render_trigger = Clock.create_trigger(self._render)
            self.runtime.preview = self._on_frame
            self.runtime.start()
            self._apply(self.flow.start(time.monotonic()))
            Clock.schedule_interval(lambda dt: self.deliver(ev.Tick()), 1.0)
            self.frame_times: list[float] = []
            self._last_frame = None
            Clock.schedule_interval(self._measure, 0)
            # A service manager stops the kiosk with SIGTERM: close the outbox and the
            # devices in order (`on_stop`) instead of dying mid-write.
            signal.signal(signal.SIGTERM,
                          lambda *_: Clock.schedule_once(lambda dt: self.stop()))
            return self.root_widget

        # events reach the flow only here, on the UI thread --------------------------------
        def post(self, event) -> None:
            """Called from any thread: the flow sees the event on the next clock tick."""
            Clock.schedule_once(lambda dt: self.deliver(event))

        def deliver(self, event) -> None:
            before = (self.flow.screen, self.flow.idle_warning)
            self._apply(self.flow.handle(event, time.monotonic()))
            if not isinstance(event, ev.Tick) or before != (self.flow.screen,
                                                             self.flow.idle_warning):
                self._render_trigger()

        def _apply(self, effects) -> None:
            self.runtime.run(effects)
            self._render_trigger()

        def tap(self, action: str, value: str | None = None) -> None:
            self.deliver(ev.Tap(action, value))

        def entered(self, field: str, value: str) -> None:
            # No re-render while typing (it would take the focus away): the list follows
            # when the field is confirmed.
            self.runtime.run(self.flow.handle(ev.TextEntered(field, value), time.monotonic()))

        def _render(self, *_args) -> None:
            render(self.root_widget, self.flow, self.tap, self.entered)

        # camera preview: frames from the camera thread, drawn on the clock --------------
        def _on_frame(self, frame) -> None:
            """Camera thread: shrink the frame to the size it is shown at (OpenCV releases
            the GIL while it works), so the UI thread only uploads it."""
            box = self._preview_box
            if box is None:
                return
            height, width = frame.shape[:2]
            scale = min(box[0] / width, box[1] / height)  # `fit_mode="contain"`
            if scale < 1:
                frame = cv2.resize(frame, (max(1, round(width * scale)),
                                           max(1, round(height * scale))),
                                   interpolation=cv2.INTER_AREA)
            with self._frame_lock:
                self._frame = frame
            self._show_frame()

        def _fit_preview(self, image, *_args) -> None:
            self._preview_box = (max(1, int(image.width)), max(1, int(image.height)))

        def _update_preview(self, *_args) -> None:
            with self._frame_lock:
                frame, self._frame = self._frame, None
            if frame is None:
                return
            height, width = frame.shape[:2]
            image = self.root_widget.preview
            texture = image.texture
            if texture is None or texture.size != (width, height):
                texture = Texture.create(size=(width, height), colorfmt="bgr")
                texture.flip_vertical()  # OpenCV rows run top-down, OpenGL's bottom-up
                image.texture = texture
            texture.blit_buffer(np.ascontiguousarray(frame).reshape(-1), colorfmt="bgr",
                                bufferfmt="ubyte")
            image.canvas.ask_update()
            self.preview_frames += 1

        def _measure(self, dt) -> None:
            now = time.perf_counter()
            if self._last_frame is not None:
                self.frame_times.append(now - self._last_frame)
                del self.frame_times[:-5000]
            self._last_frame = now

        def on_stop(self) -> None:
            self.kiosk.close()

    return KioskApp(**app_kw)
