"""GSM SMS modem on the hub (AT commands, PDU mode, UCS-2).

Importing the package registers the `modem` driver `at`.
"""

from device_drivers.modem.driver import GsmModem, SendRecord

__all__ = ["GsmModem", "SendRecord"]
