"""The project's Mosquitto configuration, sized for Cunban's traffic.

The broker is not a store (it acknowledges before it writes to disk), but it should not
drop what it holds either: the default `max_queued_messages` (1000) silently dropped
29,000 of 30,000 messages queued for an offline subscriber, so the hub's queue is sized
for a day of backlog. Persistence is written every 30 seconds and at a clean stop, to a
directory the broker process can write (Mosquitto started as root drops to `user`). Not
on every few changes (`autosave_on_changes`): each save writes the whole in-memory store,
and with photos in flight that was hundreds of megabytes every five messages — intake fell
to about two applications a second. What a `kill -9` of the broker loses since the last
save the kiosks' outboxes send again.
"""

from __future__ import annotations

import getpass
from pathlib import Path

# A day of a busy county: ~2,000 applications × (1 submit + 3 blobs + status traffic),
# with a wide margin for province-wide bursts.
DAY_OF_BACKLOG = 1_000_000


def render_config(*, port: int, data_dir: Path | str, bind: str = "127.0.0.1",
                  user: str | None = None, allow_anonymous: bool = True) -> str:
    data = Path(data_dir).resolve()
    return "\n".join([
        "# Cunban broker configuration (generated)",
        f"user {user or getpass.getuser()}",
        "per_listener_settings false",
        f"allow_anonymous {'true' if allow_anonymous else 'false'}",
        f"listener {port} {bind}",
        "persistence true",
        f"persistence_location {data}/",
        "autosave_interval 30",
        "autosave_on_changes false",
        f"max_queued_messages {DAY_OF_BACKLOG}",
        "max_queued_bytes 0",
        "max_inflight_messages 1000",
        "max_packet_size 10485760",
        # Small messages (acks, statuses) go out at once, not held for Nagle's algorithm
        # waiting on the peer's delayed ACK (40 ms on Linux).
        "set_tcp_nodelay true",
        "persistent_client_expiration 14d",
        f"log_dest file {data}/mosquitto.log",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "",
    ])


def write_config(out_dir: Path | str, *, port: int, bind: str = "127.0.0.1") -> Path:
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    conf = out / "mosquitto.conf"
    conf.write_text(render_config(port=port, data_dir=out, bind=bind), encoding="utf-8")
    return conf
