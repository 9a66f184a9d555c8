"""`cunban devices idcard` and `cunban sim idcard`, against the simulator on a pty."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import textwrap

import pytest
import yaml

from device_drivers.idcard import cli
from device_drivers.idcard.sim import IdCardSimulator

KEYS = {"name", "gender", "nation", "birth_date", "address", "id_number", "authority",
        "valid_from", "valid_to", "id_number_valid"}  # fmt: skip


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cunban")
    sub = parser.add_subparsers(dest="command", required=True)
    devices = sub.add_parser("devices").add_subparsers(dest="kind", required=True)
    cli.register_devices(devices)
    sims = sub.add_parser("sim").add_subparsers(dest="kind", required=True)
    cli.register_sim(sims)
    args = parser.parse_args(argv)
    return args.func(args)


def test_devices_idcard_prints_the_card_as_json(port_link, capsys):
    with IdCardSimulator(link=port_link) as sim:
        sim.place(2)
        code = run("devices", "idcard", "--port", sim.port, "--timeout", "1", "--json")
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == KEYS
    assert data == {
        "name": "李建国",
        "gender": "男",
        "nation": "汉",
        "birth_date": "1985-06-07",
        "address": "河南省邓州市构林镇冯营村二组7号",
        "id_number": "411381198506072019",
        "authority": "邓州市公安局",
        "valid_from": "2016-04-25",
        "valid_to": "2036-04-25",
        "id_number_valid": True,
    }


def test_devices_idcard_without_json_masks_the_person(port_link, capsys):
    with IdCardSimulator(link=port_link) as sim:
        code = run("devices", "idcard", "--port", sim.port, "--timeout", "1")
    out, _ = capsys.readouterr()
    assert code == 0
    assert "张*英" in out and "4113**********0025" in out
    assert "411381195203140025" not in out


def test_devices_idcard_exits_2_with_a_chinese_message_when_no_card(port_link, capsys):
    with IdCardSimulator(link=port_link, placed=False) as sim:
        code = run("devices", "idcard", "--port", sim.port, "--timeout", "0.3", "--json")
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "没有读到身份证" in err


def test_devices_idcard_reports_a_missing_port_in_words(tmp_path, capsys):
    code = run("devices", "idcard", "--port", str(tmp_path / "nothing"), "--timeout", "0.2")
    _, err = capsys.readouterr()
    assert code == 1 and "读卡器未连接" in err


SIM_SCRIPT = textwrap.dedent(
    """
    import argparse, sys
    from device_drivers.idcard import cli
    parser = argparse.ArgumentParser()
    cli.register_sim(parser.add_subparsers(dest="kind", required=True))
    args = parser.parse_args(sys.argv[1:])
    sys.exit(args.func(args))
    """
)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_sim_idcard_serves_cards_from_a_file_until_sigterm(tmp_path, capsys, suffix):
    card = {
        "name": "孙有福",
        "gender": "男",
        "nation": "汉族",
        "birth": "1960-02-29",
        "address": "河南省邓州市彭桥镇彭桥村",
        "id_number": "411381196002290013",
        "authority": "邓州市公安局",
        "valid_from": "2010-01-01",
        "valid_to": "长期",
    }
    cards = tmp_path / f"cards{suffix}"
    if suffix == ".json":
        text = json.dumps({"cards": [card]}, ensure_ascii=False)
    else:
        text = yaml.safe_dump([card], allow_unicode=True)
    cards.write_text(text, encoding="utf-8")
    link = str(tmp_path / "ttyID")
    proc = subprocess.Popen(
        [sys.executable, "-c", SIM_SCRIPT, "idcard", "--cards", str(cards), "--link", link],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == link
        code = run("devices", "idcard", "--port", link, "--timeout", "2", "--json")
        out, err = capsys.readouterr()
        assert code == 0, err
        data = json.loads(out)
        assert data["name"] == "孙有福" and data["birth_date"] == "1960-02-29"
        assert data["valid_to"] == "长期" and data["id_number_valid"] is True

        # The technician's console on standard input takes the card away, then breaks
        # the SAM.
        proc.stdin.write("remove\n")
        proc.stdin.flush()
        assert proc.stderr.readline().strip() == "已取走卡片"
        assert run("devices", "idcard", "--port", link, "--timeout", "0.3") == 2
        proc.stdin.write("fault sam_fault\n")
        proc.stdin.flush()
        assert "sam_fault" in proc.stderr.readline()
        assert run("devices", "idcard", "--port", link, "--timeout", "0.3") == 1
        assert "自检失败" in capsys.readouterr().err
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


def test_the_device_command_tree_discovers_idcard_and_scanner(port_link, capsys):
    from device_drivers import cli as device_cli

    parser = argparse.ArgumentParser(prog="cunban")
    device_cli.register(parser.add_subparsers(dest="command", required=True))
    assert parser.parse_args(["sim", "scanner", "--suffix", "lf"]).suffix == "LF"
    with IdCardSimulator(link=port_link) as sim:
        args = parser.parse_args(["devices", "idcard", "--port", sim.port, "--json"])
        assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "张秀英"
