"""Fixed QR/barcode scanner module: line assembly, serial driver and simulator."""

from device_drivers.scanner.driver import SerialScanner
from device_drivers.scanner.protocol import LineAssembler, Rejected, decode_line

__all__ = ["LineAssembler", "Rejected", "SerialScanner", "decode_line"]
