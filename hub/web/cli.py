"""`cunban admin create-user …` and `cunban audit verify …`."""

from __future__ import annotations

import getpass
import sys


def _create_user(args) -> int:
    from hub.auth import Accounts
    from hub.db import migrate
    from hub.db.web import WebStore
    from hub.runner import DataDir

    if args.department:
        from hub.catalog import load_catalog

        known = {d.code for d in load_catalog().departments}
        if args.department not in known:
            print(f"部门编码 {args.department} 不在事项目录中，可用的有："
                  f"{'、'.join(sorted(known))}", file=sys.stderr)
            return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("密码（至少8个字符）：")
        if getpass.getpass("再输入一次：") != password:
            print("两次输入的密码不一样，请重新运行命令", file=sys.stderr)
            return 2
    data = DataDir(args.data)
    migrate(data.db)
    store = WebStore(data.db)
    try:
        Accounts(store).create_user(args.username, password, args.role,
                                    department=args.department, town=args.town,
                                    station=args.station, display_name=args.name)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"已创建用户 {args.username}（{args.role}）")
    return 0


def _verify(args) -> int:
    from hub import audit
    from hub.db import migrate
    from hub.db.web import WebStore
    from hub.runner import DataDir

    data = DataDir(args.data)
    migrate(data.db)
    store = WebStore(data.db)
    try:
        count, broken = audit.verify(store)
    finally:
        store.close()
    if broken is None:
        print(f"审计日志完好：{count} 条记录，哈希链连续")
        return 0
    print(f"审计日志在第 {broken.position} 条（id {broken.entry_id}）处断开：{broken.reason}",
          file=sys.stderr)
    return 1


def register(sub) -> None:
    from hub.auth import ROLES

    admin = sub.add_parser("admin", help="管理工作人员账号")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="创建工作人员账号（密码用 argon2 保存）")
    create.add_argument("--data", default="var/hub", help="hub data directory")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--department", help="department code (officer, head)")
    create.add_argument("--town", help="9-digit town division code (town officer)")
    create.add_argument("--station", help="12-digit station id (station officer)")
    create.add_argument("--name", help="display name (default: the user name)")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    create.set_defaults(func=_create_user)

    audit = sub.add_parser("audit", help="审计日志")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="检查审计日志的哈希链，报告第一个断点")
    verify.add_argument("--data", default="var/hub", help="hub data directory")
    verify.set_defaults(func=_verify)
