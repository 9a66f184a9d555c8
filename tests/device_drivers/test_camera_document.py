"""The document pipeline on generated photos: page, perspective, quality, capture, JPEG."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from device_drivers.camera import document, synthetic
from device_drivers.camera.codes import decode_codes

SIZE = (1280, 720)
RECEIPT = "411381101201-000123"


@pytest.fixture(scope="module")
def page():
    return synthetic.render_page(RECEIPT)


@pytest.fixture(scope="module")
def scene(page):
    return synthetic.photograph(page, synthetic.page_corners(SIZE), SIZE, qr_data=RECEIPT)


def shoot(page, size=SIZE, seed=0, **corner_args):
    return synthetic.photograph(page, synthetic.page_corners(size, **corner_args), size,
                                seed=seed).frame


def sensor_noise(frame, rng):
    """A fresh frame of the same scene: every read of a real sensor differs a little."""
    return np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
@pytest.mark.parametrize("rotate", [-9.0, 0.0, 6.0])
def test_page_is_found_at_its_corners_in_a_tilted_photo(page, size, rotate):
    corners = synthetic.page_corners(size, rotate_deg=rotate, tilt=0.08)
    frame = synthetic.photograph(page, corners, size).frame
    quad = document.find_page(frame)
    assert quad is not None and not quad.cut_off
    diagonal = math.hypot(*size)
    assert np.abs(quad.corners - corners).max() < 0.01 * diagonal


def test_corrected_page_is_upright_a4_and_its_qr_code_reads(scene):
    analysis = document.analyse(scene.frame)
    assert analysis.quality.ok, analysis.quality
    page = analysis.page()
    h, w = page.shape[:2]
    assert h / w == pytest.approx(math.sqrt(2), rel=0.01)
    assert [c.data for c in decode_codes(page)] == [RECEIPT]


def test_corrected_page_is_the_printed_page_upright(page, scene):
    corrected = document.analyse(scene.frame).page()
    # Compared at 120 px wide: the layout of lines and code, not the glyph anti-aliasing.
    w, h = 120, 170

    def small(img):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)

    original, got = small(page), small(corrected)
    correlation = np.corrcoef(original.ravel(), got.ravel())[0, 1]
    assert correlation > 0.9
    for wrong in (np.roll(original, w // 10, axis=1), original[::-1, ::-1]):  # shifted, upside down
        assert np.corrcoef(wrong.ravel(), got.ravel())[0, 1] < correlation - 0.2


def test_a_landscape_a4_page_comes_out_landscape(page):
    landscape = cv2.rotate(page, cv2.ROTATE_90_CLOCKWISE)
    corners = synthetic.page_corners(SIZE, fill=0.6, aspect=1 / math.sqrt(2), rotate_deg=3)
    frame = synthetic.photograph(landscape, corners, SIZE).frame
    out = document.analyse(frame).page()
    assert out.shape[1] / out.shape[0] == pytest.approx(math.sqrt(2), rel=0.01)


def test_a_page_that_is_not_a4_keeps_its_measured_ratio(page):
    square = cv2.resize(page, (900, 900), interpolation=cv2.INTER_AREA)
    corners = synthetic.page_corners(SIZE, aspect=1.0, tilt=0.0, rotate_deg=5, fill=0.8)
    frame = synthetic.photograph(square, corners, SIZE).frame
    out = document.analyse(frame).page()
    assert out.shape[0] / out.shape[1] == pytest.approx(1.0, abs=0.04)


def test_sharp_well_lit_photo_passes_with_no_advice(scene):
    quality = document.analyse(scene.frame).quality
    assert quality.as_dict() == {"ok": True, "problems": [], "advice": []}


@pytest.mark.parametrize(
    ("spoil", "problem", "advice"),
    [
        (lambda f: synthetic.blurred(f, 2.5), "blur", "画面模糊，请保持材料不动"),
        (lambda f: synthetic.darkened(f, 0.25), "dark", "光线太暗，请打开补光灯或移到亮处"),
        (lambda f: synthetic.with_glare(f, (640, 300), 45), "glare", "反光太强，请调整角度"),
    ],
    ids=["blurred", "dark", "glare"],
)
def test_each_bad_photo_gets_its_own_advice(scene, spoil, problem, advice):
    quality = document.analyse(spoil(scene.frame)).quality
    assert not quality.ok
    assert quality.problems == (problem,)
    assert quality.advice == (advice,)


@pytest.mark.parametrize("offset", [(0.0, 0.3), (0.42, 0.0), (-0.42, 0.1)],
                         ids=["off-bottom", "off-right", "off-left"])
def test_page_running_out_of_the_frame_is_cut_off(page, offset):
    frame = shoot(page, fill=0.75, offset=offset)
    analysis = document.analyse(frame)
    assert analysis.quality.problems == ("cut_off",)
    assert analysis.quality.advice == ("材料没有完全放进画面，请把材料放在框内",)
    assert analysis.page() is None


def test_empty_desk_says_no_page_found():
    quality = document.analyse(synthetic.desk(SIZE)).quality
    assert quality.problems == ("not_found",)
    assert quality.advice == ("没有找到材料，请把材料放平",)


def test_dark_empty_desk_asks_for_light_first():
    frame = synthetic.darkened(synthetic.desk(SIZE), 0.3)
    assert document.analyse(frame).quality.problems == ("dark", "not_found")


def test_autocapture_fires_once_on_a_still_sharp_page(page):
    frame = shoot(page)
    rng = np.random.default_rng(3)
    auto = document.AutoCapture(still_frames=4)
    shots = [auto.feed(sensor_noise(frame, rng)) for _ in range(10)]
    fired = [i for i, s in enumerate(shots) if s is not None]
    assert fired == [3]
    assert shots[3].page() is not None


def test_autocapture_waits_while_the_page_moves_and_fires_when_it_settles(page):
    rng = np.random.default_rng(4)
    auto = document.AutoCapture(still_frames=3)
    moving = [shoot(page, offset=(-0.12 + 0.03 * i, 0.0)) for i in range(6)]
    assert [auto.feed(sensor_noise(f, rng)) for f in moving] == [None] * 6
    still = shoot(page, offset=(0.06, 0.0))
    settled = [auto.feed(sensor_noise(still, rng)) for _ in range(4)]
    # The first settled frame still differs from the last moving one; three still frames
    # follow it, and the third of them is captured.
    assert [s is not None for s in settled] == [False, False, False, True]


def test_autocapture_never_fires_on_a_still_blurred_page(page):
    frame = synthetic.blurred(shoot(page), 3.0)
    auto = document.AutoCapture(still_frames=3)
    assert all(auto.feed(frame) is None for _ in range(6))
    assert auto.last.quality.problems == ("blur",)


def test_autocapture_rearms_for_the_next_page(page):
    auto = document.AutoCapture(still_frames=2)
    first = shoot(page, offset=(-0.1, 0.0))
    second = shoot(page, offset=(0.1, 0.0), rotate_deg=-5)
    fired = [auto.feed(f) is not None for f in [first] * 4 + [second] * 4]
    assert fired == [False, True, False, False, False, False, True, False]


@pytest.fixture(scope="module")
def a4_150dpi(page):
    # A page as a 5-megapixel document camera sees it: A4 at 150 dpi, with sensor noise,
    # which is what makes real photos expensive to compress.
    noise = np.random.default_rng(5).normal(0, 3, page.shape)
    return np.clip(page + noise, 0, 255).astype(np.uint8)


def test_jpeg_of_an_a4_page_fits_300kb_and_its_qr_still_reads(a4_150dpi):
    data = document.encode_jpeg(a4_150dpi, max_bytes=300_000)
    assert len(data) <= 300_000
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == a4_150dpi.shape
    assert [c.data for c in decode_codes(out)] == [RECEIPT]
    mse = np.mean((out.astype(np.float32) - a4_150dpi.astype(np.float32)) ** 2)
    assert 10 * math.log10(255**2 / mse) > 30  # PSNR: the print stays crisp


def test_jpeg_quality_is_the_highest_that_fits(a4_150dpi):
    loose = document.encode_jpeg(a4_150dpi, max_bytes=600_000)
    tight = document.encode_jpeg(a4_150dpi, max_bytes=250_000)
    assert len(tight) <= 250_000 < len(loose) <= 600_000
    # One quality step more would have burst the budget (or quality is already at the top).
    for data, budget in ((tight, 250_000), (loose, 600_000)):
        q = next(q for q in range(50, 93)
                 if cv2.imencode(".jpg", a4_150dpi, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()
                 == data)
        if q < 92:
            bigger = cv2.imencode(".jpg", a4_150dpi, [cv2.IMWRITE_JPEG_QUALITY, q + 1])[1]
            assert len(bigger) > budget


def test_jpeg_shrinks_the_page_rather_than_go_below_readable_quality(a4_150dpi):
    data = document.encode_jpeg(a4_150dpi, max_bytes=60_000, min_quality=50)
    assert len(data) <= 60_000
    out = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape[1] < a4_150dpi.shape[1]
    assert out.shape[0] / out.shape[1] == pytest.approx(math.sqrt(2), rel=0.01)


def test_oversized_page_is_limited_to_a4_at_150_dpi(page):
    big = cv2.resize(page, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    out = cv2.imdecode(np.frombuffer(document.encode_jpeg(big), np.uint8), cv2.IMREAD_COLOR)
    assert max(out.shape[:2]) == 1754
