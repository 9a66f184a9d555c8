"""The service catalog (政务服务事项目录 / 权力清单): models, consistency checks, hash, diff.

The catalog is data kept in the repository (`hub/catalog/data/`), loaded and checked by
`hub.catalog`, and published retained on `cunban/catalog` as a `CatalogSnapshot`. Every
application records the catalog version it was filed under, so an item is never deleted:
it is retired (`status: retired`, 已停用) and stays in every later version.

Pure models and functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# Basic item code (基本编码): 事项类型 (2 letters) + main item (5 digits) + sub-item (3 digits),
# e.g. XK00012000. The digit counts of GB/T 39554.1-2020 are unverified here, so this
# pattern is the only place that knows them.
ITEM_CODE_PATTERN = r"^[A-Z]{2}\d{5}\d{3}$"
DEPARTMENT_CODE_PATTERN = r"^[A-Z]{2,8}$"
MATERIAL_CODE_PATTERN = r"^M\d{2}$"
CATEGORY_CODE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
# Catalog versions are year.month.sequence (2026.11.1); compared numerically.
VERSION_PATTERN = r"^\d{4}\.\d{1,2}\.\d{1,3}$"
# One example of each pattern, for the sentences shown to the people who edit the data.
PATTERN_EXAMPLES: dict[str, str] = {
    ITEM_CODE_PATTERN: "GG00101000",
    DEPARTMENT_CODE_PATTERN: "MZJ",
    MATERIAL_CODE_PATTERN: "M01",
    CATEGORY_CODE_PATTERN: "inpatient",
    FIELD_KEY_PATTERN: "child_name",
    VERSION_PATTERN: "2026.11.1",
}

# 权力类型 as coded by the Zhejiang platform; GG is the catalog's own code for 公共服务.
POWER_TYPES: dict[str, str] = {
    "01": "行政许可",
    "02": "行政强制",
    "03": "行政处罚",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政裁决",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政监督",
    "10": "其他行政权力",
    "11": "行政检查",
    "17": "行政命令",
    "GG": "公共服务",
}

# The `cunban/catalog` payload is retained and fetched by every kiosk at connect over
# village links; the shipped catalog must stay well under this.
SNAPSHOT_MAX_BYTES = 256 * 1024

# Prefix of what a snapshot's signature covers, so a signature over a catalog can never be
# taken for one over a station configuration (firmware_config.signing uses another label).
SNAPSHOT_SIGNATURE_LABEL = b"cunban catalog snapshot v1\n"

Level = Literal["village", "town", "county"]
Kind = Literal["即办件", "承诺件", "上报件", "联办件"]
Collect = Literal["station", "town", "county", "post", "electronic"]
Status = Literal["active", "retired"]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CatalogError(ValueError):
    """A catalog that cannot be used; `problems` lists every problem, each naming its path."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class UnknownItem(KeyError):
    """No item with this code in the catalog."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
        self.message = f"目录中没有编码为 {code} 的事项，请核对事项编码或更新目录"

    def __str__(self) -> str:
        return self.message


class UnknownCategory(ValueError):
    """The applicant category is not one the item defines (or the item needs one)."""


class ApplicantCategory(BaseModel):
    """An applicant category (申请人类别) of an item whose materials vary by applicant."""

    model_config = _STRICT

    code: str = Field(
        pattern=CATEGORY_CODE_PATTERN,
        description="Category code, stable within the item (lower-case ASCII, e.g. `inpatient`).",
    )
    name: str = Field(min_length=1, description="Category name shown to the applicant (住院).")


class Material(BaseModel):
    """One material (申请材料) the applicant hands in."""

    model_config = _STRICT

    code: str = Field(
        pattern=MATERIAL_CODE_PATTERN,
        description="Material code, stable within the item (M01, M02 …); cases refer to it.",
    )
    name: str = Field(min_length=1, description="Material name as printed on the checklist.")
    form: Literal["original", "copy", "original_and_copy"] = Field(
        description="原件 (original), 复印件 (copy) or both (original_and_copy)."
    )
    count: int = Field(default=1, ge=1, le=20, description="Number of copies (份数).")
    required: bool = Field(
        default=True, description="Required (必要) or only when it applies (非必要/容缺)."
    )
    categories: list[str] = Field(
        default_factory=list,
        description="Applicant-category codes this material applies to; empty = all.",
    )
    from_id_card: bool = Field(
        default=False,
        description="The copy can be made from the ID-card read instead of photographed.",
    )
    note: str = Field(default="", description="Guidance for the applicant (where to get it).")


class FormField(BaseModel):
    """One field of the application form filled in at the kiosk."""

    model_config = _STRICT

    key: str = Field(pattern=FIELD_KEY_PATTERN, description="Field key in the application.")
    label: str = Field(min_length=1, description="Label shown on the kiosk.")
    type: Literal["text", "number", "date", "choice", "bool"] = Field(description="Value type.")
    required: bool = Field(default=True, description="The application needs a value.")
    options: list[str] = Field(
        default_factory=list, description="Choices for a `choice` field (empty otherwise)."
    )
    max_length: int | None = Field(
        default=None, ge=1, le=2000, description="Longest text accepted (text fields)."
    )


class Fee(BaseModel):
    """Fee charged for the item (收费标准); 0 means 不收费."""

    model_config = _STRICT

    amount_yuan: Decimal = Field(
        ge=0, max_digits=9, decimal_places=2, description='Amount in yuan, e.g. "10.00".'
    )
    basis: str = Field(min_length=1, description="Charging basis (收费依据), or 不收费.")

    @field_validator("amount_yuan")
    @classmethod
    def _two_places(cls, value: Decimal) -> Decimal:
        # 0, 0.0 and "0.00" must serialise (and hash) the same.
        return value.quantize(Decimal("0.01"))


class Department(BaseModel):
    """An implementing department (实施主体)."""

    model_config = _STRICT

    code: str = Field(pattern=DEPARTMENT_CODE_PATTERN, description="Department code (MZJ).")
    name: str = Field(min_length=1, description="Full name (邓州市民政局).")
    short_name: str = Field(min_length=1, description="Short name for the kiosk (民政).")


class ServiceItem(BaseModel):
    """One service item (政务服务事项) of the catalog."""

    model_config = _STRICT

    code: str = Field(pattern=ITEM_CODE_PATTERN, description="Basic item code (基本编码).")
    name: str = Field(min_length=1, description="Item name (事项名称).")
    department: str = Field(description="Code of the implementing department.")
    level: Level = Field(description="Handling level (行使层级): village, town or county.")
    kind: Kind = Field(description="办件类型: 即办件, 承诺件, 上报件 or 联办件.")
    legal_days: int = Field(ge=0, le=365, description="Statutory time limit, working days.")
    promised_days: int = Field(
        ge=0, le=365, description="Promised time limit, working days (0 for 即办件)."
    )
    conditions: list[str] = Field(
        min_length=1, description="Who may apply (受理条件), one plain sentence each."
    )
    categories: list[ApplicantCategory] = Field(
        default_factory=list,
        description="Applicant categories when materials vary by applicant; empty otherwise.",
    )
    materials: list[Material] = Field(min_length=1, description="Materials (申请材料).")
    form: list[FormField] = Field(
        default_factory=list, description="Fields filled in at the kiosk."
    )
    fee: Fee = Field(description="Fee (收费标准).")
    legal_basis: list[str] = Field(
        min_length=1, description="Legal basis (设定依据): law name and article."
    )
    power_type: str = Field(description="权力类型 code, a key of POWER_TYPES.")
    collect: list[Collect] = Field(
        min_length=1, description="Where the result can be collected (送达方式)."
    )
    status: Status = Field(default="active", description="active, or retired (已停用).")
    category: str = Field(description="Kiosk icon group, one of the catalog's `groups`.")
    tags: list[str] = Field(default_factory=list, description="Search words (别名).")
    popularity: int = Field(ge=1, description="Usage rank, 1 = most used; kiosk order.")

    @field_validator("power_type")
    @classmethod
    def _known_power_type(cls, value: str) -> str:
        if value not in POWER_TYPES:
            known = "，".join(f"{k} {v}" for k, v in POWER_TYPES.items())
            raise ValueError(f"权力类型“{value}”不存在，应为：{known}")
        return value


@dataclass(frozen=True)
class Problem:
    """One consistency problem: `path` names where (items[XK00012000].promised_days)."""

    path: str
    message: str
    item: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def item_problems(item: ServiceItem) -> list[Problem]:
    """Problems inside one item that its field types cannot express."""
    at = f"items[{item.code}]"
    out: list[Problem] = []

    def add(path: str, message: str) -> None:
        out.append(Problem(f"{at}.{path}", message, item.code))

    if item.promised_days > item.legal_days:
        add(
            "promised_days",
            f"承诺时限 {item.promised_days} 个工作日超过法定时限 {item.legal_days} 个工作日，"
            "请改为不超过法定时限",
        )
    if item.kind == "即办件" and item.promised_days > 0:
        add("promised_days", "即办件当场办结，承诺时限应为 0；需要时间办理的请改为承诺件")
    if item.kind != "即办件" and item.promised_days == 0:
        add("promised_days", f"{item.kind}的承诺时限应至少 1 个工作日；当场办结的请改为即办件")

    category_codes: set[str] = set()
    for i, category in enumerate(item.categories):
        if category.code in category_codes:
            add(f"categories[{i}].code", f"申请人类别编码 {category.code} 重复，请改用不同编码")
        category_codes.add(category.code)

    material_codes: set[str] = set()
    for i, material in enumerate(item.materials):
        if material.code in material_codes:
            add(f"materials[{i}].code", f"材料编码 {material.code} 在本事项中重复，请改用新编码")
        material_codes.add(material.code)
        for j, code in enumerate(material.categories):
            if code not in category_codes:
                defined = "、".join(sorted(category_codes)) or "（本事项未定义申请人类别）"
                add(
                    f"materials[{i}].categories[{j}]",
                    f"申请人类别 {code} 未在本事项的 categories 中定义（已定义：{defined}）",
                )
    if item.categories:
        for category in item.categories:
            if not any(
                m.required and (not m.categories or category.code in m.categories)
                for m in item.materials
            ):
                add("categories", f"申请人类别 {category.code} 没有任何必要材料，请补上材料")

    keys: set[str] = set()
    for i, field in enumerate(item.form):
        if field.key in keys:
            add(f"form[{i}].key", f"表单字段 {field.key} 重复，请改用不同的 key")
        keys.add(field.key)
        if field.type == "choice" and not field.options:
            add(f"form[{i}].options", "选择题字段必须列出 options（可选项）")
        if field.type != "choice" and field.options:
            add(f"form[{i}].options", "只有 choice 字段可以有 options，请删去或把类型改为 choice")
    if item.fee.amount_yuan > 0 and item.fee.basis == "不收费":
        add("fee.basis", "收费金额大于 0，请写明收费依据（文件名和文号）")
    return out


def catalog_problems(
    departments: list[Department], items: list[ServiceItem], groups: list[str]
) -> list[Problem]:
    """Every consistency problem across departments, groups and items."""
    out: list[Problem] = []
    department_codes: set[str] = set()
    for i, department in enumerate(departments):
        if department.code in department_codes:
            out.append(Problem(f"departments[{i}].code", f"部门编码 {department.code} 重复"))
        department_codes.add(department.code)
    seen_groups: set[str] = set()
    for i, group in enumerate(groups):
        if group in seen_groups:
            out.append(Problem(f"groups[{i}]", f"分组 {group} 重复"))
        seen_groups.add(group)

    item_codes: set[str] = set()
    for item in items:
        at = f"items[{item.code}]"
        if item.code in item_codes:
            out.append(Problem(at, f"事项编码 {item.code} 重复，每个事项编码只能出现一次"))
        item_codes.add(item.code)
        if item.department not in department_codes:
            out.append(
                Problem(
                    f"{at}.department",
                    f"部门编码 {item.department} 不在 catalog.yaml 的 departments 中，"
                    "请先登记该部门或改正编码",
                    item.code,
                )
            )
        if item.category not in seen_groups:
            out.append(
                Problem(
                    f"{at}.category",
                    f"分组“{item.category}”不在 catalog.yaml 的 groups 中"
                    f"（可用：{'、'.join(groups)}）",
                    item.code,
                )
            )
        out.extend(item_problems(item))
    return out


def version_key(version: str) -> tuple[int, ...]:
    """`2026.11.1` → (2026, 11, 1), for ordering versions."""
    return tuple(int(part) for part in version.split("."))


class CatalogHeader(BaseModel):
    """What `catalog.yaml` holds: everything of a catalog but its items."""

    model_config = _STRICT

    version: str = Field(pattern=VERSION_PATTERN, description="Version, year.month.n (2026.11.1).")
    published: date = Field(description="Date this version takes effect (发布日期).")
    groups: list[str] = Field(
        min_length=1, description="Kiosk icon groups in display order (社保医保, 户籍 …)."
    )
    departments: list[Department] = Field(min_length=1, description="Implementing departments.")


class Catalog(CatalogHeader):
    """A whole catalog version: departments, kiosk icon groups and items."""

    items: list[ServiceItem] = Field(min_length=1, description="Service items, retired included.")

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        problems = catalog_problems(self.departments, self.items, self.groups)
        if problems:
            raise ValueError("\n".join(str(p) for p in problems))
        return self

    def item(self, code: str) -> ServiceItem:
        """The item with this code (retired ones included); raises `UnknownItem`."""
        for item in self.items:
            if item.code == code:
                return item
        raise UnknownItem(code)

    def required_materials(self, code: str, category: str | None = None) -> list[Material]:
        """The required materials of an item for one applicant category.

        An item with categories needs one of its category codes; an item without categories
        takes none. Anything else raises `UnknownCategory` with a sentence naming the choices.
        """
        item = self.item(code)
        codes = [c.code for c in item.categories]
        if codes and category not in codes:
            choices = "、".join(f"{c.code}（{c.name}）" for c in item.categories)
            if category is None:
                raise UnknownCategory(f"“{item.name}”的材料因申请人而异，请先选择类别：{choices}")
            raise UnknownCategory(
                f"“{item.name}”没有申请人类别 {category}，请从以下类别中选择：{choices}"
            )
        if not codes and category is not None:
            raise UnknownCategory(
                f"“{item.name}”不区分申请人类别，请不要指定类别（收到 {category}）"
            )
        return [
            m
            for m in item.materials
            if m.required and (not m.categories or category in m.categories)
        ]

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8; items and departments ordered by code, so the
        bytes do not depend on which file an item sits in or the order files were read."""
        data = self.model_dump(mode="json")
        data["items"] = sorted(data["items"], key=lambda i: i["code"])
        data["departments"] = sorted(data["departments"], key=lambda d: d["code"])
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )

    @property
    def hash(self) -> str:
        """sha256 hex of `canonical_json()`: kiosks compare it to know they are current."""
        return hashlib.sha256(self.canonical_json()).hexdigest()


class CatalogSnapshot(BaseModel):
    """The `data` of the retained `cunban/catalog` message: the whole catalog plus its hash,
    signed by the hub with the county's Ed25519 key (the one configurations are signed with).

    `to_catalog()` rebuilds the catalog and refuses a snapshot whose hash does not match,
    so a kiosk never runs on a corrupted or half-edited catalog.
    """

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=VERSION_PATTERN, description="Catalog version.")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="Catalog.hash of the content.")
    published: date = Field(description="Date the version takes effect.")
    groups: list[str] = Field(description="Kiosk icon groups in display order.")
    departments: list[Department] = Field(description="Implementing departments.")
    items: list[ServiceItem] = Field(description="Every item, retired ones included.")
    signature: str | None = Field(
        default=None,
        description="Ed25519 signature (base64) by the county's signing key over "
        "`signed_bytes()`; absent only from a hub without a signing key (demonstrations).",
    )
    key_id: str | None = Field(
        default=None, description="First 16 hex digits of sha256 of the raw public key."
    )

    def signed_bytes(self) -> bytes:
        """What the signature covers: a fixed label, the version and the content hash.
        `to_catalog()` checks the content against the hash, so the signature covers it."""
        return SNAPSHOT_SIGNATURE_LABEL + f"{self.version}\n{self.hash}".encode()

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> CatalogSnapshot:
        """The snapshot of a checked catalog."""
        return cls(
            version=catalog.version,
            hash=catalog.hash,
            published=catalog.published,
            groups=catalog.groups,
            departments=catalog.departments,
            items=catalog.items,
        )

    def to_catalog(self) -> Catalog:
        """The catalog this snapshot carries; raises `CatalogError` if its content is not
        consistent or does not match the hash."""
        try:
            catalog = Catalog(
                version=self.version,
                published=self.published,
                groups=self.groups,
                departments=self.departments,
                items=self.items,
            )
        except ValidationError as exc:
            # Only the cross checks can fail here: the fields were validated with the snapshot.
            raise CatalogError(
                [
                    line
                    for error in exc.errors()
                    for line in str(error.get("ctx", {}).get("error", error["msg"])).splitlines()
                ]
            ) from None
        if catalog.hash != self.hash:
            raise CatalogError(
                [f"hash: 目录快照内容与哈希不符（{self.hash[:12]}…），请重新获取目录"]
            )
        return catalog


class CatalogDiff(BaseModel):
    """What changed between two catalog versions, by item code."""

    model_config = ConfigDict(extra="forbid")

    old_version: str = Field(description="Version compared from.")
    new_version: str = Field(description="Version compared to.")
    added: list[str] = Field(description="Codes new in the new version.")
    removed: list[str] = Field(description="Codes active before and retired (已停用) now.")
    modified: list[str] = Field(description="Codes present in both whose content changed.")


def diff(old: Catalog, new: Catalog) -> CatalogDiff:
    """Compare two catalogs. An item missing from `new` is an error (it must be retired,
    never deleted), and so is a change without a higher version number."""
    old_items = {i.code: i for i in old.items}
    new_items = {i.code: i for i in new.items}
    problems = [
        f"items[{code}]: 事项“{old_items[code].name}”在新目录中被删除；已有办件引用它，"
        "请恢复该事项并标记 status: retired（已停用）"
        for code in sorted(old_items.keys() - new_items.keys())
    ]
    added = sorted(new_items.keys() - old_items.keys())
    removed: list[str] = []
    modified: list[str] = []
    for code in sorted(old_items.keys() & new_items.keys()):
        before, after = old_items[code], new_items[code]
        if before == after:
            continue
        if before.status == "active" and after.status == "retired":
            removed.append(code)
        else:
            modified.append(code)
    changed = added or removed or modified or old.hash != new.hash
    if changed and version_key(new.version) <= version_key(old.version):
        problems.append(
            f"version: 目录内容有变化，新版本号 {new.version} 必须大于旧版本号 {old.version}"
        )
    if problems:
        raise CatalogError(problems)
    return CatalogDiff(
        old_version=old.version,
        new_version=new.version,
        added=added,
        removed=removed,
        modified=modified,
    )


def is_item_code(value: str) -> bool:
    """True for a well-formed basic item code."""
    return bool(re.match(ITEM_CODE_PATTERN, value or ""))
