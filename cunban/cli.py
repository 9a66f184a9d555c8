"""`cunban <command> …`: each package contributes its commands through `register(sub)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from protocols.memory import keep_freed_memory

# Each module exposes `register(subparsers)` adding its top-level command(s); the handler
# is stored as `func` on the parsed namespace and returns the process exit code.
COMMAND_MODULES = (
    "cunban.protocol_cli",
    "hub.cli",
    "hub.web.cli",
    "hub.catalog.cli",
    "kiosk.cli",
    "device_drivers.cli",
    "hub.fleet.cli",
    "hub.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cunban", description="村办 Cunban — 办事不出村")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING …")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # python-escpos configures logging when it is imported
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
