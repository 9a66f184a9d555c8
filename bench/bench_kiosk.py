"""The kiosk app under Xvfb: cold start to the welcome screen, and UI frame time and
camera preview rate while the preview and the document pipeline run.

Each figure has a baseline measured in the same run, so it compares across machines:

- cold start: an empty Kivy app (one label, same window size) until its first frame, against
  the real kiosk app (drivers, outbox, uploader, catalog from a real broker and hub) until
  the welcome screen is on screen;
- frame time: the empty app's frame intervals (p50/p95) against the kiosk's on the
  materials screen, where the synthetic camera delivers 1280×720 frames that are shown
  in the preview and analysed by the document pipeline (the page is kept moving, so
  auto-capture never ends the run);
- preview fps: frames uploaded to the preview's texture per second on that screen (and
  `camera_fps`, frames the camera handed to the app).

Run: `.venv/bin/python bench/bench_kiosk.py --seconds 10` (needs xvfb-run). Prints one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZE = "1920x1080"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def frame_stats(intervals: list[float]) -> dict:
    ms = [v * 1000 for v in intervals]
    return {"frame_ms_p50": round(percentile(ms, 50), 1),
            "frame_ms_p95": round(percentile(ms, 95), 1)}


# --- child processes (inside xvfb-run) ------------------------------------------------------
def child_empty(seconds: float) -> None:
    from kiosk.app import configure_window

    configure_window(SIZE)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    intervals: list[float] = []
    last: list[float] = []

    class Empty(App):
        def build(self):
            Clock.schedule_once(lambda dt: print("READY", flush=True), 0)
            Clock.schedule_interval(self.tick, 0)
            Clock.schedule_once(lambda dt: self.stop(), seconds + 1)
            return Label(text="村办", font_size=36)

        def tick(self, dt):
            now = time.perf_counter()
            if last:
                intervals.append(now - last[-1])
            last.append(now)

    Empty().run()
    print(json.dumps(frame_stats(intervals[len(intervals) // 10:])), flush=True)


def child_kiosk(seconds: float, mqtt: str) -> None:
    from kiosk.app import configure_window

    configure_window(SIZE)
    from firmware_config import KioskConfig
    from kiosk.app import make_app
    from kiosk.bootstrap import build_kiosk
    from kiosk.ui.tour import ITEM, SID, ScriptedCamera, Tour

    class MovingCamera(ScriptedCamera):
        """The page shifts by a few pixels every frame: the pipeline analyses every frame
        and never finds it still enough to capture."""

        def _grab(self):
            frame = super()._grab()
            return np.roll(frame, (self._index % 2) * 6, axis=1)

    work = Path(tempfile.mkdtemp(prefix="cunban-bench-kiosk-"))
    config = KioskConfig.model_validate({
        "station": {"id": SID, "name": "前营村"}, "hub": {"url": "http://127.0.0.1"},
        "broker": {"url": mqtt},
        "devices": {"idcard": {"type": "sam-simulator"},
                    "printer": {"type": "escpos-simulator"}},
        "ui": {"voice": False}})
    camera = MovingCamera()
    shown = [0]

    def build(post):
        kiosk = build_kiosk(config, post, data_dir=work / "kiosk", camera=camera)
        kiosk.simulators["idcard"].remove()
        return kiosk

    app = make_app(build)
    tour = Tour(app, work / "screens", camera)
    result: dict = {}

    def script():
        try:
            tour.screen("welcome")
            print("READY", flush=True)
            flow = app.flow
            tour.wait(lambda: app.flow.catalog is not None and app.flow.online, "catalog")
            tour.touch("file")
            tour.screen("identify")
            app.kiosk.simulators["idcard"].place(0)
            tour.screen("choose")
            tour.touch("group", "老龄")
            tour.touch("item", ITEM)
            tour.screen("item")
            tour.touch("category", "local")
            tour.settle()
            tour.touch("start")
            tour.screen("materials")
            preview = app.runtime.preview

            def counted(frame):
                shown[0] += 1
                preview(frame)
            app.runtime.preview = counted
            events = {}
            deliver = app.deliver

            def counting(event):
                events[type(event).__name__] = events.get(type(event).__name__, 0) + 1
                deliver(event)
            app.deliver = counting
            time.sleep(1.0)
            tour.on_main(app.frame_times.clear)
            start, n0 = time.perf_counter(), shown[0]
            drawn0 = tour.on_main(lambda: app.preview_frames)
            time.sleep(seconds)
            elapsed = time.perf_counter() - start
            camera_fps = (shown[0] - n0) / elapsed
            fps = (tour.on_main(lambda: app.preview_frames) - drawn0) / elapsed
            intervals = tour.on_main(lambda: list(app.frame_times))
            texture = tour.on_main(lambda: app.root_widget.preview.texture.size)
            assert flow.screen.value == "materials", flow.screen
            result.update(frame_stats(intervals), preview_fps=round(fps, 1),
                          camera_fps=round(camera_fps, 1), preview_texture=list(texture),
                          pages_captured=len(flow.session.pages), events=events)
        except BaseException as exc:
            result["error"] = repr(exc)
        finally:
            tour.on_main(app.stop)

    from kivy.clock import Clock

    Clock.schedule_once(lambda dt: threading.Thread(target=script, daemon=True).start(), 0)
    app.run()
    print(json.dumps(result), flush=True)


# --- the parent: starts each child and times it to READY ----------------------------------
def run_child(kind: str, seconds: float, mqtt: str = "") -> dict:
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
           "KIVY_HOME": tempfile.mkdtemp(prefix="cunban-bench-kivy-")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "-s", f"-screen 0 {SIZE}x24", sys.executable, __file__,
         "--child", kind, "--seconds", str(seconds), "--mqtt", mqtt],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready, result = None, {}
    for line in proc.stdout:
        if line.startswith("READY") and ready is None:
            ready = time.perf_counter() - start
        elif line.startswith("{"):
            result = json.loads(line)
    proc.wait(120)
    return {"cold_start_s": round(ready, 2) if ready else None, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", choices=["empty", "kiosk"])
    parser.add_argument("--mqtt", default="")
    args = parser.parse_args()
    if args.child == "empty":
        child_empty(args.seconds)
        return
    if args.child == "kiosk":
        child_kiosk(args.seconds, args.mqtt)
        return
    from kiosk.ui.tour import Services

    services = Services(Path(tempfile.mkdtemp(prefix="cunban-bench-services-")))
    try:
        empty = run_child("empty", args.seconds)
        kiosk = run_child("kiosk", args.seconds, services.mqtt)
    finally:
        services.stop()
    ratio = lambda a, b: round(a / b, 2) if a and b else None  # noqa: E731
    print(json.dumps({
        "window": SIZE, "camera": "1280x720", "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "empty_app": empty, "kiosk": kiosk,
        "cold_start_ratio": ratio(kiosk.get("cold_start_s"), empty.get("cold_start_s")),
        "frame_p95_ratio": ratio(kiosk.get("frame_ms_p95"), empty.get("frame_ms_p95"))}))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
