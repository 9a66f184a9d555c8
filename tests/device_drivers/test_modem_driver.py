"""The real GSM modem driver against the modem simulator on a pseudo-terminal."""

from __future__ import annotations

import argparse
import logging

import pytest
from smspdudecoder.easy import read_outgoing_sms

from device_drivers import cli as device_cli
from device_drivers.base import (
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    ProtocolError,
    create_driver,
)
from device_drivers.modem.driver import (
    MSG_NO_SIM,
    MSG_PIN,
    InvalidNumber,
    NetworkError,
    SimError,
    SmsRejected,
)
from device_drivers.modem.sim import ModemSimulator

PHONE = "13800138000"
NOTICE = "您好，您在张村便民服务站提交的城乡居民养老保险参保登记已受理，回执号411381100200-000007。"


@pytest.fixture
def sim():
    with ModemSimulator() as s:
        yield s


def make_modem(port: str, **kw):
    settings = {"command_timeout": 1.0, "send_timeout": 2.0, "retry_delay": 0.01}
    settings.update(kw)
    return create_driver("modem", "at", port=port, **settings)


@pytest.fixture
def records():
    return []


@pytest.fixture
def modem(sim, records):
    m = make_modem(sim.port, on_record=records.append)
    yield m
    m.close()


def test_initialises_then_sends_one_ucs2_message(sim, modem, records):
    refs = modem.send(PHONE, NOTICE)
    assert len(refs) == 1
    assert sim.commands[:5] == ["AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0"]
    assert sim.commands[5].startswith("AT+CMGS=")
    out = read_outgoing_sms(sim.raw_pdus[0])
    assert out == {"recipient": "+8613800138000", "content": NOTICE}
    [record] = records
    assert record.ok and record.refs == refs and record.parts == 1 and record.attempts == 1
    assert record.to == "138****8000"


def test_long_message_goes_in_parts_and_reassembles_exactly(sim, modem, records):
    text = "办" * 66 + "𠀾" + NOTICE * 3  # the surrogate pair sits on the first boundary
    refs = modem.send("+8613800138000", text)
    assert len(refs) == len(set(refs)) == len(sim.raw_pdus) == 4  # 68 + 3 × 54 units
    assert "".join(read_outgoing_sms(p)["content"] for p in sim.raw_pdus) == text
    assert sim.texts() == [("+8613800138000", text)]
    assert records[-1].parts == 4 and records[-1].refs == refs


def test_two_long_messages_use_different_concatenation_references(sim, modem):
    modem.send(PHONE, "甲" * 80)
    modem.send(PHONE, "乙" * 80)
    assert {s.concat[0] for s in sim.sent if s.concat}.__len__() == 2
    assert [t for _, t in sim.texts()] == ["甲" * 80, "乙" * 80]


def test_national_format_and_status_report_when_configured(sim):
    m = make_modem(sim.port, international=False, status_report=True)
    try:
        m.send(PHONE, "测试")
    finally:
        m.close()
    [sent] = sim.sent
    assert (sent.number, sent.toa, sent.status_report) == (PHONE, 0xA1, True)


def test_unsolicited_codes_between_responses_do_not_confuse_the_parser(sim, records):
    urcs = []
    sim.set_fault("urc_noise")
    m = make_modem(sim.port, on_urc=urcs.append, on_record=records.append)
    try:
        refs = m.send(PHONE, NOTICE * 2)
        assert m.health().state == "ok"
    finally:
        m.close()
    assert len(refs) == 2 and sim.texts() == [("+8613800138000", NOTICE * 2)]
    assert any(u.startswith("+CMTI:") for u in urcs) and "RING" in urcs
    assert any(u.startswith("+CDS:") for u in urcs)
    assert not any(u.startswith("0006") for u in urcs)  # the +CDS PDU line is not a URC


def test_urc_arriving_while_idle_is_delivered_on_the_next_command(sim, records):
    urcs = []
    m = make_modem(sim.port, on_urc=urcs.append)
    try:
        m.open()
        sim.urc(b'+CMTI: "SM",7')
        m.send(PHONE, "测试")
    finally:
        m.close()
    assert '+CMTI: "SM",7' in urcs
    assert len(sim.sent) == 1


def test_missing_sim_is_a_plain_sim_error_and_recorded(sim, modem, records):
    sim.set_fault("sim_missing")
    with pytest.raises(SimError) as caught:
        modem.send(PHONE, NOTICE)
    assert caught.value.message == MSG_NO_SIM
    assert records[-1].error == MSG_NO_SIM and records[-1].error_code == "CME 10"
    assert sim.sent == []


def test_sim_pin_required_says_how_to_fix_it(sim, modem):
    sim.set_fault("sim_pin")
    with pytest.raises(SimError) as caught:
        modem.send(PHONE, NOTICE)
    assert caught.value.message == MSG_PIN
    assert "AT+CMGS" not in " ".join(sim.commands)


def test_network_rejection_is_not_retried(sim, modem, records):
    sim.set_fault("reject")
    with pytest.raises(SmsRejected) as caught:
        modem.send(PHONE, NOTICE)
    assert "欠费" in caught.value.message
    assert records[-1].attempts == 1 and records[-1].error_code == "CMS 21"


def test_no_network_is_retried_then_reported(sim, modem, records):
    sim.set_fault("no_network")
    health = modem.health()
    assert (health.state, health.code) == ("fault", "no_network")
    with pytest.raises(NetworkError):
        modem.send(PHONE, NOTICE)
    assert records[-1].attempts == 3 and records[-1].error_code == "CMS 331"


def test_transient_errors_on_a_part_are_retried_until_it_goes(sim, modem, records):
    sim.set_fault("flaky")  # the next two sends fail with +CMS ERROR: 500
    refs = modem.send(PHONE, NOTICE)
    assert len(refs) == 1 and len(sim.sent) == 1
    assert records[-1].ok and records[-1].attempts == 3


def test_garbage_from_the_modem_is_a_protocol_error(sim, modem):
    sim.set_fault("garbage")
    with pytest.raises(ProtocolError) as caught:
        modem.send(PHONE, NOTICE)
    assert "波特率" in caught.value.message


def test_silent_modem_times_out_with_a_plain_message(sim, records):
    sim.set_fault("silent")
    m = make_modem(sim.port, command_timeout=0.3, retries=1, on_record=records.append)
    try:
        with pytest.raises(DeviceTimeout) as caught:
            m.send(PHONE, NOTICE)
        assert "短信猫没有响应" in caught.value.message
        assert m.health().state == "offline"
    finally:
        m.close()
    assert records[-1].error_code == "timeout"


def test_silence_in_the_middle_of_a_send_is_retried_after_cancelling(sim, records):
    m = make_modem(sim.port, send_timeout=0.3, on_record=records.append)
    original = sim._submit
    calls = []

    def swallow_first(pdu, length):
        calls.append(pdu)
        if len(calls) > 1:
            original(pdu, length)

    sim._submit = swallow_first
    try:
        refs = m.send(PHONE, NOTICE)
    finally:
        m.close()
    assert len(refs) == 1 and len(calls) == 2
    assert records[-1].attempts == 2


def test_unplugged_modem_fails_plainly_and_works_again_after_replug(port_link, records):
    with ModemSimulator(link=port_link) as s:
        m = make_modem(port_link, retries=0, on_record=records.append)
        try:
            m.send(PHONE, "第一条")
            s.unplug()
            with pytest.raises(DeviceUnavailable) as caught:
                m.send(PHONE, "第二条")
            assert "连接线" in caught.value.message
            s.replug()
            m.send(PHONE, "第三条")
        finally:
            m.close()
        assert [t for _, t in s.texts()] == ["第一条", "第三条"]
    assert [r.ok for r in records] == [True, False, True]


def test_invalid_number_is_refused_before_anything_is_sent(sim, modem, records):
    with pytest.raises(InvalidNumber) as caught:
        modem.send("138-abc", NOTICE)
    assert caught.value.message == "手机号码不正确，请核对后重新填写"
    assert sim.commands == [] and records[-1].parts == 0


def test_phone_numbers_never_reach_logs_or_records_unmasked(sim, modem, records, caplog):
    caplog.set_level(logging.DEBUG)
    modem.send(PHONE, NOTICE)
    sim.set_fault("reject")
    with pytest.raises(SmsRejected):
        modem.send("+86" + PHONE, NOTICE)
    assert PHONE not in caplog.text and "13800138000" not in repr(records)
    assert "138****8000" in caplog.text


def _devices(argv):
    parser = argparse.ArgumentParser()
    device_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_sms_command_sends_and_prints_a_masked_summary(sim, capsys):
    code = _devices(["devices", "sms", "--port", sim.port, "--to", PHONE, "--text", NOTICE])
    assert code == 0
    assert sim.texts() == [("+8613800138000", NOTICE)]
    out = capsys.readouterr().out
    assert "138****8000" in out and PHONE not in out


def test_sms_command_reports_a_missing_sim_plainly(capsys):
    with ModemSimulator(fault="sim_missing") as s:
        assert _devices(["devices", "sms", "--port", s.port, "--to", PHONE, "--text", "x"]) == 1
    assert MSG_NO_SIM in capsys.readouterr().out


def test_empty_text_is_refused_with_a_plain_message(sim, modem, records):
    with pytest.raises(DeviceError) as caught:
        modem.send(PHONE, "")
    assert caught.value.message == "短信内容为空或太长，请检查短信内容"
    assert records[-1].error_code == "invalid_text" and sim.sent == []


def test_status_reports_are_matched_to_the_parts_they_confirm(sim, records):
    reports = []
    m = make_modem(
        sim.port, status_report=True, on_record=records.append, on_status_report=reports.append
    )
    try:
        refs = m.send(PHONE, "办" * 100)  # two parts, two reports
        m.poll(0.3)  # the last report arrives after the last +CMGS
    finally:
        m.close()
    assert sorted(r.reference for r in reports) == sorted(refs)
    assert all(r.delivered and r.final and r.number == "+86" + PHONE for r in reports)
    assert records[-1].reports == dict.fromkeys(refs, 0)
    assert "AT+CNMI=2,1,0,1,0" in sim.commands  # reports routed to the serial port
