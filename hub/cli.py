"""`cunban hub …`: run the hub; issue API tokens."""

from __future__ import annotations

import sys

from protocols.topics import DEFAULT_ROOT


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def _run(args) -> int:
    from hub.crypto import DataKeyError
    from hub.runner import HubAlreadyRunning, run_hub

    host, port = _host_port(args.http)
    notifier = None
    if args.sms_modem:
        from device_drivers.base import create_driver

        # The modem's send(to, text) is the Notifier interface; the dispatcher retries.
        notifier = create_driver("modem", "at", port=args.sms_modem, retries=0)
    try:
        mqtt = args.mqtt
        if args.mqtt_credentials:
            from hub.fleet.broker import with_credentials

            mqtt = with_credentials(mqtt, args.mqtt_credentials)
        return run_hub(args.data, mqtt, host, port, root=args.root,
                       batch_size=args.batch_size, notifier=notifier, cipher=args.cipher)
    except HubAlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 3
    except DataKeyError as exc:
        print(exc.message, file=sys.stderr)
        return 4


def _token(args) -> int:
    from hub.auth import TokenAuth
    from hub.runner import DataDir

    try:
        token = TokenAuth(DataDir(args.data).tokens).issue(args.name, args.role,
                                                           args.department)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(token)
    return 0


def register(sub) -> None:
    hub = sub.add_parser("hub", help="运行县级中心（接收申请、分派部门、推送状态）")
    hub.add_argument("--data", default="var/hub", help="data directory (database, blobs)")
    hub.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", help="broker URL")
    hub.add_argument("--mqtt-credentials", help="hub-credentials.json from `cunban broker config`")
    hub.add_argument("--http", default="127.0.0.1:8080", help="HOST:PORT for the web API")
    hub.add_argument("--root", default=DEFAULT_ROOT, help="MQTT topic root")
    hub.add_argument("--batch-size", type=int, default=500, help="messages per commit")
    hub.add_argument("--cipher", choices=("aes-gcm", "sm4-gcm"), default="aes-gcm",
                     help="algorithm for personal data at rest, fixed when DATA/keys/data.key "
                          "is created (sm4-gcm: GB/T 32907)")
    hub.add_argument("--sms-modem", help="serial port of a GSM modem (default: SMS spool file)")
    hub.set_defaults(func=_run)
    hub_sub = hub.add_subparsers(dest="hub_command")
    token = hub_sub.add_parser("token", help="issue an API token for an officer or technician")
    token.add_argument("--data", default="var/hub")
    token.add_argument("--name", required=True)
    token.add_argument("--role", required=True)
    token.add_argument("--department")
    token.set_defaults(func=_token)
