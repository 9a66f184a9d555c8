"""`cunban sim …` and `cunban devices …`: gathered from each driver subpackage.

Every subpackage of `device_drivers` that has a `cli` module with `register_sim(sub)` and/or
`register_devices(sub)` contributes its subcommands, so drivers are added without touching
this file.
"""

from __future__ import annotations

import importlib
import pkgutil

import device_drivers


def _driver_cli_modules():
    for info in sorted(pkgutil.iter_modules(device_drivers.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        try:
            yield importlib.import_module(f"device_drivers.{info.name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"device_drivers.{info.name}.cli":
                raise


def register(sub) -> None:
    sim = sub.add_parser("sim", help="设备模拟器：在伪终端上模拟外设（培训、测试、现场排障）")
    sim_sub = sim.add_subparsers(dest="sim_kind", required=True)
    devices = sub.add_parser("devices", help="外设诊断：读卡、打印测试、短信、扫码")
    dev_sub = devices.add_subparsers(dest="device_kind", required=True)
    for module in _driver_cli_modules():
        if hasattr(module, "register_sim"):
            module.register_sim(sim_sub)
        if hasattr(module, "register_devices"):
            module.register_devices(dev_sub)
