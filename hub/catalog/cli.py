"""`cunban catalog check|show|diff`: the maintainers' tool for the catalog data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hub.catalog.loader import load_catalog
from protocols.catalog import (
    POWER_TYPES,
    CatalogError,
    CatalogSnapshot,
    UnknownItem,
    diff,
    is_item_code,
)


def register(sub) -> None:
    """Add `catalog` with its subcommands to the top-level `cunban` parser."""
    catalog = sub.add_parser("catalog", help="政务服务事项目录：校验、查看、比较")
    commands = catalog.add_subparsers(dest="catalog_command", required=True)

    check = commands.add_parser("check", help="校验目录数据，列出全部问题")
    check.add_argument(
        "--path", type=Path, default=None, help="目录数据文件夹（默认：随软件发布的目录）"
    )
    check.set_defaults(func=_check)

    show = commands.add_parser("show", help="以 JSON 显示一个事项")
    show.add_argument("code", help="事项编码，如 GG00101000")
    show.add_argument("--path", type=Path, default=None, help="目录数据文件夹")
    show.set_defaults(func=_show)

    compare = commands.add_parser("diff", help="比较两个版本：新增、停用、修改的事项")
    compare.add_argument("old", type=Path, help="旧版本目录数据文件夹")
    compare.add_argument("new", type=Path, help="新版本目录数据文件夹")
    compare.set_defaults(func=_diff)


def _report(error: CatalogError, where: str) -> int:
    print(f"{where}有 {len(error.problems)} 个问题，请逐条改正后重新校验：", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _check(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.path)
    except CatalogError as exc:
        return _report(exc, "目录数据")
    active = sum(1 for i in catalog.items if i.status == "active")
    size = len(CatalogSnapshot.from_catalog(catalog).model_dump_json().encode("utf-8"))
    kinds: dict[str, int] = {}
    for item in catalog.items:
        name = POWER_TYPES[item.power_type]
        kinds[name] = kinds.get(name, 0) + 1
    print(f"目录校验通过：版本 {catalog.version}，{catalog.published} 起施行")
    print(f"  事项 {len(catalog.items)} 个（在用 {active}，已停用 {len(catalog.items) - active}）")
    print(f"  部门 {len(catalog.departments)} 个，分组 {len(catalog.groups)} 个")
    print("  权力类型：" + "，".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"  快照 {size} 字节")
    print(f"  哈希 {catalog.hash}")
    return 0


def _show(args: argparse.Namespace) -> int:
    if not is_item_code(args.code):
        print(f"“{args.code}”不是有效的事项编码（例如 GG00101000），请核对后重试", file=sys.stderr)
        return 2
    try:
        item = load_catalog(args.path).item(args.code)
    except CatalogError as exc:
        return _report(exc, "目录数据")
    except UnknownItem as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(json.dumps(item.model_dump(mode="json"), ensure_ascii=False, indent=2))
    return 0


def _diff(args: argparse.Namespace) -> int:
    loaded = []
    for label, path in (("旧目录", args.old), ("新目录", args.new)):
        try:
            loaded.append(load_catalog(path))
        except CatalogError as exc:
            return _report(exc, f"{label} {path} ")
    old, new = loaded
    try:
        change = diff(old, new)
    except CatalogError as exc:
        return _report(exc, "新目录相对旧目录")
    names = {i.code: i.name for i in new.items}
    print(f"目录 {change.old_version} → {change.new_version}")
    for label, codes in (
        ("新增", change.added),
        ("停用", change.removed),
        ("修改", change.modified),
    ):
        print(f"{label} {len(codes)} 个")
        for code in codes:
            print(f"  {code} {names[code]}")
    return 0
