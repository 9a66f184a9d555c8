"""Large messages reuse freed heap instead of faulting in fresh pages each time; objects
made at start are left out of garbage collection."""

from __future__ import annotations

import json
import subprocess
import sys

# Decodes a 600 KiB PUBLISH (a photo message) 100 times, as paho does on receipt, and
# counts the page faults that took.
SCRIPT = r"""
import json, os, resource, struct, sys
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import MQTTProtocolVersion
from protocols.memory import keep_freed_memory

tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
topic = b"cunban/v1/station/410001001001/blob/" + b"a" * 64
packet = bytearray(struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7)
                   + os.urandom(600 * 1024))
for _ in range(5):
    decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv311)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    message = decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv311)
    assert len(message.payload) == 600 * 1024
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"tuned": tuned, "faults": after - before}))
"""


def _faults(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True,
                         text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_photo_sized_messages_stop_faulting_in_fresh_pages():
    plain, tuned = _faults("plain"), _faults("tuned")
    assert tuned["tuned"] is True
    pages_per_message = 600 * 1024 // 4096
    # glibc's own thresholds: a fresh zero-filled copy for most messages
    assert plain["faults"] > 50 * pages_per_message, plain
    assert tuned["faults"] < 5 * pages_per_message, tuned


# A process builds what it keeps (here 100,000 lists), leaves it out of collection, and
# later makes garbage of its own: a reference cycle, which must still be collected.
FREEZE = r"""
import gc, json, weakref
from protocols.memory import freeze_startup_objects

class Node:
    pass

kept = [[n] for n in range(100_000)]
gc.collect()
walked_before = len(gc.get_objects(generation=2))
frozen = freeze_startup_objects()
gc.collect()
walked_after = len(gc.get_objects(generation=2))
a, b = Node(), Node()
a.other, b.other = b, a
gone = []
weakref.finalize(a, gone.append, "a")
del a, b
gc.collect()
print(json.dumps({"before": walked_before, "frozen": frozen, "after": walked_after,
                  "cycle_collected": gone == ["a"], "kept": len(kept)}))
"""


def test_objects_made_at_start_are_left_out_and_later_garbage_is_still_collected():
    out = subprocess.run([sys.executable, "-c", FREEZE], capture_output=True, text=True,
                         check=True, timeout=60)
    got = json.loads(out.stdout)
    assert got["before"] >= 100_000  # a full collection walked all of them
    assert got["frozen"] >= 100_000
    assert got["after"] < 1_000, got  # now it walks only what was made since
    assert got["cycle_collected"] and got["kept"] == 100_000
