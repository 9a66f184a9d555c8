"""The generated broker configuration on a real Mosquitto: a kiosk acts only as itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hub.fleet.registry import check_mosquitto_hash

A, B = "411381101201", "411381101202"


def kiosk(dep, clients, sid, password=None):
    s = dep.stations[sid]
    c = clients(dep.tls_port, s.username, password or s.password, ca=dep.ca)
    assert c.connect("localhost"), f"{sid} could not connect: {c.result}"
    return c


def hub(dep, clients):
    creds = dep.hub_credentials
    c = clients(dep.port, creds["username"], creds["password"])
    assert c.connect(), c.result
    return c


def test_the_generated_files_use_absolute_paths_and_keep_only_hashes(deployment):
    conf = (deployment.out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    for line in conf.splitlines():
        key, _, value = line.partition(" ")
        if key in (
            "password_file",
            "acl_file",
            "cafile",
            "certfile",
            "keyfile",
            "persistence_location",
            "pid_file",
        ):
            assert os.path.isabs(value), line
    passwords = (deployment.out / "passwords").read_text()
    station = deployment.stations[A]
    assert station.password not in passwords
    line = next(x for x in passwords.splitlines() if x.startswith(station.username + ":"))
    assert check_mosquitto_hash(station.password, line.split(":", 1)[1])
    assert oct((deployment.out / "passwords").stat().st_mode & 0o777) == "0o600"


def test_a_kiosk_subscribed_to_everything_receives_only_its_own_and_the_shared_topics(
    deployment, clients
):
    a = kiosk(deployment, clients, A)
    b = kiosk(deployment, clients, B)
    h = hub(deployment, clients)
    b.publish(f"cunban/station/{B}/status", b'{"b":1}', retain=True)
    a.subscribe("#")
    for sid in (A, B):
        h.publish(f"cunban/station/{sid}/application/ack", sid.encode())
        h.publish(f"cunban/station/{sid}/config", sid.encode(), retain=True)
    h.publish("cunban/catalog", b"catalog", retain=True)
    h.publish("cunban/hub/status", b"online", retain=True)
    got = a.drain(1.0)
    topics = sorted(t for t, _ in got)
    assert topics == sorted(
        [
            f"cunban/station/{A}/application/ack",
            f"cunban/station/{A}/config",
            "cunban/catalog",
            "cunban/hub/status",
        ]
    )


def test_a_kiosk_cannot_read_another_stations_topics_even_by_name(deployment, clients):
    a = kiosk(deployment, clients, A)
    h = hub(deployment, clients)
    a.subscribe(f"cunban/station/{B}/#")
    a.subscribe(f"cunban/station/{B}/application/status")
    h.publish(f"cunban/station/{B}/application/status", b"secret")
    h.publish(f"cunban/station/{B}/config", b"cfg", retain=True)
    assert a.drain(0.8) == []


def test_a_kiosk_cannot_forge_another_stations_messages_nor_the_hubs(deployment, clients):
    a = kiosk(deployment, clients, A)
    h = hub(deployment, clients)
    h.subscribe("cunban/#")
    a.publish(f"cunban/station/{B}/application/submit", b"forged")
    a.publish(f"cunban/station/{B}/status", b"forged", retain=True)
    a.publish(f"cunban/station/{A}/application/ack", b"self-ack")  # hub→kiosk direction
    a.publish("cunban/catalog", b"forged catalog", retain=True)
    a.publish("cunban/hub/status", b"offline", retain=True)
    a.publish(f"cunban/station/{A}/application/submit", b"genuine")
    got = h.drain(1.0)
    assert got == [(f"cunban/station/{A}/application/submit", b"genuine")]


def test_a_wrong_password_and_anonymous_access_are_refused(deployment, clients):
    s = deployment.stations[A]
    wrong = clients(deployment.tls_port, s.username, "not-the-password", ca=deployment.ca)
    assert not wrong.connect("localhost")
    assert wrong.result is not None and wrong.result.is_failure
    anon = clients(deployment.port, None, None)
    assert not anon.connect()
    assert anon.result is not None and anon.result.is_failure
    anon_tls = clients(deployment.tls_port, None, None, ca=deployment.ca)
    assert not anon_tls.connect("localhost")


def test_tls_needs_the_deployment_ca(deployment, clients, tmp_path):
    from hub.fleet.pki import init_pki

    other = init_pki(tmp_path / "other")
    s = deployment.stations[A]
    stranger = clients(deployment.tls_port, s.username, s.password, ca=str(other.ca_cert))
    assert not stranger.connect("localhost")
    assert kiosk(deployment, clients, A).connected.is_set()


def test_a_revoked_station_is_cut_off_without_a_broker_restart(deployment, clients):
    a = kiosk(deployment, clients, A)
    b = kiosk(deployment, clients, B)
    pid = deployment.proc.pid
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunban.cli",
            "fleet",
            "revoke",
            A,
            "--data",
            str(deployment.data),
            "--broker-dir",
            str(deployment.out),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert a.disconnected.wait(5), "revoked station still connected"
    assert deployment.proc.poll() is None and deployment.proc.pid == pid
    s = deployment.stations[A]
    again = clients(deployment.tls_port, s.username, s.password, ca=deployment.ca)
    assert not again.connect("localhost")
    time.sleep(0.2)
    assert not b.disconnected.is_set()
    h = hub(deployment, clients)
    b.subscribe(f"cunban/station/{B}/config")
    h.publish(f"cunban/station/{B}/config", b"still served")
    assert b.drain(0.6) == [(f"cunban/station/{B}/config", b"still served")]


def test_a_station_added_while_the_broker_runs_can_connect_after_reload(deployment, clients):
    import json

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunban.cli",
            "fleet",
            "add-station",
            "411381101203",
            "--name",
            "新村",
            "--data",
            str(deployment.data),
            "--broker-dir",
            str(deployment.out),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    new = json.loads(out.stdout)
    assert set(new) >= {"username", "password", "enrolment_token"}
    c = clients(deployment.tls_port, new["username"], new["password"], ca=deployment.ca)
    assert c.connect("localhost"), c.result


def test_the_commands_write_a_configuration_mosquitto_runs_from_anywhere(tmp_path, clients):
    import json

    from tests.support import free_port, wait_port

    data, out = tmp_path / "hub", tmp_path / "out"
    cli = [sys.executable, "-m", "cunban.cli"]
    for args in (["pki", "init", "--data", str(data), "--host", "mqtt.example.cn"],
                 ["fleet", "add-station", A, "--data", str(data), "--json"]):
        done = subprocess.run([*cli, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    station = json.loads(done.stdout)
    again = subprocess.run([*cli, "pki", "init", "--data", str(data)], capture_output=True,
                           text=True)
    assert again.returncode == 1  # an existing CA is never overwritten by accident
    port, tls_port = free_port(), free_port()
    done = subprocess.run([*cli, "broker", "config", "--data", str(data), "--out", str(out),
                           "--port", str(port), "--tls-port", str(tls_port)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert oct((out / "hub-credentials.json").stat().st_mode & 0o777) == "0o600"
    assert oct((data / "pki" / "ca.key").stat().st_mode & 0o777) == "0o600"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.Popen(["mosquitto", "-c", str(out / "mosquitto.conf")], cwd=elsewhere,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        wait_port(tls_port)
        c = clients(tls_port, station["username"], station["password"],
                    ca=str(data / "pki" / "ca.pem"))
        assert c.connect("localhost"), c.result
        hub_creds = json.loads((out / "hub-credentials.json").read_text())
        h = clients(port, hub_creds["username"], hub_creds["password"])
        assert h.connect(), h.result
    finally:
        proc.terminate()
        proc.wait(10)
