"""Under a steady load, each fault ends with every filed application stored exactly once."""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import time

import pytest

from cunban.processes import Broker
from hub.catalog import load_catalog
from tests.faults.drill import FULL, Drill, Size


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def drill(tmp_path, catalog):
    made: list[Drill] = []

    def make(**kwargs) -> Drill:
        d = Drill(tmp_path, catalog, **kwargs)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def _clean(result, **extra) -> None:
    assert result.lost == 0, result
    assert result.duplicated == 0, result
    assert result.stored == result.sent == result.notes["acked_at_stations"], result
    assert result.notes["integrity"] == "ok", result
    for key, value in extra.items():
        assert result.notes.get(key) == value, result


def test_the_hub_killed_with_kill_9_again_and_again_loses_and_duplicates_nothing(drill):
    d = drill().start()
    kills = 3

    def kill_repeatedly():
        for _ in range(kills):
            d.load(d.size.during / kills)
            d.hub.kill9()
            d.hub.start()

    _clean(d.run("hub kill -9 ×3", kill_repeatedly, lambda: None))


def test_a_broker_stopped_and_restarted_under_load_loses_nothing(drill):
    d = drill().start()
    _clean(d.run("broker stop/restart", d.broker.stop, d.broker.start))


def test_a_broker_killed_with_kill_9_is_made_whole_from_the_station_outboxes(drill):
    d = drill().start()
    _clean(d.run("broker kill -9", d.broker.kill, d.broker.start))


def test_a_station_offline_for_a_day_of_filing_uploads_it_all_when_it_reconnects(drill):
    day = 1000 if FULL else 150
    d = drill(size=Size(stations=2)).start()
    offline, online = d.kiosks
    offline.stop_uploader()
    d.load(d.size.before)
    for _ in range(day):
        d.file(offline)
    offline.start_uploader(d.broker.url)
    _clean(d.settle("station offline for a day", time.monotonic(),
                    {"offline_filed": day}))


def test_a_hub_offline_past_a_small_broker_queue_is_made_whole_from_the_outboxes(
        drill, tmp_path):
    # 20 messages: a default-sized queue overflowed, scaled down to the drill's size.
    broker = Broker(tmp_path / "small-broker", max_queued_messages=20)
    d = drill(broker=broker).start()
    overflow = max(60, int(d.size.rate * d.size.during) * 2)

    def hub_down():
        d.hub.stop()

    def hub_up():
        for n in range(overflow):  # more than the queue holds, on top of the load
            d.file(d.kiosks[n % len(d.kiosks)])
        time.sleep(1.0)
        d.hub.start()

    log = tmp_path / "small-broker" / "mosquitto.log"
    result = d.run("hub offline past max_queued_messages=20", hub_down, hub_up)
    _clean(result)
    assert "dropped" in log.read_text(errors="replace")  # the broker did overflow


def test_two_kiosks_sharing_one_client_id_still_deliver_everything(drill):
    d = drill(client_ids=["kiosk-copied-config"] * Size().stations).start(uploaders=False)
    for k in d.kiosks:
        k.start_uploader(d.broker.url)
    _clean(d.run("two processes, one client id", lambda: None, lambda: None))
    log = (d.broker.workdir / "mosquitto.log").read_text(errors="replace")
    assert "kiosk-copied-config already connected" in log  # they did take turns


def test_a_full_hub_disk_refuses_cleanly_and_recovers_when_space_returns(drill, tmp_path):
    disk = tmp_path / "hub"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root with CAP_SYS_ADMIN: "
                    + mounted.stderr.decode(errors="replace")[:200])
    filler = disk / "filler"
    d = drill(hub_data=disk)
    try:
        d.start()

        def fill():
            # Unbuffered, and ENOSPC expected anywhere: a buffered file would raise it
            # again from close() with the bytes it still held.
            with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as fh:
                while True:
                    fh.write(b"\0" * 65536)

        result = d.run("hub disk full (tmpfs 48 MB)", fill, filler.unlink)
        _clean(result)
        status, health = d.hub.get("/api/health")
        assert status == 200, health
        log = (tmp_path / "hub-hub.log").read_text(errors="replace")
        assert "cannot store incoming messages" in log
        assert "storage recovered" in log
    finally:
        d.stop()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_kiosk_clock_hours_wrong_changes_nothing_delivered(drill, monkeypatch):
    import kiosk.outbox

    class SixHoursAhead(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(hours=6)

    monkeypatch.setattr(kiosk.outbox, "datetime", SixHoursAhead)
    d = drill().start()
    _clean(d.run("kiosk clock +6 h", lambda: None, lambda: None))
