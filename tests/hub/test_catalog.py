"""The shipped service catalog: counts, named items, lookups, hash, snapshot and diff."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hub.catalog import DATA_DIR, load_catalog
from protocols.catalog import (
    POWER_TYPES,
    SNAPSHOT_MAX_BYTES,
    Catalog,
    CatalogError,
    CatalogSnapshot,
    UnknownCategory,
    UnknownItem,
    diff,
)


def _load(text: str):
    return yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - the safe loader, in C


def _dump(data, **options) -> str:
    return yaml.dump(data, Dumper=yaml.CSafeDumper, **options)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    return target


def edit_yaml(path: Path, change) -> None:
    data = _load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def find_item(directory: Path, code: str) -> tuple[Path, int]:
    for file in sorted(directory.glob("*.yaml")):
        data = _load(file.read_text(encoding="utf-8"))
        for i, item in enumerate(data.get("items", [])):
            if item["code"] == code:
                return file, i
    raise AssertionError(f"{code} not in {directory}")


def edit_item(directory: Path, code: str, change) -> None:
    file, index = find_item(directory, code)
    edit_yaml(file, lambda data: change(data["items"][index]))


# --- the shipped data -------------------------------------------------------------------


def test_shipped_catalog_has_at_least_45_items_in_16_departments(catalog):
    active = [i for i in catalog.items if i.status == "active"]
    assert len(active) >= 45
    assert len(catalog.departments) >= 16
    assert len({i.department for i in active}) >= 16


NAMED = [
    "城乡居民基本医疗保险参保登记",
    "医疗费用手工（零星）报销",
    "户口迁入",
    "出生登记",
    "婚育情况证明",
    "生育登记",
    "个体工商户设立登记",
    "义务教育入学报名",
    "企业职工退休审批",
    "老年人优待证",
    "困难家庭大学生资助",
    "城乡最低生活保障",
    "残疾人证",
    "农村宅基地审批",
    "城乡居民基本养老保险参保登记",
    "城乡居民基本养老保险待遇领取",
    "特困人员救助供养",
    "临时救助",
    "80周岁以上老年人高龄津贴",
    "农机购置与应用补贴",
    "耕地地力保护补贴",
    "农村危房改造",
    "农村宅基地使用权及房屋所有权首次登记",
    "退役军人、其他优抚对象优待证",
    "法律援助",
    "林木采伐许可",
    "取水许可",
    "食品小作坊登记",
]


@pytest.mark.parametrize("name", NAMED)
def test_shipped_catalog_has_the_named_item_active(catalog, name):
    matches = [i for i in catalog.items if name in i.name and i.status == "active"]
    assert matches, name


def test_the_old_rural_cooperative_medical_item_is_retired_and_points_to_its_successor(catalog):
    old = [i for i in catalog.items if "新型农村合作医疗" in i.name]
    assert [i.status for i in old] == ["retired"]
    assert "城乡居民基本医疗保险参保登记" in old[0].conditions[0]
    assert any("新农合" in i.tags for i in catalog.items if i.status == "active")


def test_every_id_card_copy_can_be_made_from_the_card_read(catalog):
    checked = 0
    for item in catalog.items:
        assert item.materials, item.code
        for m in item.materials:
            # 身份证明 (proof of status) is not the ID card.
            if re.search("身份证(?!明)", m.name) and m.form == "copy":
                assert m.from_id_card, f"{item.code} {m.code} {m.name}"
                checked += 1
    assert checked >= 45


def test_several_items_vary_materials_by_applicant_category(catalog):
    varying = [i for i in catalog.items if i.categories]
    assert len(varying) >= 5
    school = catalog.item("GG00901000")
    # The Dengzhou enrolment system sorts pupils into seven 生源类别.
    assert len(school.categories) == 7


def test_shipped_items_cover_every_kind_and_level(catalog):
    assert {i.kind for i in catalog.items} == {"即办件", "承诺件", "上报件", "联办件"}
    assert {i.level for i in catalog.items} == {"village", "town", "county"}
    assert {i.power_type for i in catalog.items} <= set(POWER_TYPES)


def test_shipped_legal_basis_names_a_law_or_document(catalog):
    for item in catalog.items:
        for basis in item.legal_basis:
            assert basis.startswith("《"), f"{item.code}: {basis}"


def test_fees_are_recorded_to_the_fen_and_charged_items_cite_a_price_document(catalog):
    charged = [i for i in catalog.items if i.fee.amount_yuan > 0]
    assert {i.code: str(i.fee.amount_yuan) for i in charged} == {
        "QT00503000": "20.00",
        "QR01401000": "10.00",
        "QR01402000": "80.00",
    }
    for item in charged:
        assert "〔" in item.fee.basis and "号" in item.fee.basis
    assert str(catalog.item("GG00101000").fee.amount_yuan) == "0.00"


def test_popularity_ranks_are_distinct_so_the_kiosk_order_is_stable(catalog):
    ranks = [i.popularity for i in catalog.items]
    assert len(set(ranks)) == len(ranks)


# --- lookups ----------------------------------------------------------------------------


def test_required_materials_differ_by_reimbursement_category(catalog):
    inpatient = {m.code for m in catalog.required_materials("GG00102000", "inpatient")}
    chronic = {m.code for m in catalog.required_materials("GG00102000", "chronic")}
    assert {"M01", "M02", "M03", "M04", "M05", "M09"} == inpatient
    assert {"M01", "M02", "M03", "M06", "M09"} == chronic
    # M08 applies to inpatients but only when there is an injury: not required.
    assert "M08" not in inpatient


def test_required_materials_of_an_item_without_categories_are_its_required_ones(catalog):
    codes = [m.code for m in catalog.required_materials("JF01002000")]
    assert codes == ["M01", "M02", "M03"]


def test_required_materials_refuses_an_unknown_category_naming_the_choices(catalog):
    with pytest.raises(UnknownCategory) as err:
        catalog.required_materials("GG00102000", "dental")
    assert "dental" in str(err.value) and "inpatient（住院）" in str(err.value)


def test_required_materials_asks_for_a_category_when_the_item_has_them(catalog):
    with pytest.raises(UnknownCategory, match="请先选择类别"):
        catalog.required_materials("GG00901000")


def test_required_materials_refuses_a_category_for_an_item_without_them(catalog):
    with pytest.raises(UnknownCategory, match="不区分申请人类别"):
        catalog.required_materials("JF01001000", "inpatient")


def test_unknown_item_code_raises_with_a_sentence(catalog):
    with pytest.raises(UnknownItem) as err:
        catalog.item("XK99999999")
    assert "XK99999999" in str(err.value)


# --- hash -------------------------------------------------------------------------------


def test_hash_is_sha256_of_sorted_compact_utf8_json(catalog):
    import hashlib

    raw = catalog.canonical_json()
    assert hashlib.sha256(raw).hexdigest() == catalog.hash
    text = raw.decode("utf-8")
    assert "城乡居民" in text  # UTF-8, not \u escapes
    assert ", " not in text and ": " not in text.replace("：", "")
    codes = [i["code"] for i in json.loads(text)["items"]]
    assert codes == sorted(codes)


def test_hash_does_not_depend_on_how_items_are_split_into_files(catalog, tmp_path):
    directory = copy_data(tmp_path)
    everything = []
    for file in sorted(directory.glob("*.yaml")):
        if file.name != "catalog.yaml":
            everything += _load(file.read_text(encoding="utf-8"))["items"]
            file.unlink()
    # Reverse order, and the same items split differently across two files.
    everything.reverse()
    for name, part in (("b.yaml", everything[:10]), ("a.yaml", everything[10:])):
        (directory / name).write_text(_dump({"items": part}, allow_unicode=True), encoding="utf-8")
    assert load_catalog(directory).hash == catalog.hash


@pytest.mark.parametrize(
    "change",
    [
        lambda item: item["materials"][0].update(note="请带原件"),
        lambda item: item.update(legal_days=5),
        lambda item: item["conditions"].append("新增一条条件。"),
        lambda item: item.update(fee={"amount_yuan": "0.01", "basis": "测试文件（2026〔1〕号）"}),
        lambda item: item["materials"].reverse(),
    ],
    ids=["material note", "legal days", "condition", "fee", "material order"],
)
def test_any_edit_changes_the_hash(catalog, tmp_path, change):
    directory = copy_data(tmp_path)
    edit_item(directory, "GG00101000", change)
    assert load_catalog(directory).hash != catalog.hash


def test_an_amount_written_as_0_or_0_00_hashes_the_same(catalog, tmp_path):
    directory = copy_data(tmp_path)
    edit_item(directory, "GG00101000", lambda i: i["fee"].update(amount_yuan="0.00"))
    assert load_catalog(directory).hash == catalog.hash


# --- snapshot ---------------------------------------------------------------------------


def test_snapshot_round_trips_through_json(catalog):
    snapshot = CatalogSnapshot.from_catalog(catalog)
    raw = snapshot.model_dump_json()
    again = CatalogSnapshot.model_validate_json(raw)
    assert again == snapshot
    rebuilt = again.to_catalog()
    assert rebuilt.hash == catalog.hash == again.hash
    assert rebuilt.item("GG00901000") == catalog.item("GG00901000")


def test_shipped_snapshot_stays_under_the_retained_message_budget(catalog):
    size = len(CatalogSnapshot.from_catalog(catalog).model_dump_json().encode("utf-8"))
    assert size < SNAPSHOT_MAX_BYTES


def test_snapshot_refuses_unknown_fields_at_top_level_and_inside_items(catalog):
    data = json.loads(CatalogSnapshot.from_catalog(catalog).model_dump_json())
    with pytest.raises(ValidationError, match="signed_by"):
        CatalogSnapshot.model_validate({**data, "signed_by": "x"})
    data["items"][0]["materials"][0]["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        CatalogSnapshot.model_validate(data)


def test_snapshot_whose_content_does_not_match_its_hash_is_refused(catalog):
    data = json.loads(CatalogSnapshot.from_catalog(catalog).model_dump_json())
    data["items"][0]["name"] += "（改）"
    tampered = CatalogSnapshot.model_validate(data)
    with pytest.raises(CatalogError, match="哈希不符"):
        tampered.to_catalog()


def test_snapshot_with_an_inconsistent_item_is_refused(catalog):
    data = json.loads(CatalogSnapshot.from_catalog(catalog).model_dump_json())
    item = next(i for i in data["items"] if i["code"] == "XK00502000")
    item["promised_days"] = item["legal_days"] + 1
    with pytest.raises(CatalogError) as err:
        CatalogSnapshot.model_validate(data).to_catalog()
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("items[XK00502000].promised_days: 承诺时限")


# --- diff -------------------------------------------------------------------------------


def bump(directory: Path, version: str) -> None:
    edit_yaml(directory / "catalog.yaml", lambda d: d.update(version=version))


def test_diff_reports_added_retired_and_modified_items(catalog, tmp_path):
    directory = copy_data(tmp_path)
    bump(directory, "2026.12.1")
    edit_item(directory, "JF01003000", lambda i: i.update(status="retired"))
    edit_item(directory, "GG00602000", lambda i: i.update(promised_days=0, legal_days=0))
    edit_item(directory, "XK00502000", lambda i: i.update(promised_days=3))
    file, index = find_item(directory, "GG00304000")

    def add_copy(data):
        new = dict(data["items"][index], code="GG00304001", name="失业登记", popularity=60)
        data["items"].append(new)

    edit_yaml(file, add_copy)
    change = diff(catalog, load_catalog(directory))
    assert change.old_version == "2026.11.1" and change.new_version == "2026.12.1"
    assert change.added == ["GG00304001"]
    assert change.removed == ["JF01003000"]
    assert change.modified == ["XK00502000"]


def test_diff_of_a_catalog_with_itself_is_empty(catalog):
    change = diff(catalog, catalog)
    assert (change.added, change.removed, change.modified) == ([], [], [])


def test_diff_refuses_an_item_deleted_instead_of_retired(catalog, tmp_path):
    directory = copy_data(tmp_path)
    bump(directory, "2026.12.1")
    file, index = find_item(directory, "JF01003000")
    edit_yaml(file, lambda data: data["items"].pop(index))
    with pytest.raises(CatalogError) as err:
        diff(catalog, load_catalog(directory))
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("items[JF01003000]: ")
    assert "status: retired" in err.value.problems[0]


def test_diff_refuses_a_changed_catalog_without_a_higher_version(catalog, tmp_path):
    directory = copy_data(tmp_path)
    edit_item(directory, "XK00502000", lambda i: i.update(promised_days=3))
    with pytest.raises(CatalogError) as err:
        diff(catalog, load_catalog(directory))
    assert err.value.problems == [
        "version: 目录内容有变化，新版本号 2026.11.1 必须大于旧版本号 2026.11.1"
    ]
    # 2026.9.1 < 2026.11.1: versions compare as numbers, not strings.
    bump(directory, "2026.9.1")
    with pytest.raises(CatalogError, match="必须大于"):
        diff(catalog, load_catalog(directory))
