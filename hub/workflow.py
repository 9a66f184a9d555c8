"""The 办件 lifecycle: codes, who may do what, and the SMS text of every step.

Pure logic, no storage: the caller reads the current state from the case's event log,
asks `transition()` whether an action is allowed and with what normalised payload, and
appends the returned event.

Lifecycle codes 1–15 are the national 办件 status codes (DOMAIN.md, "The 办件 lifecycle").
Code 16 (`DELIVERED`, 领取登记/送达) is a local extension: the national list ends at 办结,
but the station must record who collected the result, how and when.

Codes 6 and 7 (补正) occur both before acceptance (预审: the station's submission is
incomplete) and during processing. What may follow differs — before acceptance the case
can still be accepted or withdrawn, afterwards it can be approved or retracted — so for
those two codes `transition()` needs to know whether the case was accepted
(`was_accepted(codes)` tells from the history).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum
from typing import Any

from protocols.identity import InvalidIdNumber, mask_name, parse_id_number


class Lifecycle(IntEnum):
    """办件 lifecycle codes; `label` is the national Chinese name."""

    RECEIVED = 1
    WITHDRAWN = 2
    ACCEPTED = 3
    DECLINED = 4
    REFUSED = 5
    SUPPLEMENT_REQUESTED = 6
    SUPPLEMENT_RECEIVED = 7
    PROCESSING = 8
    SPECIAL_STARTED = 9
    SPECIAL_ENDED = 10
    APPROVED = 11
    APPROVED_PENDING = 12
    REJECTED = 13
    RETRACTED = 14
    REVOKED = 15
    DELIVERED = 16  # local extension: 领取登记/送达

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return LABELS_ZH[self]


LABELS_ZH: dict[Lifecycle, str] = {
    Lifecycle.RECEIVED: "已接件",
    Lifecycle.WITHDRAWN: "已撤件",
    Lifecycle.ACCEPTED: "已受理",
    Lifecycle.DECLINED: "不受理",
    Lifecycle.REFUSED: "不予受理",
    Lifecycle.SUPPLEMENT_REQUESTED: "补正（开始）",
    Lifecycle.SUPPLEMENT_RECEIVED: "补正（结束）",
    Lifecycle.PROCESSING: "部门开始办理",
    Lifecycle.SPECIAL_STARTED: "特别程序（开始）",
    Lifecycle.SPECIAL_ENDED: "特别程序（结束）",
    Lifecycle.APPROVED: "办结（通过）",
    Lifecycle.APPROVED_PENDING: "办结（容缺通过）",
    Lifecycle.REJECTED: "办结（不通过）",
    Lifecycle.RETRACTED: "撤回",
    Lifecycle.REVOKED: "撤销",
    Lifecycle.DELIVERED: "已送达",
}


class Action(StrEnum):
    """What a person (or the hub) does to a case; each action leads to one code."""

    RECEIVE = "receive"
    WITHDRAW = "withdraw"
    ACCEPT = "accept"
    DECLINE = "decline"
    REFUSE = "refuse"
    REQUEST_SUPPLEMENT = "request_supplement"
    SUPPLEMENT_RECEIVED = "supplement_received"
    START_PROCESSING = "start_processing"
    SPECIAL_START = "special_start"
    SPECIAL_END = "special_end"
    APPROVE = "approve"
    APPROVE_PENDING = "approve_pending"
    REJECT = "reject"
    RETRACT = "retract"
    REVOKE = "revoke"
    DELIVER = "deliver"


class Stage(StrEnum):
    """Where a case stands: the lifecycle code, with 补正 split by before/after acceptance."""

    NEW = "new"
    RECEIVED = "received"
    PRE_SUPPLEMENT = "pre_supplement"  # 6 before acceptance (预审补正)
    PRE_SUPPLIED = "pre_supplied"  # 7 before acceptance
    ACCEPTED = "accepted"
    SUPPLEMENT = "supplement"  # 6 after acceptance
    SUPPLIED = "supplied"  # 7 after acceptance
    PROCESSING = "processing"
    SPECIAL = "special"
    SPECIAL_ENDED = "special_ended"
    APPROVED = "approved"
    APPROVED_PENDING = "approved_pending"
    REJECTED = "rejected"
    DELIVERED = "delivered"
    WITHDRAWN = "withdrawn"
    DECLINED = "declined"
    REFUSED = "refused"
    RETRACTED = "retracted"
    REVOKED = "revoked"


L, A, S = Lifecycle, Action, Stage

# Each action always produces the same code.
TARGET: dict[Action, Lifecycle] = {
    A.RECEIVE: L.RECEIVED,
    A.WITHDRAW: L.WITHDRAWN,
    A.ACCEPT: L.ACCEPTED,
    A.DECLINE: L.DECLINED,
    A.REFUSE: L.REFUSED,
    A.REQUEST_SUPPLEMENT: L.SUPPLEMENT_REQUESTED,
    A.SUPPLEMENT_RECEIVED: L.SUPPLEMENT_RECEIVED,
    A.START_PROCESSING: L.PROCESSING,
    A.SPECIAL_START: L.SPECIAL_STARTED,
    A.SPECIAL_END: L.SPECIAL_ENDED,
    A.APPROVE: L.APPROVED,
    A.APPROVE_PENDING: L.APPROVED_PENDING,
    A.REJECT: L.REJECTED,
    A.RETRACT: L.RETRACTED,
    A.REVOKE: L.REVOKED,
    A.DELIVER: L.DELIVERED,
}

_DECIDE = {A.APPROVE, A.APPROVE_PENDING, A.REJECT}
_AFTER_ACCEPTANCE = {A.RETRACT, A.REVOKE}

# The transition table: from each stage, the actions allowed.
TRANSITIONS: dict[Stage, frozenset[Action]] = {
    S.NEW: frozenset({A.RECEIVE}),
    S.RECEIVED: frozenset({A.ACCEPT, A.DECLINE, A.REFUSE, A.REQUEST_SUPPLEMENT, A.WITHDRAW}),
    S.PRE_SUPPLEMENT: frozenset({A.SUPPLEMENT_RECEIVED, A.DECLINE, A.REFUSE, A.WITHDRAW}),
    S.PRE_SUPPLIED: frozenset(
        {A.ACCEPT, A.DECLINE, A.REFUSE, A.REQUEST_SUPPLEMENT, A.WITHDRAW}
    ),
    S.ACCEPTED: frozenset(
        {A.START_PROCESSING, A.REQUEST_SUPPLEMENT, A.SPECIAL_START, *_DECIDE,
         *_AFTER_ACCEPTANCE}
    ),
    S.SUPPLEMENT: frozenset({A.SUPPLEMENT_RECEIVED, A.REJECT, *_AFTER_ACCEPTANCE}),
    S.SUPPLIED: frozenset(
        {A.START_PROCESSING, A.REQUEST_SUPPLEMENT, A.SPECIAL_START, *_DECIDE,
         *_AFTER_ACCEPTANCE}
    ),
    S.PROCESSING: frozenset(
        {A.REQUEST_SUPPLEMENT, A.SPECIAL_START, *_DECIDE, *_AFTER_ACCEPTANCE}
    ),
    S.SPECIAL: frozenset({A.SPECIAL_END, *_AFTER_ACCEPTANCE}),
    S.SPECIAL_ENDED: frozenset(
        {A.START_PROCESSING, A.REQUEST_SUPPLEMENT, A.SPECIAL_START, *_DECIDE,
         *_AFTER_ACCEPTANCE}
    ),
    # 办结: only 送达 and, by a head, 撤销 (e.g. a permit granted on false documents,
    # 行政许可法第六十九条).
    S.APPROVED: frozenset({A.DELIVER, A.REVOKE}),
    S.APPROVED_PENDING: frozenset({A.DELIVER, A.REVOKE}),
    S.REJECTED: frozenset({A.DELIVER, A.REVOKE}),
    S.DELIVERED: frozenset({A.REVOKE}),
    S.WITHDRAWN: frozenset(),
    S.DECLINED: frozenset(),
    S.REFUSED: frozenset(),
    S.RETRACTED: frozenset(),
    S.REVOKED: frozenset(),
}

_OFFICER = frozenset(
    {A.ACCEPT, A.DECLINE, A.REFUSE, A.REQUEST_SUPPLEMENT, A.START_PROCESSING,
     A.SPECIAL_START, A.SPECIAL_END, *_DECIDE}
)
# Who may do what. The administrator runs the system and decides no case.
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    "system": frozenset({A.RECEIVE}),
    "station": frozenset({A.RECEIVE, A.WITHDRAW, A.SUPPLEMENT_RECEIVED, A.RETRACT, A.DELIVER}),
    "officer": _OFFICER,
    "head": _OFFICER | {A.REVOKE},
    "admin": frozenset(),
}

_STAGE_OF: dict[Lifecycle, Stage] = {
    L.RECEIVED: S.RECEIVED,
    L.WITHDRAWN: S.WITHDRAWN,
    L.ACCEPTED: S.ACCEPTED,
    L.DECLINED: S.DECLINED,
    L.REFUSED: S.REFUSED,
    L.PROCESSING: S.PROCESSING,
    L.SPECIAL_STARTED: S.SPECIAL,
    L.SPECIAL_ENDED: S.SPECIAL_ENDED,
    L.APPROVED: S.APPROVED,
    L.APPROVED_PENDING: S.APPROVED_PENDING,
    L.REJECTED: S.REJECTED,
    L.RETRACTED: S.RETRACTED,
    L.REVOKED: S.REVOKED,
    L.DELIVERED: S.DELIVERED,
}

TERMINAL = frozenset(
    {L.WITHDRAWN, L.DECLINED, L.REFUSED, L.APPROVED, L.APPROVED_PENDING, L.REJECTED,
     L.RETRACTED, L.REVOKED, L.DELIVERED}
)
FINISHED = frozenset({L.APPROVED, L.APPROVED_PENDING, L.REJECTED})  # 办结


# ---------------------------------------------------------------------------------------
# Strings shown to people (zh_CN). Refusal reasons first, then the SMS catalogue.

ROLE_LABELS_ZH = {
    "system": "系统",
    "station": "村便民服务站工作人员",
    "officer": "部门经办人员",
    "head": "部门负责人",
    "admin": "系统管理员",
}

ACTION_VERBS_ZH: dict[Action, str] = {
    A.RECEIVE: "接件",
    A.WITHDRAW: "撤件",
    A.ACCEPT: "受理",
    A.DECLINE: "作不受理处理",
    A.REFUSE: "作不予受理决定",
    A.REQUEST_SUPPLEMENT: "补正",
    A.SUPPLEMENT_RECEIVED: "登记补正材料",
    A.START_PROCESSING: "开始办理",
    A.SPECIAL_START: "启动特别程序",
    A.SPECIAL_END: "结束特别程序",
    A.APPROVE: "办结（通过）",
    A.APPROVE_PENDING: "容缺办结",
    A.REJECT: "办结（不通过）",
    A.RETRACT: "撤回",
    A.REVOKE: "撤销",
    A.DELIVER: "登记领取或送达",
}

# How a closed case is described in "该办件{phrase}，不能再{verb}".
CLOSED_PHRASES_ZH: dict[Stage, str] = {
    S.WITHDRAWN: "已撤件",
    S.DECLINED: "已作不受理处理",
    S.REFUSED: "已不予受理",
    S.APPROVED: "已办结",
    S.APPROVED_PENDING: "已办结",
    S.REJECTED: "已办结",
    S.DELIVERED: "已办结并送达",
    S.RETRACTED: "已撤回",
    S.REVOKED: "已撤销",
}

REASONS_ZH = {
    "closed": "该办件{phrase}，不能再{verb}。如需继续办理，请重新提交申请。",
    "stage": "该办件当前是“{label}”，不能{verb}。现在可以：{allowed}。",
    "stage_nothing": "该办件当前是“{label}”，不能{verb}。",
    "new": "该办件还没有接件，只能先接件。",
    "role": "{role}不能{verb}，请由{who}办理。",
    "role_nobody": "{role}不能{verb}。",
    "unknown_role": "未知的角色“{role}”，请用 station、officer、head、system 或 admin。",
    "unknown_action": "未知的操作“{action}”。",
    "missing": "缺少必填项“{label}”（{field}），请填写后再提交。",
    "unknown_field": "不认识的填写项“{field}”，请删去后再提交。",
    "not_text": "“{label}”（{field}）应填写文字。",
    "too_long": "“{label}”（{field}）太长，最多{limit}个字。",
    "not_int": "“{label}”（{field}）应填写不小于{minimum}的整数。",
    "not_list": "“{label}”（{field}）应是材料编号的清单，至少一项。",
    "not_mapping": "“{label}”（{field}）应是“材料编号: 材料名称”的对照表。",
    "not_date": "“{label}”（{field}）应是日期，格式如 2026-12-31。",
    "not_choice": "“{label}”（{field}）只能是：{choices}。",
    "bad_id": "“{label}”（{field}）不正确：{reason}",
}

# Reasons for specific stage/action pairs, where the generic sentence would not say
# what to do instead.
SPECIFIC_REASONS_ZH: dict[tuple[Stage, Action], str] = {
    **{
        (stage, A.WITHDRAW): "该办件已受理，不能撤件；申请人不再办理的，请办理“撤回”并写明理由。"
        for stage in (S.ACCEPTED, S.SUPPLEMENT, S.SUPPLIED, S.PROCESSING, S.SPECIAL,
                      S.SPECIAL_ENDED)
    },
    **{
        (stage, A.RETRACT): "该办件尚未受理，申请人不再办理的，请办理“撤件”。"
        for stage in (S.RECEIVED, S.PRE_SUPPLEMENT, S.PRE_SUPPLIED)
    },
    **{
        (stage, A.REQUEST_SUPPLEMENT): "该办件正在等待补正材料，请等材料交来后再提出新的补正要求。"
        for stage in (S.PRE_SUPPLEMENT, S.SUPPLEMENT)
    },
    **{
        (stage, action): "该办件正在特别程序中，请先结束特别程序再继续办理。"
        for stage in (S.SPECIAL,)
        for action in (*_DECIDE, A.REQUEST_SUPPLEMENT, A.START_PROCESSING, A.SPECIAL_START)
    },
    **{
        (stage, A.DELIVER): "该办件还没有办结，办结后才能登记领取或送达。"
        for stage in (S.RECEIVED, S.PRE_SUPPLEMENT, S.PRE_SUPPLIED, S.ACCEPTED, S.SUPPLEMENT,
                      S.SUPPLIED, S.PROCESSING, S.SPECIAL, S.SPECIAL_ENDED)
    },
    (S.DELIVERED, A.DELIVER): "该办件的结果已经领取或送达，不能重复登记。",
    **{
        (stage, action): "该办件尚未受理，请先受理再办理。"
        for stage in (S.RECEIVED, S.PRE_SUPPLIED)
        for action in (*_DECIDE, A.START_PROCESSING, A.SPECIAL_START)
    },
    **{
        (stage, action): "该办件还在等待补正材料，材料交来并登记后才能继续。"
        for stage in (S.PRE_SUPPLEMENT,)
        for action in (A.ACCEPT, *_DECIDE, A.START_PROCESSING, A.SPECIAL_START)
    },
    **{
        (stage, action): "该办件还在等待补正材料，材料交来并登记后才能继续办理。"
        for stage in (S.SUPPLEMENT,)
        for action in (A.APPROVE, A.APPROVE_PENDING, A.START_PROCESSING, A.SPECIAL_START)
    },
    **{
        (stage, A.ACCEPT): "该办件已经受理，不能重复受理。"
        for stage in (S.ACCEPTED, S.SUPPLEMENT, S.SUPPLIED, S.PROCESSING, S.SPECIAL,
                      S.SPECIAL_ENDED)
    },
    **{
        (stage, A.SUPPLEMENT_RECEIVED): "该办件没有待补正的材料，不需要登记补正材料。"
        for stage in (S.RECEIVED, S.PRE_SUPPLIED, S.ACCEPTED, S.SUPPLIED, S.PROCESSING,
                      S.SPECIAL, S.SPECIAL_ENDED)
    },
}

# SMS texts (zh_CN). Every text starts with 【村办】 and names the case number; optional
# parts are filled from PARTS_ZH only when the payload has the value.
SMS_ZH: dict[Lifecycle, str] = {
    L.RECEIVED: (
        "【村办】您的“{item}”申请已报送县里，办件编号{case}。"
        "部门审核后会再发短信告诉您结果。"
    ),
    L.WITHDRAWN: (
        "【村办】您的“{item}”申请（办件编号{case}）已撤件，不再办理。"
        "如需办理，请到村便民服务站重新申请。"
    ),
    L.ACCEPTED: (
        "【村办】您的“{item}”申请已受理，"
        "办件编号{case}{password}。"
        "{promise}可在村便民服务站凭编号查询进度。"
    ),
    L.DECLINED: (
        "【村办】您的“{item}”申请（办件编号{case}）不属于本部门办理，"
        "原因：{reason}。"
        "{office}"
    ),
    L.REFUSED: (
        "【村办】您的“{item}”申请（办件编号{case}）不予受理，原因："
        "{reason}。如有异议，可在收到通知之日起60日内申请行政复议，"
        "或6个月内提起行政诉讼。"
    ),
    L.SUPPLEMENT_REQUESTED: (
        "【村办】您的“{item}”申请（办件编号{case}）还需补正材料："
        "{materials}。"
        "{note}请带齐以上材料和身份证到{place}补交{due}。"
    ),
    L.SUPPLEMENT_RECEIVED: (
        "【村办】您补交的材料已收到（办件编号{case}，{item}），"
        "部门将继续办理，请等待短信通知。"
    ),
    L.PROCESSING: (
        "【村办】您的“{item}”申请（办件编号{case}）部门已开始办理，"
        "请耐心等待，办结后会发短信通知您。"
    ),
    L.SPECIAL_STARTED: (
        "【村办】您的“{item}”申请（办件编号{case}）需要{kind}（{reason}），"
        "预计{expected_days}个工作日，这段时间不计入办理时限。"
        "需要您配合时工作人员会联系您。"
    ),
    L.SPECIAL_ENDED: (
        "【村办】您的“{item}”申请（办件编号{case}）{kind}已结束，"
        "部门继续办理，办结后会发短信通知您。"
    ),
    L.APPROVED: (
        "【村办】您的“{item}”申请（办件编号{case}）已办结，"
        "审核通过{document}。请带身份证到{pickup}领取{when}。"
    ),
    L.APPROVED_PENDING: (
        "【村办】您的“{item}”申请（办件编号{case}）已容缺办结，"
        "审核通过{document}，但还需补交：{owed}。"
        "请带身份证和以上材料到{pickup}领取并补交{due}。"
    ),
    L.REJECTED: (
        "【村办】您的“{item}”申请（办件编号{case}）审核未通过，原因："
        "{reason}。请带身份证到{pickup}领取不予许可决定书；如有异议，"
        "可在60日内申请行政复议，或6个月内提起行政诉讼。"
    ),
    L.RETRACTED: (
        "【村办】您已撤回“{item}”申请（办件编号{case}），原因："
        "{reason}。部门不再办理，如需办理请重新申请。"
    ),
    L.REVOKED: (
        "【村办】您的“{item}”办件（办件编号{case}）已被撤销，原因："
        "{reason}。如有异议，可在60日内申请行政复议，"
        "或6个月内提起行政诉讼。"
    ),
    L.DELIVERED: (
        "【村办】您的“{item}”办理结果（办件编号{case}）{how}。"
        "如有疑问请到村便民服务站咨询。"
    ),
}

PARTS_ZH = {
    "password": "，查询密码{query_password}",
    "promise": "承诺{promised_days}个工作日内办结。",
    "promise_now": "当日办结。",
    "office": "请到{suggested_office}申请。",
    "office_default": "请到村便民服务站问清办理地方后再申请。",
    "place_default": "村便民服务站",
    "due": "（{due_days}个工作日内）",
    "kind_default": "特别程序",
    "document": "，发放{document_name}",
    "document_number": "（编号{document_number}）",
    "pickup_default": "村便民服务站",
    "when": "，领取时间{pickup_time}",
    "how_station": "已由{collector}在村便民服务站领取",
    "how_post": "已邮寄送达{tracking}",
    "tracking": "，邮件号{tracking_number}",
    "how_electronic": "已以电子证照方式送达，可在政务服务平台查看",
    "proxy": "本件由代办员{proxy}代办，有事可找代办员。",
}


# ---------------------------------------------------------------------------------------
# Payload fields per action.


@dataclass(frozen=True)
class FieldSpec:
    """One payload field: its key, the Chinese label used in messages, and its kind."""

    name: str
    label: str
    kind: str  # text | int | codes | names | date | choice | id_number
    required: bool = False
    minimum: int = 0
    choices: tuple[str, ...] = ()


def _text(name: str, label: str, required: bool = False) -> FieldSpec:
    return FieldSpec(name, label, "text", required)


_NOTE = _text("note", "备注")
_DOCUMENT = (
    _text("document_name", "证照名称"),
    _text("document_number", "证照编号"),
    FieldSpec("valid_until", "有效期至", "date"),
    _text("issuer", "发证机关"),
    _text("pickup_place", "领取地点"),
    _text("pickup_time", "领取时间"),
)
DELIVERY_METHODS = ("station", "post", "electronic")

FIELDS: dict[Action, tuple[FieldSpec, ...]] = {
    A.RECEIVE: (_NOTE,),
    A.WITHDRAW: (_text("reason", "撤件原因"), _NOTE),
    A.ACCEPT: (
        _text("receipt_number", "受理回执号"),
        _text("query_password", "查询密码"),
        FieldSpec("promised_days", "承诺办结时限（工作日）", "int"),
        FieldSpec("legal_days", "法定办结时限（工作日）", "int"),
        _text("fee", "收费"),
        _NOTE,
    ),
    A.DECLINE: (_text("reason", "不受理的理由", True), _text("suggested_office", "应去办理的部门"),
                _NOTE),
    A.REFUSE: (_text("reason", "不予受理的理由", True), _text("legal_basis", "依据"), _NOTE),
    A.REQUEST_SUPPLEMENT: (
        FieldSpec("materials", "需补正的材料编号", "codes", True),
        _text("note", "一次性告知说明", True),
        FieldSpec("material_names", "材料名称", "names"),
        _text("place", "补交地点"),
        FieldSpec("due_days", "补正期限（工作日）", "int", minimum=1),
    ),
    A.SUPPLEMENT_RECEIVED: (FieldSpec("materials", "收到的材料编号", "codes"), _NOTE),
    A.START_PROCESSING: (_NOTE,),
    A.SPECIAL_START: (
        _text("reason", "特别程序的理由", True),
        FieldSpec("expected_days", "预计工作日", "int", True, minimum=1),
        _text("kind", "特别程序种类（如听证、检验、专家评审、现场勘验）"),
        _NOTE,
    ),
    A.SPECIAL_END: (_text("kind", "特别程序种类"), _text("result", "结论"), _NOTE),
    A.APPROVE: (*_DOCUMENT, _NOTE),
    A.APPROVE_PENDING: (
        FieldSpec("owed_materials", "容缺后补的材料编号", "codes", True),
        FieldSpec("material_names", "材料名称", "names"),
        FieldSpec("due_days", "补交期限（工作日）", "int", minimum=1),
        *_DOCUMENT,
        _NOTE,
    ),
    A.REJECT: (_text("reason", "不予许可的理由", True), _text("legal_basis", "依据"),
               _text("pickup_place", "决定书领取地点"), _NOTE),
    A.RETRACT: (_text("reason", "撤回原因", True), _NOTE),
    A.REVOKE: (_text("reason", "撤销原因", True), _text("legal_basis", "依据"), _NOTE),
    A.DELIVER: (
        _text("collector_name", "领取人姓名", True),
        FieldSpec("collector_id_number", "领取人身份证号", "id_number", True),
        FieldSpec("method", "领取方式", "choice", True, choices=DELIVERY_METHODS),
        _text("tracking_number", "邮件号"),
        _NOTE,
    ),
}

TEXT_LIMIT = 500


class IllegalTransition(Exception):
    """An action that is not allowed now; `reason` is a plain Chinese sentence."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Transition:
    """An allowed step: the code to record, the action, and the normalised payload."""

    code: Lifecycle
    action: Action
    payload: dict[str, Any]

    @property
    def payload_normalised(self) -> dict[str, Any]:
        """The payload after validation (same object as `payload`)."""
        return self.payload


def is_terminal(code: int) -> bool:
    """True for codes after which the case is closed (only 送达/撤销 may follow 办结)."""
    return code in TERMINAL


def is_finished(code: int) -> bool:
    """True for 办结 (11, 12, 13)."""
    return code in FINISHED


def applicant_can_see(code: int) -> bool:
    """Whether the applicant is shown this event (progress lookup, SMS).

    Every national code is public progress for the applicant's own case (政务服务办件
    进度公开), and so is 送达; codes this module does not know are not shown.
    """
    return code in Lifecycle._value2member_map_


def was_accepted(codes: Iterable[int]) -> bool:
    """True once the history contains 已受理 (3)."""
    return Lifecycle.ACCEPTED in {int(c) for c in codes}


def stage_of(current: Lifecycle | int | None, accepted: bool | None = None) -> Stage:
    """The stage for a current code; codes 6 and 7 need `accepted` to be known."""
    if current is None:
        return S.NEW
    code = Lifecycle(int(current))
    if code in (L.SUPPLEMENT_REQUESTED, L.SUPPLEMENT_RECEIVED):
        if accepted is None:
            raise ValueError(
                "codes 6 and 7 occur before and after acceptance: pass accepted= "
                "(see was_accepted)"
            )
        if code == L.SUPPLEMENT_REQUESTED:
            return S.SUPPLEMENT if accepted else S.PRE_SUPPLEMENT
        return S.SUPPLIED if accepted else S.PRE_SUPPLIED
    return _STAGE_OF[code]


def allowed_actions(
    current: Lifecycle | int | None, role: str, accepted: bool | None = None
) -> list[Action]:
    """The actions `role` may take now, in the order of `Action` (for workbench buttons)."""
    permitted = TRANSITIONS[stage_of(current, accepted)] & ROLE_ACTIONS.get(role, frozenset())
    return [a for a in Action if a in permitted]


def _who_may(action: Action) -> str:
    roles = [ROLE_LABELS_ZH[r] for r, acts in ROLE_ACTIONS.items() if action in acts]
    return "或".join(roles)


def _refusal(stage: Stage, action: Action, current: Lifecycle | int | None) -> str:
    verb = ACTION_VERBS_ZH[action]
    specific = SPECIFIC_REASONS_ZH.get((stage, action))
    if specific:
        return specific
    if stage == S.NEW:
        return REASONS_ZH["new"]
    if stage in CLOSED_PHRASES_ZH:
        return REASONS_ZH["closed"].format(phrase=CLOSED_PHRASES_ZH[stage], verb=verb)
    label = Lifecycle(int(current)).label if current is not None else ""
    allowed = [ACTION_VERBS_ZH[a] for a in Action if a in TRANSITIONS[stage]]
    if not allowed:
        return REASONS_ZH["stage_nothing"].format(label=label, verb=verb)
    return REASONS_ZH["stage"].format(label=label, verb=verb, allowed="、".join(allowed))


def transition(
    current: Lifecycle | int | None,
    action: Action | str,
    role: str,
    payload: Mapping[str, Any] | None = None,
    *,
    accepted: bool | None = None,
) -> Transition:
    """Check one action against the table, the role and the required fields.

    `current` is the latest lifecycle code (None for a case not yet received);
    `accepted` must be given when `current` is 6 or 7. Returns the `Transition` to record;
    raises `IllegalTransition` with a plain Chinese reason when the state, the role or the
    payload does not allow it.
    """
    try:
        action = Action(action)
    except ValueError:
        raise IllegalTransition(REASONS_ZH["unknown_action"].format(action=action)) from None
    if role not in ROLE_ACTIONS:
        raise IllegalTransition(REASONS_ZH["unknown_role"].format(role=role))
    stage = stage_of(current, accepted)
    if action not in TRANSITIONS[stage]:
        raise IllegalTransition(_refusal(stage, action, current))
    if action not in ROLE_ACTIONS[role]:
        who = _who_may(action)
        key = "role" if who else "role_nobody"
        raise IllegalTransition(
            REASONS_ZH[key].format(role=ROLE_LABELS_ZH[role], verb=ACTION_VERBS_ZH[action],
                                   who=who)
        )
    return Transition(TARGET[action], action, normalise_payload(action, payload or {}))


def normalise_payload(action: Action, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `payload` for `action`: required fields present, types checked, text
    stripped, material lists de-duplicated, dates as ISO strings, unknown keys refused."""
    specs = {spec.name: spec for spec in FIELDS[Action(action)]}
    for key in payload:
        if key not in specs:
            raise IllegalTransition(REASONS_ZH["unknown_field"].format(field=key))
    result: dict[str, Any] = {}
    for spec in specs.values():
        value = payload.get(spec.name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == [] or value == {}:
            if spec.required:
                raise IllegalTransition(
                    REASONS_ZH["missing"].format(label=spec.label, field=spec.name)
                )
            continue
        result[spec.name] = _normalise_value(spec, value)
    return result


def _normalise_value(spec: FieldSpec, value: Any) -> Any:
    fmt = {"label": spec.label, "field": spec.name}
    if spec.kind == "text":
        if not isinstance(value, str):
            raise IllegalTransition(REASONS_ZH["not_text"].format(**fmt))
        if len(value) > TEXT_LIMIT:
            raise IllegalTransition(REASONS_ZH["too_long"].format(limit=TEXT_LIMIT, **fmt))
        return value
    if spec.kind == "int":
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < spec.minimum:
            raise IllegalTransition(REASONS_ZH["not_int"].format(minimum=spec.minimum, **fmt))
        return value
    if spec.kind == "codes":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise IllegalTransition(REASONS_ZH["not_list"].format(**fmt))
        codes = list(dict.fromkeys(v.strip() for v in value if v.strip()))
        if not codes:
            raise IllegalTransition(REASONS_ZH["not_list"].format(**fmt))
        return codes
    if spec.kind == "names":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise IllegalTransition(REASONS_ZH["not_mapping"].format(**fmt))
        return {k.strip(): v.strip() for k, v in value.items()}
    if spec.kind == "date":
        if isinstance(value, date):
            return value.isoformat()
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise IllegalTransition(REASONS_ZH["not_date"].format(**fmt)) from None
    if spec.kind == "choice":
        if value not in spec.choices:
            raise IllegalTransition(
                REASONS_ZH["not_choice"].format(choices="、".join(spec.choices), **fmt)
            )
        return value
    if spec.kind == "id_number":
        try:
            # date.max: the transition stays a pure function of its inputs; the kiosk's
            # card reader has already checked the birth date against today.
            return parse_id_number(str(value), today=date.max).value
        except InvalidIdNumber as exc:
            raise IllegalTransition(REASONS_ZH["bad_id"].format(reason=exc.reason, **fmt)) from None
    raise ValueError(f"unknown field kind {spec.kind}")


# ---------------------------------------------------------------------------------------
# SMS


def _sentence(text: str) -> str:
    """`text` ending with a full stop, or empty."""
    text = text.strip()
    if not text or text[-1] in "。！？!?.":
        return text
    return text + "。"


def _materials(codes: list[str], names: Mapping[str, str] | None) -> str:
    names = names or {}
    return "、".join(names.get(code, code) for code in codes)


class _Values(dict):
    """Template values computed on first use: `{name: () -> value}`."""

    def __getitem__(self, key):
        return super().__getitem__(key)()


def status_text(
    code: Lifecycle | int,
    item_name: str,
    case_number: str,
    payload: Mapping[str, Any] | None = None,
    proxy_officer: str | None = None,
) -> str:
    """The SMS to the applicant for one recorded transition.

    `payload` is the normalised payload of that transition. The text starts with 【村办】,
    names the case number and says what to do next; when a proxy officer (代办员) filed
    the case their name is added so the applicant knows whom to ask.
    """
    code = Lifecycle(int(code))
    p = dict(payload or {})
    parts = PARTS_ZH

    def part(key: str, field: str | None = None) -> str:
        if field is not None and not p.get(field):
            return ""
        return parts[key].format(**p)

    def how() -> str:
        method = p.get("method")
        if method == "post":
            return parts["how_post"].format(tracking=part("tracking", "tracking_number"))
        if method == "electronic":
            return parts["how_electronic"]
        return parts["how_station"].format(
            collector=mask_name(p.get("collector_name", "")) or "本人")

    # Each value is worked out only if the code's template names it.
    values = _Values({
        "item": lambda: item_name,
        "case": lambda: case_number,
        "reason": lambda: str(p.get("reason", "")).rstrip("。."),
        "password": lambda: part("password", "query_password"),
        "promise": lambda: ("" if "promised_days" not in p else parts["promise_now"]
                            if p["promised_days"] == 0 else part("promise")),
        "office": lambda: part("office", "suggested_office") or parts["office_default"],
        "note": lambda: _sentence(p.get("note", "")),
        "materials": lambda: _materials(p.get("materials", []), p.get("material_names")),
        "owed": lambda: _materials(p.get("owed_materials", []), p.get("material_names")),
        "place": lambda: p.get("place") or parts["place_default"],
        "due": lambda: part("due", "due_days"),
        "kind": lambda: p.get("kind") or parts["kind_default"],
        "expected_days": lambda: p.get("expected_days", ""),
        "document": lambda: (part("document", "document_name")
                             + part("document_number", "document_number")),
        "pickup": lambda: p.get("pickup_place") or parts["pickup_default"],
        "when": lambda: part("when", "pickup_time"),
        "how": how,
    })
    text = SMS_ZH[code].format_map(values)
    if proxy_officer:
        text += parts["proxy"].format(proxy=proxy_officer.strip())
    return text
