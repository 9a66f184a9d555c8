"""Receipt printer (ESC/POS over serial or the USB printer class).

Importing the package registers the `printer` drivers `escpos-serial` and `escpos-usb`.
"""

from device_drivers.printer.driver import EscposPrinter, PaperOut
from device_drivers.printer.receipt import Receipt, build_receipt

__all__ = ["EscposPrinter", "PaperOut", "Receipt", "build_receipt"]
