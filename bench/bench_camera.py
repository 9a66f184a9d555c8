"""Document pipeline throughput on one core, and JPEG bytes per A4 page.

For each frame size the same MJPG-like frame (a synthetic A4 page on a desk, JPEG at
quality 90, as a UVC camera delivers it) is processed repeatedly:

- baseline: `cv2.imdecode` + `cv2.cvtColor` to grey — the least any frame costs;
- pipeline: decode + find the page + correct a preview + quality verdict;
- pipeline_qr: the same plus the QR fast path used for receipt lookup.

Rates are reported in frames per second and as a ratio to the baseline measured in the
same run, so the figures compare across machines. `cv2.setNumThreads(1)` and, where the
OS allows, pinning to one CPU keep it to one core. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cv2
import numpy as np

from device_drivers.camera import document, synthetic
from device_drivers.camera.codes import decode_codes

RECEIPT = "411381101201-000123"


def rate(fn, seconds: float) -> float:
    """Calls per second of `fn`, after one warm-up call."""
    fn()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or n < 3:
        fn()
        n += 1
    return n / elapsed


def frame_rates(size: tuple[int, int], seconds: float) -> dict:
    frame = synthetic.make_scene(RECEIPT, size).frame
    data = np.frombuffer(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1],
                         np.uint8)

    def baseline():
        cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)

    def pipeline():
        return document.analyse(cv2.imdecode(data, cv2.IMREAD_COLOR))

    def pipeline_qr():
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        document.analyse(img)
        return decode_codes(img)

    assert pipeline().quality.ok and pipeline_qr()[0].data == RECEIPT
    base, pipe, qr = (rate(f, seconds) for f in (baseline, pipeline, pipeline_qr))
    return {
        "baseline_fps": round(base, 1),
        "pipeline_fps": round(pipe, 1),
        "pipeline_qr_fps": round(qr, 1),
        "pipeline_ratio": round(pipe / base, 3),
        "pipeline_qr_ratio": round(qr / base, 3),
    }


def chosen_quality(page: np.ndarray, data: bytes) -> int | None:
    """The JPEG quality `encode_jpeg` settled on (None if it had to shrink the page)."""
    for q in range(100, 0, -1):
        if cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes() == data:
            return q
    return None


def a4_jpeg(max_bytes: int) -> dict:
    # A4 at 150 dpi with the sensor noise of a real photo, which is what costs bytes.
    page = synthetic.render_page(RECEIPT, width=1240)
    noisy = page + np.random.default_rng(5).normal(0, 3, page.shape)
    page = np.clip(noisy, 0, 255).astype(np.uint8)
    data = document.encode_jpeg(page, max_bytes=max_bytes)
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return {
        "a4_150dpi_jpeg_bytes": len(data),
        "a4_jpeg_quality": chosen_quality(page, data),
        "a4_jpeg_budget": max_bytes,
        "a4_qr_decodable": [c.data for c in decode_codes(out)] == [RECEIPT],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--max-bytes", type=int, default=300_000, help="JPEG budget per page")
    args = parser.parse_args()

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    result: dict = {"opencv": cv2.__version__, "threads": cv2.getNumThreads()}
    for w, h in ((1280, 720), (1920, 1080)):
        for key, value in frame_rates((w, h), args.seconds).items():
            result[f"{w}x{h}_{key}"] = value
    result.update(a4_jpeg(args.max_bytes))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
