"""The technician-facing kiosk configuration: schema, formats, hardware profiles, checks.

from firmware_config import KioskConfig, load_config
config = load_config("kiosk.yaml")       # raises ConfigError listing every problem
"""

from firmware_config.loader import (
    ConfigError,
    Problem,
    cross_check,
    load_config,
    migrate,
    parse_config,
    profiles,
)
from firmware_config.schema import FORMAT_VERSION, KioskConfig

__all__ = [
    "FORMAT_VERSION",
    "ConfigError",
    "KioskConfig",
    "Problem",
    "cross_check",
    "load_config",
    "migrate",
    "parse_config",
    "profiles",
]
