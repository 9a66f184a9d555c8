"""The document camera (高拍仪): UVC driver, synthetic camera, document pipeline, codes.

Importing the package registers the `camera` driver types `uvc` and `synthetic`.
"""

from device_drivers.camera import synthetic, uvc  # noqa: F401  (registers the types)
