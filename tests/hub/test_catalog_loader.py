"""Bad catalogs written into temporary folders: every problem is reported, with its path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hub.catalog import load_catalog
from protocols.catalog import CatalogError

HEADER = {
    "version": "2026.11.1",
    "published": "2026-11-01",
    "groups": ["社保医保", "民政救助"],
    "departments": [
        {"code": "YBJ", "name": "邓州市医疗保障局", "short_name": "医保"},
        {"code": "MZJ", "name": "邓州市民政局", "short_name": "民政"},
    ],
}

REIMBURSE = {
    "code": "GG00102000",
    "name": "医疗费用报销",
    "department": "YBJ",
    "level": "county",
    "kind": "承诺件",
    "legal_days": 20,
    "promised_days": 10,
    "conditions": ["参加城乡居民医保并按时缴费。"],
    "categories": [
        {"code": "inpatient", "name": "住院"},
        {"code": "chronic", "name": "门诊慢特病"},
    ],
    "materials": [
        {"code": "M01", "name": "居民身份证", "form": "copy", "from_id_card": True},
        {"code": "M02", "name": "出院记录", "form": "copy", "categories": ["inpatient"]},
        {"code": "M03", "name": "门诊病历", "form": "copy", "categories": ["chronic"]},
    ],
    "form": [{"key": "hospital", "label": "就诊医院", "type": "text", "max_length": 40}],
    "fee": {"amount_yuan": "0", "basis": "不收费"},
    "legal_basis": ["《中华人民共和国社会保险法》第二十八条"],
    "power_type": "GG",
    "collect": ["station"],
    "category": "社保医保",
    "popularity": 1,
}

RELIEF = {
    "code": "JF01003000",
    "name": "临时救助",
    "department": "MZJ",
    "level": "town",
    "kind": "承诺件",
    "legal_days": 15,
    "promised_days": 10,
    "conditions": ["基本生活暂时出现严重困难的家庭。"],
    "materials": [{"code": "M01", "name": "居民身份证", "form": "copy", "from_id_card": True}],
    "fee": {"amount_yuan": "0", "basis": "不收费"},
    "legal_basis": ["《社会救助暂行办法》第四十七条"],
    "power_type": "05",
    "collect": ["station"],
    "category": "民政救助",
    "popularity": 2,
}


def write(directory: Path, header=None, files=None) -> Path:
    """A catalog folder: `catalog.yaml` plus one YAML file per entry of `files`."""
    directory.mkdir(parents=True, exist_ok=True)
    header = copy.deepcopy(HEADER) if header is None else header
    files = {"yibao.yaml": [REIMBURSE], "minzheng.yaml": [RELIEF]} if files is None else files
    (directory / "catalog.yaml").write_text(
        yaml.safe_dump(header, allow_unicode=True), encoding="utf-8"
    )
    for name, items in files.items():
        (directory / name).write_text(
            yaml.safe_dump({"items": copy.deepcopy(items)}, allow_unicode=True), encoding="utf-8"
        )
    return directory


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(CatalogError) as err:
        load_catalog(directory)
    assert str(err.value) == "\n".join(err.value.problems)
    return err.value.problems


def item(base: dict, **changes) -> dict:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


def test_the_minimal_catalog_loads(tmp_path):
    catalog = load_catalog(write(tmp_path))
    assert [i.code for i in catalog.items] == ["JF01003000", "GG00102000"]


def test_a_bad_material_count_is_reported_with_item_code_and_index(tmp_path):
    bad = item(REIMBURSE)
    bad["materials"][2]["count"] = 0
    problems = problems_of(write(tmp_path, files={"yibao.yaml": [bad]}))
    assert problems == ["yibao.yaml: items[GG00102000].materials[2].count: 不能小于 1（填的是 0）"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda i: i.pop("fee"), "items[GG00102000].fee: 缺少必填项，请补上"),
        (lambda i: i.update(colour="红"), "items[GG00102000].colour: 不认识的字段"),
        (
            lambda i: i.update(power_type=1),
            "items[GG00102000].power_type: 应为文字；数字编码请加引号",
        ),
        (lambda i: i.update(power_type="99"), "items[GG00102000].power_type: 权力类型“99”不存在"),
        (lambda i: i.update(kind="急办件"), "items[GG00102000].kind: “急办件”不是可选值"),
        (lambda i: i.update(materials=[]), "items[GG00102000].materials: 至少要有 1 项"),
        (lambda i: i.update(code="XK123"), "items[XK123].code: “XK123”格式不对"),
        (lambda i: i["materials"][0].update(form="scan"), "items[GG00102000].materials[0].form:"),
        (
            lambda i: i["fee"].update(amount_yuan="1.005"),
            "items[GG00102000].fee.amount_yuan: 应为金额",
        ),
        (
            lambda i: i["materials"][1].update(required="maybe"),
            "materials[1].required: 应为 true 或 false",
        ),
    ],
    ids=[
        "missing",
        "unknown field",
        "unquoted power type",
        "unknown power type",
        "unknown kind",
        "no materials",
        "bad code",
        "bad material form",
        "fee below the fen",
        "not a bool",
    ],
)
def test_field_problems_name_their_path_in_plain_chinese(tmp_path, change, expected):
    bad = item(REIMBURSE)
    change(bad)
    problems = problems_of(write(tmp_path, files={"yibao.yaml": [bad]}))
    assert len(problems) == 1, problems
    assert problems[0].startswith("yibao.yaml: ")
    assert expected in problems[0]


def test_duplicate_item_codes_across_files_name_both_files(tmp_path):
    twin = item(RELIEF, code="GG00102000", popularity=3)
    problems = problems_of(write(tmp_path, files={"a.yaml": [REIMBURSE], "b.yaml": [RELIEF, twin]}))
    assert problems == [
        "b.yaml: items[GG00102000]: 事项编码重复，a.yaml 中已有同一编码，每个编码只能用于一个事项"
    ]


def test_unknown_department_is_reported(tmp_path):
    problems = problems_of(write(tmp_path, files={"x.yaml": [item(RELIEF, department="CZJ")]}))
    assert len(problems) == 1
    assert problems[0].startswith("x.yaml: items[JF01003000].department: 部门编码 CZJ 不在")


def test_duplicate_material_codes_in_an_item_are_reported(tmp_path):
    bad = item(REIMBURSE)
    bad["materials"][2]["code"] = "M01"
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert problems == [
        "y.yaml: items[GG00102000].materials[2].code: 材料编码 M01 在本事项中重复，请改用新编码"
    ]


def test_promised_days_beyond_legal_days_are_reported(tmp_path):
    problems = problems_of(write(tmp_path, files={"y.yaml": [item(RELIEF, promised_days=16)]}))
    assert len(problems) == 1
    assert problems[0].startswith(
        "y.yaml: items[JF01003000].promised_days: 承诺时限 16 个工作日超过法定时限 15"
    )


def test_an_on_the_spot_item_with_promised_days_is_reported(tmp_path):
    bad = item(RELIEF, kind="即办件", legal_days=3, promised_days=2)
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert problems == [
        "y.yaml: items[JF01003000].promised_days: 即办件当场办结，承诺时限应为 0；"
        "需要时间办理的请改为承诺件"
    ]


def test_a_promised_item_without_promised_days_is_reported(tmp_path):
    problems = problems_of(write(tmp_path, files={"y.yaml": [item(RELIEF, promised_days=0)]}))
    assert len(problems) == 1 and "items[JF01003000].promised_days: 承诺件的承诺时限" in problems[0]


def test_a_material_category_that_is_not_defined_is_reported(tmp_path):
    bad = item(REIMBURSE)
    bad["materials"][1]["categories"] = ["inpatient", "outpatient"]
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert len(problems) == 1
    assert problems[0].startswith(
        "y.yaml: items[GG00102000].materials[1].categories[1]: 申请人类别 outpatient 未在本事项的"
    )


def test_a_category_on_an_item_without_categories_is_reported(tmp_path):
    bad = item(RELIEF)
    bad["materials"][0]["categories"] = ["inpatient"]
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert len(problems) == 1 and "（本事项未定义申请人类别）" in problems[0]


def test_a_category_without_any_required_material_is_reported(tmp_path):
    bad = item(REIMBURSE)
    bad["materials"] = bad["materials"][1:2]  # only the inpatient material is left
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert problems == [
        "y.yaml: items[GG00102000].categories: 申请人类别 chronic 没有任何必要材料，请补上材料"
    ]


def test_a_choice_field_without_options_is_reported(tmp_path):
    bad = item(REIMBURSE)
    bad["form"].append({"key": "level", "label": "医院级别", "type": "choice"})
    bad["form"].append({"key": "note", "label": "备注", "type": "text", "options": ["a"]})
    bad["form"].append({"key": "hospital", "label": "医院", "type": "text"})
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert problems == [
        "y.yaml: items[GG00102000].form[1].options: 选择题字段必须列出 options（可选项）",
        "y.yaml: items[GG00102000].form[2].options: 只有 choice 字段可以有 options，"
        "请删去或把类型改为 choice",
        "y.yaml: items[GG00102000].form[3].key: 表单字段 hospital 重复，请改用不同的 key",
    ]


def test_an_item_in_a_group_the_header_does_not_list_is_reported(tmp_path):
    problems = problems_of(write(tmp_path, files={"y.yaml": [item(RELIEF, category="户籍")]}))
    assert len(problems) == 1
    assert problems[0].startswith("y.yaml: items[JF01003000].category: 分组“户籍”不在")


def test_a_charged_fee_needs_its_basis(tmp_path):
    bad = item(RELIEF, fee={"amount_yuan": "20", "basis": "不收费"})
    problems = problems_of(write(tmp_path, files={"y.yaml": [bad]}))
    assert problems == [
        "y.yaml: items[JF01003000].fee.basis: 收费金额大于 0，请写明收费依据（文件名和文号）"
    ]


def test_header_problems_name_catalog_yaml_and_the_department_code(tmp_path):
    header = copy.deepcopy(HEADER)
    header["version"] = "2026-11"
    header.pop("published")
    header["editor"] = "张三"
    header["departments"][1]["name"] = ""
    header["departments"].append({"code": "YBJ", "name": "重复", "short_name": "重复"})
    problems = problems_of(write(tmp_path, header=header))
    assert any(
        p.startswith("catalog.yaml: version: “2026-11”格式不对，应写成 2026.11.1 这样的形式")
        for p in problems
    )
    assert "catalog.yaml: published: 缺少必填项，请补上" in problems
    assert any(p.startswith("catalog.yaml: editor: 不认识的字段") for p in problems)
    assert "catalog.yaml: departments[MZJ].name: 不能为空" in problems
    # Without a valid header the items are not flooded with "unknown department".
    assert len(problems) == 4, problems


def test_duplicate_department_codes_are_reported(tmp_path):
    header = copy.deepcopy(HEADER)
    header["departments"].append({"code": "YBJ", "name": "重复", "short_name": "重复"})
    assert problems_of(write(tmp_path, header=header)) == [
        "catalog.yaml: departments[2].code: 部门编码 YBJ 重复"
    ]


def test_every_problem_in_every_file_is_collected_in_one_pass(tmp_path):
    a = item(REIMBURSE)
    a["materials"][2]["count"] = 0
    d = item(RELIEF, code="JF01003002", department="CZJ", promised_days=30)
    b = item(RELIEF, kind="特办件")
    c = item(RELIEF, code="JF01003001", form=[{"key": "x", "label": "x", "type": "choice"}])
    problems = problems_of(write(tmp_path, files={"a.yaml": [a, d], "b.yaml": [b, c]}))
    # Field problems first, file by file; then the checks across items. An item whose
    # fields are invalid gets its cross checks once those are fixed.
    assert [p.split(": ")[:2] for p in problems] == [
        ["a.yaml", "items[GG00102000].materials[2].count"],
        ["b.yaml", "items[JF01003000].kind"],
        ["a.yaml", "items[JF01003002].department"],
        ["a.yaml", "items[JF01003002].promised_days"],
        ["b.yaml", "items[JF01003001].form[0].options"],
    ]


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path):
    directory = write(tmp_path)
    (directory / "broken.yaml").write_text("items:\n  - code: [GG\n    name: x\n", encoding="utf-8")
    problems = problems_of(directory)
    assert len(problems) == 1
    assert problems[0].startswith("broken.yaml: 第 ") and "YAML 格式错误" in problems[0]


def test_a_key_written_twice_is_reported_instead_of_silently_keeping_the_last(tmp_path):
    directory = write(tmp_path)
    text = (directory / "minzheng.yaml").read_text(encoding="utf-8")
    text = text.replace("  promised_days: 10\n", "  promised_days: 10\n  promised_days: 30\n")
    (directory / "minzheng.yaml").write_text(text, encoding="utf-8")
    (problem,) = problems_of(directory)
    line = text.splitlines().index("  promised_days: 30") + 1
    assert problem == f"minzheng.yaml: 第 {line} 行: 键 promised_days 重复，同一层只能写一次"


def test_an_empty_file_is_reported(tmp_path):
    directory = write(tmp_path)
    (directory / "empty.yaml").write_text("# 以后再写\n", encoding="utf-8")
    assert problems_of(directory) == ["empty.yaml: 文件是空的，请写入内容或删除该文件"]


def test_an_item_file_needs_exactly_the_items_key(tmp_path):
    directory = write(tmp_path)
    (directory / "extra.yaml").write_text("item:\n  - code: x\n", encoding="utf-8")
    assert problems_of(directory) == ["extra.yaml: 文件应只有一个键 items，其下列出事项"]


def test_a_missing_folder_or_header_is_reported(tmp_path):
    assert "目录不存在" in problems_of(tmp_path / "nowhere")[0]
    directory = write(tmp_path / "c")
    (directory / "catalog.yaml").unlink()
    assert problems_of(directory) == ["catalog.yaml: 文件不存在，请创建它"]


def test_a_catalog_too_large_to_publish_is_refused(tmp_path):
    big = item(RELIEF)
    big["materials"][0]["note"] = "很长的说明。" * 20000  # about 350 KiB in UTF-8
    problems = problems_of(write(tmp_path, files={"y.yaml": [big]}))
    assert len(problems) == 1 and "超过 256 KiB" in problems[0]
