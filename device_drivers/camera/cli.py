"""`cunban sim camera` and `cunban devices scan`.

The simulator writes what a document camera would film — a synthetic page, or the photos
in `--folder` — as an MJPG AVI or a JPEG image sequence, and prints the device string to
give `cunban devices scan --camera` (or the `uvc` driver's `device` setting), so the real
OpenCV capture code reads it.
"""

from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np

from device_drivers.base import DeviceError
from device_drivers.camera import document
from device_drivers.camera.codes import decode_codes
from device_drivers.camera.image_files import load_image_file
from device_drivers.camera.synthetic import SyntheticCamera
from device_drivers.camera.uvc import UvcCamera


def register_sim(sub) -> None:
    p = sub.add_parser("camera", help="高拍仪模拟器：把合成材料照片写成视频或图片序列供驱动读取")
    p.add_argument("--out", required=True, help="输出文件夹")
    p.add_argument("--folder", help="用这个文件夹里的照片（JPG/PNG）代替合成材料")
    p.add_argument("--frames", type=int, default=30, help="帧数")
    p.add_argument("--format", choices=("avi", "jpg"), default="avi",
                   help="avi：MJPG 视频；jpg：frame_0000.jpg 图片序列")
    p.add_argument("--size", default="1280x720", help="画面尺寸，宽x高")
    p.set_defaults(func=run_sim)


def register_devices(sub) -> None:
    p = sub.add_parser("scan", help="拍材料：找纸张、校正、检查画质并识别二维码")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="照片文件（JPG/PNG）")
    src.add_argument("--camera", help="摄像头编号（0 即 /dev/video0）、设备路径或视频文件")
    p.add_argument("--json", action="store_true", help="输出一行 JSON")
    p.add_argument("--all-codes", action="store_true", help="除二维码外也识别条形码")
    p.add_argument("--timeout", type=float, default=5.0, help="摄像头等待合格画面的秒数")
    p.add_argument("--save", help="把校正后的材料存为此 JPEG 文件")
    p.set_defaults(func=run_scan)


def write_recording(out: str, frames: int, fmt: str, size: tuple[int, int],
                    folder: str | None = None) -> str:
    """Film `frames` frames of the synthetic camera into `out`; returns the device
    string OpenCV opens (the AVI path or the `frame_%04d.jpg` pattern)."""
    os.makedirs(out, exist_ok=True)
    cam = SyntheticCamera(folder=folder, width=size[0], height=size[1], fps=None)
    shots = [cam.read_frame() for _ in range(frames)]
    cam.close()
    if fmt == "jpg":
        pattern = os.path.join(out, "frame_%04d.jpg")
        for i, frame in enumerate(shots):
            cv2.imwrite(pattern % i, frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        return pattern
    path = os.path.join(out, "camera.avi")
    h, w = shots[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (w, h))
    if not writer.isOpened():
        raise DeviceError("无法写入模拟视频，请检查输出文件夹", detail=path)
    for frame in shots:
        if frame.shape[:2] != (h, w):  # photos of mixed sizes: one stream, one size
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        writer.write(frame)
    writer.release()
    return path


def run_sim(args) -> int:
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        device = write_recording(args.out, args.frames, args.format, (w, h), args.folder)
    except ValueError:
        print("画面尺寸写法不对，请写成 1280x720", file=sys.stderr)
        return 2
    except DeviceError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(json.dumps({"device": device, "frames": args.frames}), flush=True)
    return 0


def scan_frame(frame: np.ndarray, all_codes: bool = False) -> tuple[dict, np.ndarray | None]:
    """Run the pipeline on one frame: the `devices scan` report and the corrected page."""
    analysis = document.analyse(frame)
    page = analysis.page()
    codes = decode_codes(frame, qr_only=not all_codes)
    if not codes and page is not None:
        codes = decode_codes(page, qr_only=not all_codes)  # flattened, zbar sees it better
    report = {
        "codes": [{"type": c.type, "data": c.data} for c in codes],
        "page": None if page is None else {"width": page.shape[1], "height": page.shape[0]},
        "quality": analysis.quality.as_dict(),
    }
    return report, page


def _best_camera_frame(device: str, timeout: float) -> np.ndarray:
    cam = UvcCamera(device=device, warmup_frames=2)
    last = None
    try:
        for frame in cam.frames(timeout):
            last = frame
            if document.analyse(frame).quality.ok:
                break
    finally:
        cam.close()
    if last is None:
        raise DeviceError("摄像头没有画面，请检查连接线后重试", detail=device)
    return last


def run_scan(args) -> int:
    try:
        if args.image:
            frame = load_image_file(args.image)
        else:
            frame = _best_camera_frame(args.camera, args.timeout)
        report, page = scan_frame(frame, args.all_codes)
        if args.save and page is not None:
            with open(args.save, "wb") as fh:
                fh.write(document.encode_jpeg(page))
    except DeviceError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for code in report["codes"]:
            print(f"{code['type']}: {code['data']}")
        page_info = report["page"]
        print("材料：" + (f"{page_info['width']}×{page_info['height']}" if page_info else "未找到"))
        quality = report["quality"]
        print("画质：" + ("合格" if quality["ok"] else "；".join(quality["advice"])))
    return 0
