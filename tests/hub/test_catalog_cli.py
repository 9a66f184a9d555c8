"""`cunban catalog check|show|diff`: exit codes and what the maintainer reads."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import yaml

from hub.catalog import DATA_DIR, load_catalog
from hub.catalog.cli import register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cunban")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def copy_data(tmp_path: Path, name: str = "data") -> Path:
    target = tmp_path / name
    shutil.copytree(DATA_DIR, target, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return target


def edit(file: Path, change) -> None:
    data = yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)  # noqa: S506
    change(data)
    file.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, allow_unicode=True), "utf-8")


def test_check_of_the_shipped_catalog_prints_a_summary_and_exits_0(capsys):
    catalog = load_catalog()
    assert run(["catalog", "check"]) == 0
    out = capsys.readouterr().out
    assert f"版本 {catalog.version}" in out
    assert f"哈希 {catalog.hash}" in out
    assert f"事项 {len(catalog.items)} 个" in out
    assert f"部门 {len(catalog.departments)} 个" in out


def test_check_prints_every_problem_with_its_path_and_exits_1(tmp_path, capsys):
    directory = copy_data(tmp_path)

    def spoil(data):
        data["items"][0]["materials"][2]["count"] = 0
        data["items"][1]["department"] = "NOPE"

    edit(directory / "shebao_yibao.yaml", spoil)
    assert run(["catalog", "check", "--path", str(directory)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "目录数据有 2 个问题，请逐条改正后重新校验："
    assert lines[1].strip() == (
        "shebao_yibao.yaml: items[GG00101000].materials[2].count: 不能小于 1（填的是 0）"
    )
    assert lines[2].strip().startswith("shebao_yibao.yaml: items[GG00100000].department:")


def test_show_prints_the_item_as_json(capsys):
    assert run(["catalog", "show", "GG00102000"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "城乡居民医保医疗费用手工（零星）报销"
    assert shown["fee"]["amount_yuan"] == "0.00"
    assert [c["code"] for c in shown["categories"]] == ["inpatient", "chronic", "offsite"]


def test_show_of_an_unknown_or_malformed_code_says_so(capsys):
    assert run(["catalog", "show", "GG99999999"]) == 1
    assert "没有编码为 GG99999999 的事项" in capsys.readouterr().err
    assert run(["catalog", "show", "低保"]) == 2
    assert "不是有效的事项编码" in capsys.readouterr().err


def test_diff_lists_added_retired_and_modified_items(tmp_path, capsys):
    old = copy_data(tmp_path, "old")
    new = copy_data(tmp_path, "new")
    edit(new / "catalog.yaml", lambda d: d.update(version="2027.1.1"))

    def change(data):
        by_code = {i["code"]: i for i in data["items"]}
        by_code["JF01003000"]["status"] = "retired"
        by_code["JF01004000"]["promised_days"] = 10

    edit(new / "minzheng_canlian_tuiyi.yaml", change)
    assert run(["catalog", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "目录 2026.11.1 → 2027.1.1",
        "新增 0 个",
        "停用 1 个",
        "  JF01003000 临时救助",
        "修改 1 个",
        "  JF01004000 80周岁以上老年人高龄津贴",
    ]


def test_diff_refuses_a_deleted_item_and_exits_1(tmp_path, capsys):
    old = copy_data(tmp_path, "old")
    new = copy_data(tmp_path, "new")
    edit(new / "catalog.yaml", lambda d: d.update(version="2027.1.1"))
    edit(new / "minzheng_canlian_tuiyi.yaml", lambda d: d["items"].pop(0))
    assert run(["catalog", "diff", str(old), str(new)]) == 1
    err = capsys.readouterr().err
    assert "items[JF01001000]: 事项“城乡最低生活保障”在新目录中被删除" in err


def test_diff_reports_a_broken_side_by_its_folder(tmp_path, capsys):
    old = copy_data(tmp_path, "old")
    assert run(["catalog", "diff", str(old), str(tmp_path / "missing")]) == 1
    assert "新目录" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["catalog"], ["catalog", "show"]])
def test_incomplete_commands_are_usage_errors(argv):
    with pytest.raises(SystemExit) as exc:
        run(argv)
    assert exc.value.code == 2


def test_the_cunban_command_line_offers_catalog(capsys):
    from cunban.cli import main

    assert main(["catalog", "check"]) == 0
    assert "目录校验通过" in capsys.readouterr().out
