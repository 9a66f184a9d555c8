"""Read the catalog from its YAML files and check it, collecting every problem.

Layout of a catalog directory (see docs/catalog.md):

    catalog.yaml      version, published, groups, departments
    <anything>.yaml   `items:` — the items of one department or department group

Every problem is reported, not just the first, each prefixed with its file and path
(`minzheng.yaml: items[JF00031000].materials[2].count: …`), so a maintainer fixes a
whole batch in one pass.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from protocols.catalog import (
    PATTERN_EXAMPLES,
    SNAPSHOT_MAX_BYTES,
    Catalog,
    CatalogError,
    CatalogHeader,
    CatalogSnapshot,
    ServiceItem,
    catalog_problems,
    item_problems,
)

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
HEADER_FILE = "catalog.yaml"


class _DuplicateKey(yaml.MarkedYAMLError):
    """A key written twice in one mapping: YAML would silently keep the last value."""


# libyaml's safe loader parses the catalog about ten times faster than the pure-Python one;
# both build plain Python values only.
class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _DuplicateKey(problem=str(key), problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and check the catalog in directory `path` (default: the packaged data).

    Raises `CatalogError` listing every problem found.
    """
    directory = Path(path) if path is not None else DATA_DIR
    problems: list[str] = []
    if not directory.is_dir():
        raise CatalogError([f"{directory}: 目录不存在，请指定存放目录数据的文件夹"])

    header = _read_yaml(directory / HEADER_FILE, problems)
    parsed_header: CatalogHeader | None = None
    if header is not None:
        parsed_header = _validate(CatalogHeader, header, "", HEADER_FILE, problems)

    item_files = sorted(p for p in directory.glob("*.yaml") if p.name != HEADER_FILE)
    if not item_files:
        problems.append(f"{directory}: 没有事项文件（除 {HEADER_FILE} 外的 *.yaml）")
    items: list[ServiceItem] = []
    origin: dict[str, str] = {}
    for file in item_files:
        content = _read_yaml(file, problems)
        if content is None:
            continue
        if not isinstance(content, dict) or set(content) != {"items"}:
            problems.append(f"{file.name}: 文件应只有一个键 items，其下列出事项")
            continue
        raw_items = content["items"]
        if not isinstance(raw_items, list):
            problems.append(f"{file.name}: items: 应为列表（每项以“- ”开头）")
            continue
        parsed = []
        for i, raw in enumerate(raw_items):
            code = raw.get("code") if isinstance(raw, dict) else None
            label = f"items[{code if isinstance(code, str) and code else i}]"
            item = _validate(ServiceItem, raw, label, file.name, problems)
            if item is not None:
                parsed.append(item)
        for item in parsed:
            if item.code in origin:
                problems.append(
                    f"{file.name}: items[{item.code}]: 事项编码重复，{origin[item.code]} 中已有"
                    "同一编码，每个编码只能用于一个事项"
                )
                continue
            origin[item.code] = file.name
            items.append(item)

    if parsed_header is not None:
        consistency = catalog_problems(parsed_header.departments, items, parsed_header.groups)
    else:
        # Without a valid header every item would be reported for an "unknown" department;
        # check what stands on its own and let the header problems speak for the rest.
        consistency = [p for item in items for p in item_problems(item)]
    for problem in consistency:
        where = origin.get(problem.item, HEADER_FILE) if problem.item else HEADER_FILE
        problems.append(f"{where}: {problem}")
    if not problems and not items:
        problems.append(f"{directory}: 目录中没有任何事项")
    if problems:
        raise CatalogError(problems)

    catalog = Catalog(**dict(parsed_header), items=items)
    size = len(CatalogSnapshot.from_catalog(catalog).model_dump_json().encode("utf-8"))
    if size > SNAPSHOT_MAX_BYTES:
        raise CatalogError(
            [
                f"{directory}: 目录快照 {size // 1024} KiB 超过 {SNAPSHOT_MAX_BYTES // 1024} KiB，"
                "村站网络下载太慢；请精简说明和备注文字"
            ]
        )
    logger.info("catalog %s loaded: %d items, hash %s", catalog.version, len(items), catalog.hash)
    return catalog


def _read_yaml(file: Path, problems: list[str]) -> Any:
    if not file.is_file():
        problems.append(f"{file.name}: 文件不存在，请创建它")
        return None
    try:
        content = yaml.load(file.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except UnicodeDecodeError:
        problems.append(f"{file.name}: 文件不是 UTF-8 编码，请另存为 UTF-8")
    except _DuplicateKey as exc:
        line = exc.problem_mark.line + 1
        problems.append(f"{file.name}: 第 {line} 行: 键 {exc.problem} 重复，同一层只能写一次")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        problems.append(
            f"{file.name}: {where}YAML 格式错误（{exc.__class__.__name__}），请检查缩进和冒号"
        )
    else:
        if content is None:
            problems.append(f"{file.name}: 文件是空的，请写入内容或删除该文件")
        return content
    return None


def _validate(model, raw: Any, prefix: str, file: str, problems: list[str]):
    """`model.model_validate(raw)`, or None with each error appended as `file: path: why`."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"{file}: {_path(prefix, error['loc'], raw)}: {explain(error)}")
    return None


def _path(prefix: str, loc: tuple, raw: Any) -> str:
    """Dotted path of a pydantic error location; departments are named by their code, as
    items are, because maintainers look them up by code rather than by position."""
    parts = [prefix] if prefix else []
    node = raw
    for part in loc:
        if isinstance(part, int):
            label = part
            if parts == ["departments"] and isinstance(node, list) and part < len(node):
                entry = node[part]
                if isinstance(entry, dict) and isinstance(entry.get("code"), str):
                    label = entry["code"]
            parts[-1] += f"[{label}]"
        else:
            parts.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return ".".join(parts) or "(文件)"


def explain(error: dict) -> str:
    """A pydantic error as a plain Chinese sentence saying what to write instead."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind == "missing":
        return "缺少必填项，请补上"
    if kind == "extra_forbidden":
        return "不认识的字段，请检查拼写（可用字段见 docs/catalog.md）"
    if kind == "string_type":
        hint = '；数字编码请加引号，如 "01"' if isinstance(given, int | float) else ""
        return f"应为文字{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "应为整数"
    if kind in ("bool_type", "bool_parsing"):
        return "应为 true 或 false"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}（填的是 {given}）"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}（填的是 {given}）"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        example = PATTERN_EXAMPLES.get(pattern)
        if example:
            return f"“{given}”格式不对，应写成 {example} 这样的形式（规则 {pattern}）"
        return f"“{given}”格式不对，应符合 {pattern}"
    if kind == "literal_error":
        return f"“{given}”不是可选值，应为以下之一：{ctx.get('expected')}"
    if kind == "string_too_short":
        return "不能为空"
    if kind == "too_short":
        return f"至少要有 {ctx.get('min_length')} 项"
    if kind == "list_type":
        return "应为列表（每项以“- ”开头）"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "应为键值对（字段: 值）"
    if kind.startswith("date"):
        return "应为日期，如 2026-11-01"
    if kind.startswith("decimal"):
        return '应为金额（元，最多两位小数），如 "10.00"'
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]
