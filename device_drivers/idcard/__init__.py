"""Resident ID-card reader: GA/T 467 SAM protocol, driver, card watcher and simulator."""

from device_drivers.idcard.driver import CardWatcher, IdCardError, SamReader
from device_drivers.idcard.protocol import IdCard, encode_request, parse_response

__all__ = [
    "CardWatcher",
    "IdCard",
    "IdCardError",
    "SamReader",
    "encode_request",
    "parse_response",
]
