"""The kiosk configuration schema: every error with its path, cross-device checks,
format migrations, hardware profiles, and agreement with the driver registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel

import device_drivers.camera  # noqa: F401  (registers the camera types)
import device_drivers.idcard  # noqa: F401
import device_drivers.printer  # noqa: F401
import device_drivers.scanner  # noqa: F401
from device_drivers.base import _REGISTRY
from firmware_config import ConfigError, KioskConfig, load_config, migrate, parse_config, profiles
from firmware_config.schema import SIMULATES, Devices
from hub.catalog.loader import load_catalog

BASE = {
    "format": 2,
    "station": {"id": "411381101201", "name": "关庄村便民服务站", "town": "构林镇"},
    "hub": {"url": "https://hub.example.cn"},
    "broker": {"url": "mqtts://mqtt.example.cn:8883"},
    "tls": {"ca_file": "/etc/cunban/ca.pem", "credentials_file": "/etc/cunban/mqtt.json"},
    "devices": {
        "idcard": {"type": "sam", "port": "/dev/ttyUSB0"},
        "camera": {"type": "uvc", "device": 0},
        "scanner": {"type": "serial", "port": "/dev/ttyUSB1"},
        "printer": {"type": "escpos-serial", "port": "/dev/ttyUSB2"},
    },
}


def with_(path: str, value):
    raw = json.loads(json.dumps(BASE))
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return raw


def problems(raw, **kw) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, **kw)
    return {p.path: p.message for p in info.value.problems}


def test_a_complete_configuration_validates_with_defaults_from_the_schema():
    config = parse_config(BASE)
    assert isinstance(config, KioskConfig)
    assert config.devices.idcard.baudrate == 115200
    assert config.devices.printer.font_set == "gb18030"
    assert config.ui.languages == ["zh_CN"]
    assert config.broker.heartbeat_interval == 30


def test_every_field_of_every_model_has_a_description():
    seen, missing = set(), []

    def walk(model: type[BaseModel]):
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            for arg in _models_in(field.annotation):
                walk(arg)

    walk(KioskConfig)
    assert len(seen) > 15
    assert missing == []


def _models_in(annotation):
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def test_unknown_keys_are_refused_with_their_path():
    raw = with_("devices.printer.colour", "red")
    assert problems(raw) == {"devices.printer.colour": "不认识的设置项（拼写错误或已删除）"}


def test_every_error_is_reported_at_once_with_its_path():
    raw = with_("devices.scanner.baudrate", 9601)
    raw["station"]["id"] = "4113811012"
    raw["ui"] = {"idle_timeout": 5}
    found = problems(raw)
    assert set(found) == {"devices.scanner.baudrate", "station.id", "ui.idle_timeout"}
    assert "9600" in found["devices.scanner.baudrate"]


def test_an_unknown_device_type_names_the_types_that_exist():
    found = problems(with_("devices.printer", {"type": "laser", "port": "/dev/lp0"}))
    assert "escpos-serial" in found["devices.printer"]


def test_two_devices_on_one_port_are_refused():
    found = problems(with_("devices.scanner.port", "/dev/ttyUSB0"))
    assert list(found) == ["devices.scanner.port"]
    assert "devices.idcard" in found["devices.scanner.port"]


def test_a_service_needing_photographs_without_a_camera_is_refused():
    catalog = load_catalog()
    needs_photo = next(i for i in catalog.items if any(not m.from_id_card for m in i.materials))
    raw = with_("devices.camera", None)
    raw["services"] = {"offered": [needs_photo.code], "photo_materials": False}
    found = problems(raw, catalog=catalog)
    assert list(found) == ["services.offered[0]"]
    assert needs_photo.code in found["services.offered[0]"]
    raw["devices"]["camera"] = {"type": "synthetic"}
    parse_config(raw, catalog=catalog)


def test_a_service_not_in_the_catalog_is_refused():
    raw = with_("services", {"offered": ["ZZ99999999"]})
    assert list(problems(raw, catalog=load_catalog())) == ["services.offered[0]"]


def test_photographing_materials_needs_a_camera_and_receipts_a_printer():
    raw = with_("devices.camera", None)
    raw["devices"].pop("printer")
    assert set(problems(raw)) == {"services.photo_materials", "services.print_receipts"}


def test_an_unencrypted_link_to_a_remote_broker_is_refused_but_loopback_is_allowed():
    assert "broker.url" in problems(with_("broker.url", "mqtt://mqtt.example.cn:1883"))
    parse_config(with_("broker.url", "mqtt://127.0.0.1:1883"))
    assert "tls.ca_file" in problems(with_("tls.ca_file", None))


def test_peripheral_settings_must_agree_with_the_driver_settings():
    raw = with_("devices.scanner.internal", {"suffix": "LF"})
    raw["devices"]["printer"]["internal"] = {"code_page": "gbk", "density": 9}
    found = problems(raw)
    assert set(found) == {"devices.printer.internal.density"}
    raw["devices"]["printer"]["internal"]["density"] = 5
    assert set(problems(raw)) == {
        "devices.scanner.internal.suffix",
        "devices.printer.internal.code_page",
    }


def test_a_format_1_file_is_migrated_to_the_current_format():
    old = {
        "station_id": "411381101201",
        "station_name": "关庄村",
        "town": "构林镇",
        "hub_url": "https://hub.example.cn",
        "broker_url": "mqtts://mqtt.example.cn",
        "ca_file": "/etc/cunban/ca.pem",
        "devices": [
            {"kind": "printer", "type": "escpos-usb"},
            {"kind": "camera", "type": "synthetic"},
        ],
    }
    assert migrate(old)["format"] == 2
    config = parse_config(old)
    assert config.station.town == "构林镇"
    assert config.devices.printer.device == "/dev/usb/lp0"
    assert config.devices.camera.type == "synthetic"


def test_a_removed_option_says_what_replaced_it():
    found = problems(with_("ui.screensaver", 60))
    assert "ui.idle_timeout" in found["ui.screensaver"]


def test_an_unknown_format_is_refused():
    assert "format" in problems(with_("format", 7))


def test_a_hardware_profile_fills_in_settings_and_the_file_overrides_it():
    raw = with_("devices.printer", {"profile": "xprinter-xp80", "font_set": "gbk"})
    printer = parse_config(raw).devices.printer
    assert (printer.type, printer.width_mm, printer.font_set) == ("escpos-usb", 80, "gbk")
    assert printer.profile == "xprinter-xp80"


def test_a_profile_for_another_slot_or_unknown_is_refused():
    assert "devices.camera.profile" in problems(
        with_("devices.camera", {"profile": "gprinter-gp58"})
    )
    assert "devices.camera.profile" in problems(with_("devices.camera", {"profile": "nonesuch"}))


def test_every_hardware_profile_is_a_valid_device_of_its_slot():
    for name, profile in profiles().items():
        device = Devices.model_validate({profile["slot"]: _with_port(profile["settings"])})
        assert getattr(device, profile["slot"]) is not None, name


def _with_port(settings: dict) -> dict:
    return (
        {**settings, "port": "/dev/ttyS0"}
        if settings["type"] in ("sam", "serial", "escpos-serial")
        else settings
    )


def test_schema_device_types_are_exactly_the_registered_driver_types_plus_simulators():
    schema_types = set()
    for slot, field in Devices.model_fields.items():
        for model in _models_in(field.annotation):
            t = model.model_fields["type"].annotation.__args__[0]
            kind_type = (model.kind, SIMULATES.get(t, t))
            assert kind_type in _REGISTRY, f"{slot}: {t} has no driver"
            schema_types.add(kind_type)
    registered = {k for k in _REGISTRY if k[0] != "modem"}
    assert schema_types == registered


def test_driver_settings_construct_the_registered_driver(tmp_path):
    from device_drivers.base import create_driver

    config = parse_config(
        with_("devices.camera", {"type": "synthetic", "width": 640, "height": 480})
    )
    camera = config.devices.camera
    driver = create_driver(camera.kind, camera.driver_type, **camera.driver_settings())
    try:
        assert driver.read_frame().shape[:2] == (480, 640)
    finally:
        driver.close()


def test_config_validate_command_prints_every_error_with_its_path(tmp_path):
    raw = with_("devices.scanner.port", "/dev/ttyUSB0")
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(BASE), encoding="utf-8")
    run = [sys.executable, "-m", "cunban.cli", "config", "validate"]
    out = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "devices.scanner.port:" in out.stderr
    out = subprocess.run([*run, str(good)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "411381101201" in out.stdout
    assert load_config(good).station.id == "411381101201"
