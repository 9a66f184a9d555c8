"""A headless station for fleet tests, run as its own process so a test can kill -9 it:
broker login over TLS with the stored credentials, presence with a Last Will, signed
configuration handling and heartbeats. Arguments: JSON on argv[1]."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from firmware_config.signing import load_public_key
from kiosk.config import ConfigAgent
from kiosk.heartbeat import Heartbeat, disk_free_mb
from protocols import messages as m
from protocols.mqtt import MqttEndpoint, Presence, Tls, unique_client_id
from protocols.topics import Kind, Topics


def main() -> None:
    args = json.loads(sys.argv[1])
    sid, topics = args["sid"], Topics()
    creds = json.loads(Path(args["credentials"]).read_text())
    holder: dict = {}

    def status(state=m.Availability.ONLINE) -> bytes:
        agent = holder.get("agent")
        return m.encode(
            m.StationStatus(
                state=state,
                software="test",
                config_version=agent.version if agent else 0,
                outbox_pending=0,
                disk_free_mb=disk_free_mb(args["state"]),
            )
        )

    endpoint = MqttEndpoint(
        args["url"],
        unique_client_id(f"kiosk-{sid}"),
        tls=Tls(ca_file=args["ca"]),
        username=creds["username"],
        password=creds["password"],
        presence=Presence(
            topics.station(Kind.STATION_STATUS, sid),
            online=status(),
            offline=status(m.Availability.OFFLINE),
            stopped=status(m.Availability.STOPPED),
        ),
        subscriptions=[(topics.station(Kind.CONFIG, sid), 1)],
        on_message=lambda msg: holder["agent"].handle(bytes(msg.payload)),
    )
    holder["agent"] = ConfigAgent(
        sid,
        args["state"],
        load_public_key(Path(args["key"])),
        lambda topic, payload: endpoint.publish(topic, payload, qos=1, retain=True),
    )
    endpoint.start()
    beat = Heartbeat(
        endpoint,
        sid,
        lambda: m.decode(Kind.STATION_STATUS, status()).data,
        interval=args["interval"],
    ).start()
    print("ready", flush=True)
    for line in sys.stdin:  # "pause" stops heartbeats but keeps the connection
        if line.strip() == "pause":
            beat.stop()
    threading.Event().wait()


if __name__ == "__main__":
    main()
