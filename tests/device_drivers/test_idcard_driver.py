"""Contract of the ID-card driver, run with the real driver over the pty simulator."""

from __future__ import annotations

import struct
import threading
import time

import pytest

from device_drivers.base import (
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    ProtocolError,
    create_driver,
)
from device_drivers.idcard import CardWatcher, IdCardError, SamReader
from device_drivers.idcard.protocol import Command
from device_drivers.idcard.sim import IdCardSimulator, SimCard, sample_cards
from tests.device_drivers.conftest import wait_until


@pytest.fixture
def sim(port_link):
    with IdCardSimulator(link=port_link) as simulator:
        yield simulator


@pytest.fixture
def reader(sim):
    with SamReader(sim.port, timeout=0.5, poll_interval=0.02) as r:
        yield r


def test_the_registry_builds_a_sam_reader(sim):
    reader = create_driver("idcard", "sam", port=sim.port, baudrate=57600, timeout=0.3)
    assert isinstance(reader, SamReader) and reader.baudrate == 57600
    reader.close()


def test_an_unsupported_baud_rate_is_refused_in_words():
    with pytest.raises(DeviceError, match="波特率"):
        SamReader("/dev/null", baudrate=4800)


def test_a_placed_card_is_read_with_every_field(sim, reader):
    card = reader.read_card(timeout=1)
    expected = sample_cards()[0]
    assert card is not None
    assert card.name == expected.name == "张秀英"
    assert card.id_number == expected.id_number and card.id_number_valid
    assert card.gender == "女" and card.nation == "汉" and card.valid_to is None
    assert card.photo_wlt == expected.photo() and len(card.photo_wlt) == 1024
    assert sim.requests[-3:] == [Command.FIND_CARD, Command.SELECT_CARD, Command.READ_BASE]


def test_the_rare_character_card_survives_the_wire(sim, reader):
    sim.place(3)
    card = reader.read_card(timeout=1)
    assert card is not None and card.name == "赵䶮"


def test_no_card_returns_none_within_the_timeout(sim, reader):
    sim.inject("no_card")
    start = time.monotonic()
    assert reader.read_card(timeout=0.3) is None
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 1.5  # generous: the machine may be busy
    assert sim.requests.count(Command.FIND_CARD) >= 3  # it kept polling


def test_a_card_placed_while_waiting_is_read(sim, reader):
    sim.remove()
    threading.Timer(0.15, sim.place, args=(2,)).start()
    card = reader.read_card(timeout=2)
    assert card is not None and card.name == "李建国"


def test_a_sam_fault_raises_a_device_error_with_a_message(sim, reader):
    sim.inject("sam_fault")
    with pytest.raises(IdCardError) as info:
        reader.read_card(timeout=1)
    assert isinstance(info.value, DeviceError)
    assert info.value.code == 0x60 and "自检失败" in info.value.message
    assert reader.sam_status().state == "fault"


def test_a_read_failure_is_retried_and_a_lasting_one_is_reported(sim, reader):
    sim.inject("read_failed", times=1)
    assert reader.read_card(timeout=1) is not None
    sim.inject("read_failed")
    with pytest.raises(IdCardError) as info:
        reader.read_card(timeout=0.2)
    assert info.value.code == 0x41 and "读身份证失败" in info.value.message


def test_one_corrupted_answer_is_asked_again_and_a_lasting_one_is_a_protocol_error(sim, reader):
    sim.inject("bad_checksum", times=1)
    assert reader.read_card(timeout=1) is not None
    sim.inject("bad_checksum")
    with pytest.raises(ProtocolError):
        reader.read_card(timeout=1)


def test_garbage_before_answers_and_answers_in_pieces_are_read(sim, reader):
    sim.inject("garbage")
    sim.inject("split")
    card = reader.read_card(timeout=1)
    assert card is not None and card.name == "张秀英"


def test_a_silent_reader_times_out_in_words(sim, reader):
    sim.inject("timeout")
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match="没有响应"):
        reader.read_card(timeout=5)
    assert time.monotonic() - start < 2.0  # one 0.5 s command timeout, not the card wait
    sim.clear("timeout")
    assert reader.read_card(timeout=1) is not None


def test_sam_management_commands(sim, reader):
    reader.reset()
    assert reader.sam_status().state == "ok"
    sim.sam_id = struct.pack("<HHIII", 5, 2, 20190704, 42, 7)
    assert reader.sam_id() == "05.02-20190704-0000000042-0000000007"
    assert reader.health().state == "ok"


def test_unplug_mid_session_then_replug_works_again(sim, reader):
    assert reader.read_card(timeout=1) is not None
    sim.unplug()
    with pytest.raises(DeviceUnavailable, match="拔出"):
        reader.read_card(timeout=1)
    with pytest.raises(DeviceUnavailable):  # the path is gone while unplugged
        reader.read_card(timeout=1)
    assert reader.health().state == "offline"
    sim.replug()
    card = reader.read_card(timeout=1)
    assert card is not None and card.name == "张秀英"


def test_a_hong_kong_permit_reads_through_the_driver(sim, reader):
    sim.place(SimCard("陈家明", "1", "", "19900101", "河南省邓州市花洲街道新华路8号",
                      "810000199001010019", "邓州市公安局", "20200101", "20400101",
                      card_type="J", pass_number="H60123456"))  # fmt: skip
    card = reader.read_card(timeout=1)
    assert card.card_type == "hmt_residence_permit" and card.pass_number == "H60123456"


def test_the_card_watcher_sees_insert_and_remove_and_survives_unplug(sim, reader):
    events: list[str] = []
    errors: list[DeviceError] = []
    sim.remove()
    watcher = CardWatcher(
        reader,
        on_present=lambda card: events.append(f"in:{card.name}"),
        on_removed=lambda: events.append("out"),
        on_error=errors.append,
        interval=0.02,
        retry_interval=0.05,
    )
    with watcher:
        time.sleep(0.1)
        assert events == []
        sim.place(2)
        assert wait_until(lambda: events == ["in:李建国"])
        time.sleep(0.1)
        assert events == ["in:李建国"]  # read once, not again while it lies there
        sim.remove()
        assert wait_until(lambda: events == ["in:李建国", "out"])
        sim.place(0)
        assert wait_until(lambda: events[-1:] == ["in:张秀英"])
        sim.unplug()
        assert wait_until(lambda: events[-1:] == ["out"])
        assert wait_until(lambda: any(isinstance(e, DeviceUnavailable) for e in errors))
        sim.replug()
        assert wait_until(lambda: events[-1:] == ["in:张秀英"])


def test_a_failing_callback_does_not_stop_the_watcher(sim, reader):
    seen: list[str] = []

    def explode(card):
        seen.append(card.name)
        raise RuntimeError("screen not ready")

    sim.remove()
    with CardWatcher(reader, explode, lambda: seen.append("out"), interval=0.02):
        sim.place(1)
        assert wait_until(lambda: seen == ["王淑珍"])
        sim.remove()
        assert wait_until(lambda: seen == ["王淑珍", "out"])


def test_the_simulator_paces_answers_at_the_line_speed(port_link):
    with IdCardSimulator(link=port_link, baudrate=115200) as sim, SamReader(sim.port) as r:
        start = time.monotonic()
        r.transact(Command.READ_BASE)
        assert time.monotonic() - start >= 1295 * 10 / 115200
