"""Photo files from outside (a phone, a USB stick) and `cunban devices scan` / `sim camera`."""

from __future__ import annotations

import argparse
import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from device_drivers.camera import cli, synthetic
from device_drivers.camera.image_files import (
    BadImage,
    decode_image,
    image_dimensions,
    load_image_file,
)

RECEIPT = "411381101201-000123"
TOO_BIG = "图片尺寸太大，请把相机调到普通清晰度后重拍"


@pytest.fixture(scope="module")
def scene():
    return synthetic.make_scene(RECEIPT)


@pytest.fixture(scope="module")
def jpeg(scene):
    return cv2.imencode(".jpg", scene.frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


@pytest.fixture(scope="module")
def png(scene):
    return cv2.imencode(".png", scene.frame[:200, :300])[1].tobytes()


def run(argv: list[str]) -> int:
    """The camera's commands as `cunban sim …` / `cunban devices …` register them."""
    parser = argparse.ArgumentParser(prog="cunban")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register_sim(sub.add_parser("sim").add_subparsers(required=True))
    cli.register_devices(sub.add_parser("devices").add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def png_with_size(width: int, height: int) -> bytes:
    """A syntactically valid PNG header declaring `width` × `height` (ISO/IEC 15948 §11.2.2)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 1000)
    body += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", 0)
    return b"\x89PNG\r\n\x1a\n" + body + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def jpeg_claiming(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF0 frame header rewritten to a different size (T.81 B.2.2)."""
    sof = data.index(b"\xff\xc0")
    return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]


def test_good_jpeg_and_png_decode_to_their_size(jpeg, png):
    assert image_dimensions(jpeg) == ("jpeg", 1280, 720)
    assert decode_image(jpeg).shape == (720, 1280, 3)
    assert image_dimensions(png) == ("png", 300, 200)
    assert decode_image(png).shape == (200, 300, 3)


@pytest.mark.parametrize(
    ("spoil", "advice"),
    [
        (lambda j, p: b"", "图片文件是空的，请重新拍照"),
        (lambda j, p: "办事指南\n".encode() * 50, "这不是照片文件，请选择 JPG 或 PNG 图片"),
        (lambda j, p: j[: len(j) // 2], "图片文件不完整，请重新拍照"),
        (lambda j, p: j[:1000], "图片文件不完整，请重新拍照"),
        (lambda j, p: p[:-30], "图片文件不完整，请重新拍照"),
        (lambda j, p: j[:2] + b"\x00" * 500, "图片文件已损坏，请重新拍照"),
        (lambda j, p: jpeg_claiming(j, 60000, 60000), TOO_BIG),
        (lambda j, p: png_with_size(100_000, 100_000), TOO_BIG),
    ],
    ids=["empty", "text", "half-jpeg", "jpeg-header-only", "cut-png", "garbage-after-soi",
         "jpeg-bomb", "png-bomb"],
)
def test_broken_files_give_a_clear_error_and_never_crash(jpeg, png, spoil, advice):
    with pytest.raises(BadImage) as err:
        decode_image(spoil(jpeg, png))
    assert err.value.message == advice


def test_pixel_cap_is_checked_before_decoding(jpeg):
    with pytest.raises(BadImage):
        decode_image(jpeg, max_pixels=1280 * 720 - 1)
    assert decode_image(jpeg, max_pixels=1280 * 720).shape == (720, 1280, 3)


def test_jpeg_whose_pixels_are_garbage_is_refused(jpeg):
    sos = jpeg.index(b"\xff\xda")
    broken = jpeg[: sos + 2] + b"\xff\xff" + b"\x00" * 64 + b"\xff\xd9"
    with pytest.raises(BadImage):
        decode_image(broken)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(BadImage) as err:
        load_image_file(str(tmp_path / "nope.jpg"))
    assert err.value.message == "打不开这个图片文件，请检查文件是否存在"


def test_scan_prints_codes_page_and_quality_as_json(tmp_path, jpeg, capsys):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg)
    saved = tmp_path / "page.jpg"
    assert run(["devices", "scan", "--image", str(photo), "--json", "--save", str(saved)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["codes"] == [{"type": "QRCODE", "data": RECEIPT}]
    assert report["page"]["height"] / report["page"]["width"] == pytest.approx(2**0.5, rel=0.01)
    assert report["quality"] == {"ok": True, "problems": [], "advice": []}
    page = cv2.imread(str(saved))
    assert page.shape[:2] == (report["page"]["height"], report["page"]["width"])


def test_scan_reports_advice_for_a_photo_with_the_page_cut_off(tmp_path, capsys):
    frame = synthetic.photograph(synthetic.render_page(), synthetic.page_corners(offset=(0, 0.3)),
                                 (1280, 720)).frame
    photo = tmp_path / "cut.png"
    cv2.imwrite(str(photo), frame)
    assert run(["devices", "scan", "--image", str(photo), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["page"] is None
    assert report["quality"] == {"ok": False, "problems": ["cut_off"],
                                 "advice": ["材料没有完全放进画面，请把材料放在框内"]}


def test_scan_reads_barcodes_only_when_asked(tmp_path, capsys):
    # An EAN-13 drawn from its module pattern (GS1 General Specifications §5.2.1.2).
    left = {"0": "0001101", "1": "0011001", "2": "0010011", "3": "0111101", "4": "0100011",
            "5": "0110001", "6": "0101111", "7": "0111011", "8": "0110111", "9": "0001011"}
    right = {d: "".join("1" if b == "0" else "0" for b in p) for d, p in left.items()}
    digits = "6901234567892"  # first digit 6: parity pattern LGGGLL (table 5.2.1.2-4)
    g = {d: p[::-1] for d, p in right.items()}
    parity = "LGGGLL"
    bits = "101" + "".join((left if par == "L" else g)[d] for par, d in zip(parity, digits[1:7],
                                                                          strict=True))
    bits += "01010" + "".join(right[d] for d in digits[7:]) + "101"
    row = np.array([0 if b == "1" else 255 for b in "0" * 12 + bits + "0" * 12], np.uint8)
    image = np.repeat(np.repeat(row[None, :], 120, axis=0), 3, axis=1)
    photo = tmp_path / "ean.png"
    cv2.imwrite(str(photo), image)
    assert run(["devices", "scan", "--image", str(photo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["codes"] == []
    assert run(["devices", "scan", "--image", str(photo), "--json", "--all-codes"]) == 0
    assert json.loads(capsys.readouterr().out)["codes"] == [{"type": "EAN13", "data": digits}]


def test_scan_of_a_broken_file_exits_2_with_the_advice(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    assert run(["devices", "scan", "--image", str(bad), "--json"]) == 2
    assert capsys.readouterr().err.strip() == "图片文件是空的，请重新拍照"


@pytest.mark.parametrize("fmt", ["avi", "jpg"])
def test_sim_recording_is_scanned_through_the_camera_path(tmp_path, capsys, fmt):
    assert run(["sim", "camera", "--out", str(tmp_path), "--frames", "8", "--format", fmt]) == 0
    device = json.loads(capsys.readouterr().out)["device"]
    assert run(["devices", "scan", "--camera", device, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["codes"] == [{"type": "QRCODE", "data": RECEIPT}]
    assert report["quality"]["ok"] is True


def test_sim_films_a_folder_of_photos(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), synthetic.make_scene("X-42").frame)
    out = tmp_path / "out"
    assert run(["sim", "camera", "--out", str(out), "--folder", str(photos), "--frames", "4"]) == 0
    device = json.loads(capsys.readouterr().out)["device"]
    assert run(["devices", "scan", "--camera", device, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["codes"][0]["data"] == "X-42"


def test_scan_of_a_camera_that_is_not_there_exits_2(tmp_path, capsys):
    assert run(["devices", "scan", "--camera", str(tmp_path / "none.avi"), "--timeout",
                "0.2"]) == 2
    assert "请检查连接线" in capsys.readouterr().err
