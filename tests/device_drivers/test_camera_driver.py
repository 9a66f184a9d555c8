"""The camera drivers over the real OpenCV capture code: recordings made by the simulator
(`cunban sim camera`) are opened by `UvcCamera` exactly as a V4L2 device would be."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import cv2
import pytest

from device_drivers.base import (
    CodeReader,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    create_driver,
)
from device_drivers.camera import synthetic
from device_drivers.camera.cli import write_recording
from device_drivers.camera.synthetic import SyntheticCamera
from device_drivers.camera.uvc import UvcCamera

RECEIPT = "411381101201-000123"


class FakeClock:
    """Time that only moves when the test says so; sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def avi(tmp_path_factory):
    return write_recording(str(tmp_path_factory.mktemp("avi")), 10, "avi", (1280, 720))


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    return write_recording(str(tmp_path_factory.mktemp("seq")), 6, "jpg", (1280, 720))


def frames_until_failure(cam, limit=50):
    count = 0
    with pytest.raises(DeviceUnavailable):
        for _ in range(limit):
            cam.read_frame()
            count += 1
    return count


@pytest.mark.parametrize("recording", ["avi", "sequence"])
def test_uvc_driver_reads_frames_and_discards_warmup(request, recording):
    device = request.getfixturevalue(recording)
    total = 10 if recording == "avi" else 6
    cam = UvcCamera(device=device, warmup_frames=3)
    try:
        first = cam.read_frame()
        assert first.shape == (720, 1280, 3)
        assert cam.health().state == "ok"
        # 3 warm-up frames were read and thrown away on open, one was returned above.
        assert 1 + frames_until_failure(cam) == total - 3
    finally:
        cam.close()


def test_end_of_stream_is_unavailable_then_the_driver_reopens(avi):
    cam = UvcCamera(device=avi, warmup_frames=0)
    try:
        assert frames_until_failure(cam) == 10
        assert cam.health().state == "offline"
        assert cam.health().message == DeviceUnavailable.message
        assert cam.read_frame().shape == (720, 1280, 3)  # reopened at once
        assert cam.health().state == "ok"
    finally:
        cam.close()


def test_unplugged_camera_is_retried_with_growing_backoff(tmp_path, sequence):
    live = tmp_path / "cam"
    shutil.copytree(os.path.dirname(sequence), live)
    clock = FakeClock()
    cam = UvcCamera(device=str(live / "frame_%04d.jpg"), warmup_frames=0,
                    backoff_min=0.5, backoff_max=2.0, clock=clock, sleep=clock.sleep)
    try:
        cam.read_frame()
        shutil.rmtree(live)  # the cable is pulled
        frames_until_failure(cam)
        waits = []
        for _ in range(4):  # each failed open doubles the wait, up to the maximum
            clock.now += waits[-1] if waits else 0.0
            with pytest.raises(DeviceUnavailable):
                cam.read_frame()
            waits.append(cam._next_attempt - clock.now)
        assert waits == [0.5, 1.0, 2.0, 2.0]
        shutil.copytree(os.path.dirname(sequence), live)  # plugged back in
        clock.now += 1.9
        with pytest.raises(DeviceUnavailable):
            cam.read_frame()  # still inside the backoff window: not even tried
        clock.now += 0.1
        assert cam.read_frame().shape == (720, 1280, 3)
        assert cam.health().state == "ok"
    finally:
        cam.close()


def test_camera_that_never_opens_is_unavailable_with_advice(tmp_path):
    cam = UvcCamera(device=str(tmp_path / "missing_%04d.jpg"))
    with pytest.raises(DeviceUnavailable) as err:
        cam.read_frame()
    assert err.value.message == "设备未连接或已拔出，请检查连接线后重试"
    assert cam.health().state == "offline"


def test_read_code_finds_the_receipt_qr_through_opencv(avi):
    cam: CodeReader = create_driver("camera", "uvc", device=avi, warmup_frames=2)
    try:
        code = cam.read_code(timeout=5)
    finally:
        cam.close()
    assert (code.type, code.data) == ("QRCODE", RECEIPT)


def test_read_code_returns_none_when_no_code_is_in_view(tmp_path):
    desk = tmp_path / "desk"
    desk.mkdir()
    cv2.imwrite(str(desk / "desk.jpg"), synthetic.desk((640, 360)))
    cam = SyntheticCamera(folder=str(desk), backoff_min=0.01)
    assert cam.read_code(timeout=0.3) is None


def test_read_code_raises_when_the_camera_is_gone_the_whole_time(tmp_path):
    clock = FakeClock()
    cam = UvcCamera(device=str(tmp_path / "gone_%04d.jpg"), clock=clock, sleep=clock.sleep)
    with pytest.raises(DeviceUnavailable):
        cam.read_code(timeout=3)
    assert clock.now >= 1003  # it kept trying for the whole timeout


def test_capture_returns_a_still_sharp_page_from_the_recording(sequence):
    cam = UvcCamera(device=sequence, warmup_frames=0)
    try:
        shot = cam.capture(timeout=5, still_frames=3)
    finally:
        cam.close()
    page = shot.page()
    assert page.shape[0] / page.shape[1] == pytest.approx(2**0.5, rel=0.01)


def test_capture_times_out_with_the_advice_for_what_it_saw(tmp_path):
    folder = tmp_path / "blurred"
    folder.mkdir()
    frame = synthetic.blurred(synthetic.make_scene().frame, 3)
    cv2.imwrite(str(folder / "a.jpg"), frame)
    cam = SyntheticCamera(folder=str(folder))
    with pytest.raises(DeviceTimeout) as err:
        cam.capture(timeout=0.5)
    assert err.value.message == "画面模糊，请保持材料不动"


def test_synthetic_camera_survives_unplug_and_replug():
    clock = FakeClock()
    cam = create_driver("camera", "synthetic", backoff_min=1.0, clock=clock, sleep=clock.sleep)
    assert cam.read_code(timeout=1).data == RECEIPT
    cam.unplug()
    with pytest.raises(DeviceUnavailable):
        cam.read_frame()
    assert cam.health().state == "offline"
    cam.replug()
    assert cam.read_code(timeout=5).data == RECEIPT
    assert cam.health().state == "ok"


def test_synthetic_camera_cycles_through_a_folder_of_photos(tmp_path):
    for i, data in enumerate(["A-1", "B-2"]):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), synthetic.make_scene(data, seed=i).frame)
    cam = SyntheticCamera(folder=str(tmp_path))
    assert [cam.read_code(timeout=1).data for _ in range(3)] == ["A-1", "B-2", "A-1"]


def test_synthetic_camera_refuses_an_empty_folder(tmp_path):
    with pytest.raises(DeviceUnavailable) as err:
        SyntheticCamera(folder=str(tmp_path))
    assert "照片" in err.value.message


def test_unknown_camera_type_names_the_known_ones():
    with pytest.raises(DeviceError) as err:
        create_driver("camera", "gige")
    assert "synthetic" in err.value.message and "uvc" in err.value.message


@pytest.mark.skipif(not glob.glob("/dev/video*"),
                    reason="needs a real UVC document camera at /dev/video*")
def test_real_uvc_camera_streams_mjpg_at_the_asked_size():
    cam = UvcCamera(device=0, width=1280, height=720)
    try:
        frame = cam.read_frame()
        fourcc = int(cam._cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cam.close()
    assert frame.shape[:2] == (720, 1280)
    assert fourcc == cv2.VideoWriter_fourcc(*"MJPG")


def test_cut_off_recording_gives_its_frames_then_unavailable(tmp_path, avi):
    data = Path(avi).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    cam = UvcCamera(device=str(cut), warmup_frames=0)
    try:
        assert 0 < frames_until_failure(cam) < 10
    finally:
        cam.close()


def test_a_file_that_is_no_video_is_unavailable(tmp_path):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF" + bytes(range(256)) * 8)
    cam = UvcCamera(device=str(junk))
    with pytest.raises(DeviceUnavailable):
        cam.read_frame()
