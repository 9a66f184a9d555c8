"""The 办件 lifecycle: the transition table, roles, required fields and the SMS texts."""

from __future__ import annotations

import re

import pytest

from hub.workflow import (
    FIELDS,
    ROLE_ACTIONS,
    SPECIFIC_REASONS_ZH,
    TRANSITIONS,
    Action,
    IllegalTransition,
    Lifecycle,
    Stage,
    allowed_actions,
    applicant_can_see,
    is_finished,
    is_terminal,
    stage_of,
    status_text,
    transition,
    was_accepted,
)

L, A, S = Lifecycle, Action, Stage
ID = "411381198001010023"  # valid GB 11643 check character
CJK = re.compile(r"[\u4e00-\u9fff]")

# A minimal valid payload for every action.
VALID = {
    A.RECEIVE: {},
    A.WITHDRAW: {},
    A.ACCEPT: {"query_password": "4821", "promised_days": 5},
    A.DECLINE: {"reason": "该事项由乡镇办理"},
    A.REFUSE: {"reason": "申请人不符合申请条件"},
    A.REQUEST_SUPPLEMENT: {"materials": ["M01"], "note": "户口簿复印件不清晰"},
    A.SUPPLEMENT_RECEIVED: {},
    A.START_PROCESSING: {},
    A.SPECIAL_START: {"reason": "需要现场勘验", "expected_days": 5},
    A.SPECIAL_END: {},
    A.APPROVE: {},
    A.APPROVE_PENDING: {"owed_materials": ["M03"]},
    A.REJECT: {"reason": "不符合规划"},
    A.RETRACT: {"reason": "申请人不再需要"},
    A.REVOKE: {"reason": "以欺骗手段取得许可"},
    A.DELIVER: {"collector_name": "李秀英", "collector_id_number": ID, "method": "station"},
}

# Each stage as (current code, accepted) for transition().
STAGE_INPUT = {
    S.NEW: (None, None),
    S.RECEIVED: (L.RECEIVED, False),
    S.PRE_SUPPLEMENT: (L.SUPPLEMENT_REQUESTED, False),
    S.PRE_SUPPLIED: (L.SUPPLEMENT_RECEIVED, False),
    S.ACCEPTED: (L.ACCEPTED, True),
    S.SUPPLEMENT: (L.SUPPLEMENT_REQUESTED, True),
    S.SUPPLIED: (L.SUPPLEMENT_RECEIVED, True),
    S.PROCESSING: (L.PROCESSING, True),
    S.SPECIAL: (L.SPECIAL_STARTED, True),
    S.SPECIAL_ENDED: (L.SPECIAL_ENDED, True),
    S.APPROVED: (L.APPROVED, True),
    S.APPROVED_PENDING: (L.APPROVED_PENDING, True),
    S.REJECTED: (L.REJECTED, True),
    S.DELIVERED: (L.DELIVERED, True),
    S.WITHDRAWN: (L.WITHDRAWN, False),
    S.DECLINED: (L.DECLINED, False),
    S.REFUSED: (L.REFUSED, False),
    S.RETRACTED: (L.RETRACTED, True),
    S.REVOKED: (L.REVOKED, True),
}


# The code each action records (DOMAIN.md), written out by hand.
EXPECTED_CODE = {
    A.RECEIVE: 1, A.WITHDRAW: 2, A.ACCEPT: 3, A.DECLINE: 4, A.REFUSE: 5,
    A.REQUEST_SUPPLEMENT: 6, A.SUPPLEMENT_RECEIVED: 7, A.START_PROCESSING: 8,
    A.SPECIAL_START: 9, A.SPECIAL_END: 10, A.APPROVE: 11, A.APPROVE_PENDING: 12,
    A.REJECT: 13, A.RETRACT: 14, A.REVOKE: 15, A.DELIVER: 16,
}


def role_for(action: Action) -> str:
    return next(r for r in ("station", "officer", "head", "system") if action in ROLE_ACTIONS[r])


# Written out by hand from DOMAIN.md, independent of the module's table.
JOURNEYS = [
    (None, None, A.RECEIVE, "system", L.RECEIVED),
    (None, None, A.RECEIVE, "station", L.RECEIVED),
    (L.RECEIVED, False, A.ACCEPT, "officer", L.ACCEPTED),
    (L.RECEIVED, False, A.WITHDRAW, "station", L.WITHDRAWN),
    (L.RECEIVED, False, A.DECLINE, "officer", L.DECLINED),
    (L.RECEIVED, False, A.REFUSE, "head", L.REFUSED),
    (L.RECEIVED, False, A.REQUEST_SUPPLEMENT, "officer", L.SUPPLEMENT_REQUESTED),  # 预审
    (L.SUPPLEMENT_REQUESTED, False, A.SUPPLEMENT_RECEIVED, "station", L.SUPPLEMENT_RECEIVED),
    (L.SUPPLEMENT_RECEIVED, False, A.ACCEPT, "officer", L.ACCEPTED),
    (L.SUPPLEMENT_RECEIVED, False, A.REQUEST_SUPPLEMENT, "officer", L.SUPPLEMENT_REQUESTED),
    (L.ACCEPTED, True, A.START_PROCESSING, "officer", L.PROCESSING),
    (L.ACCEPTED, True, A.APPROVE, "officer", L.APPROVED),  # 即办件
    (L.ACCEPTED, True, A.RETRACT, "station", L.RETRACTED),
    (L.PROCESSING, True, A.REQUEST_SUPPLEMENT, "officer", L.SUPPLEMENT_REQUESTED),
    (L.SUPPLEMENT_REQUESTED, True, A.SUPPLEMENT_RECEIVED, "station", L.SUPPLEMENT_RECEIVED),
    (L.SUPPLEMENT_RECEIVED, True, A.START_PROCESSING, "officer", L.PROCESSING),
    (L.PROCESSING, True, A.SPECIAL_START, "officer", L.SPECIAL_STARTED),
    (L.SPECIAL_STARTED, True, A.SPECIAL_END, "officer", L.SPECIAL_ENDED),
    (L.SPECIAL_ENDED, True, A.APPROVE_PENDING, "officer", L.APPROVED_PENDING),
    (L.PROCESSING, True, A.REJECT, "officer", L.REJECTED),
    (L.PROCESSING, True, A.REVOKE, "head", L.REVOKED),
    (L.APPROVED, True, A.DELIVER, "station", L.DELIVERED),
    (L.REJECTED, True, A.DELIVER, "station", L.DELIVERED),
    (L.APPROVED, True, A.REVOKE, "head", L.REVOKED),
    (L.DELIVERED, True, A.REVOKE, "head", L.REVOKED),
]


@pytest.mark.parametrize(("current", "accepted", "action", "role", "code"), JOURNEYS, ids=str)
def test_the_usual_steps_of_a_case(current, accepted, action, role, code):
    result = transition(current, action, role, VALID[action], accepted=accepted)
    assert result.code == code
    assert result.action == action


LEGAL = [(stage, action) for stage, actions in TRANSITIONS.items() for action in actions]
ILLEGAL = [
    (stage, action)
    for stage, actions in TRANSITIONS.items()
    for action in Action
    if action not in actions
]


@pytest.mark.parametrize(("stage", "action"), LEGAL, ids=str)
def test_every_transition_in_the_table_works(stage, action):
    current, accepted = STAGE_INPUT[stage]
    result = transition(current, action, role_for(action), VALID[action], accepted=accepted)
    assert result.code == EXPECTED_CODE[action]
    assert result.action == action


@pytest.mark.parametrize(("stage", "action"), ILLEGAL, ids=str)
def test_every_transition_outside_the_table_is_refused_in_plain_chinese(stage, action):
    current, accepted = STAGE_INPUT[stage]
    with pytest.raises(IllegalTransition) as info:
        transition(current, action, role_for(action), VALID[action], accepted=accepted)
    reason = info.value.reason
    assert CJK.search(reason) and not re.search(r"[A-Za-z_]{3,}", reason)
    assert reason.endswith("。")


def test_the_table_names_every_stage_and_no_specific_reason_covers_a_legal_step():
    assert set(TRANSITIONS) == set(Stage)
    for stage, action in SPECIFIC_REASONS_ZH:
        assert action not in TRANSITIONS[stage], (stage, action)


@pytest.mark.parametrize(
    ("current", "accepted", "action", "role", "words"),
    [
        (L.APPROVED, True, A.REQUEST_SUPPLEMENT, "officer", "该办件已办结，不能再补正"),
        (L.WITHDRAWN, False, A.ACCEPT, "officer", "该办件已撤件，不能再受理"),
        (L.REVOKED, True, A.DELIVER, "station", "已撤销"),
        (L.ACCEPTED, True, A.WITHDRAW, "station", "请办理“撤回”"),
        (L.RECEIVED, False, A.RETRACT, "station", "请办理“撤件”"),
        (L.SPECIAL_STARTED, True, A.APPROVE, "officer", "请先结束特别程序"),
        (L.PROCESSING, True, A.DELIVER, "station", "办结后才能登记领取"),
        (L.DELIVERED, True, A.DELIVER, "station", "不能重复登记"),
        (L.RECEIVED, False, A.APPROVE, "officer", "请先受理"),
        (L.SUPPLEMENT_REQUESTED, True, A.REQUEST_SUPPLEMENT, "officer", "正在等待补正材料"),
        (L.SUPPLEMENT_REQUESTED, False, A.ACCEPT, "officer", "还在等待补正材料"),
        (L.PROCESSING, True, A.SUPPLEMENT_RECEIVED, "station", "没有待补正的材料"),
        (L.ACCEPTED, True, A.ACCEPT, "officer", "不能重复受理"),
        (None, None, A.ACCEPT, "officer", "只能先接件"),
        (L.PROCESSING, True, A.REFUSE, "officer", "现在可以：补正"),
    ],
    ids=str,
)
def test_illegal_steps_say_why_and_what_to_do(current, accepted, action, role, words):
    with pytest.raises(IllegalTransition) as info:
        transition(current, action, role, VALID[action], accepted=accepted)
    assert words in info.value.reason


@pytest.mark.parametrize(
    ("role", "action", "current", "accepted", "words"),
    [
        (
            "station", A.APPROVE, L.PROCESSING, True,
            "村便民服务站工作人员不能办结（通过），请由部门经办人员或部门负责人办理",
        ),
        ("officer", A.REVOKE, L.APPROVED, True, "请由部门负责人办理"),
        ("officer", A.DELIVER, L.APPROVED, True, "请由村便民服务站工作人员办理"),
        ("system", A.ACCEPT, L.RECEIVED, False, "系统不能受理"),
        ("admin", A.APPROVE, L.PROCESSING, True, "系统管理员不能"),
        ("station", A.REQUEST_SUPPLEMENT, L.PROCESSING, True, "请由部门经办人员或部门负责人办理"),
        ("officer", A.RETRACT, L.PROCESSING, True, "请由村便民服务站工作人员办理"),
    ],
    ids=str,
)
def test_roles_are_checked(role, action, current, accepted, words):
    with pytest.raises(IllegalTransition) as info:
        transition(current, action, role, VALID[action], accepted=accepted)
    assert words in info.value.reason


def test_a_head_can_do_everything_an_officer_can_and_revoke():
    assert ROLE_ACTIONS["officer"] < ROLE_ACTIONS["head"]
    assert ROLE_ACTIONS["head"] - ROLE_ACTIONS["officer"] == {A.REVOKE}
    assert transition(L.APPROVED, A.REVOKE, "head", VALID[A.REVOKE]).code == L.REVOKED
    assert transition(L.RECEIVED, A.ACCEPT, "head", {}, accepted=False).code == L.ACCEPTED


def test_an_unknown_role_or_action_is_refused():
    with pytest.raises(IllegalTransition, match="未知的角色"):
        transition(L.RECEIVED, A.ACCEPT, "mayor", {})
    with pytest.raises(IllegalTransition, match="未知的操作"):
        transition(L.RECEIVED, "stamp", "officer", {})


def test_allowed_actions_for_workbench_buttons():
    assert allowed_actions(L.RECEIVED, "officer") == [
        A.ACCEPT, A.DECLINE, A.REFUSE, A.REQUEST_SUPPLEMENT
    ]
    assert allowed_actions(L.RECEIVED, "station") == [A.WITHDRAW]
    assert allowed_actions(L.APPROVED, "station") == [A.DELIVER]
    assert allowed_actions(L.APPROVED, "head") == [A.REVOKE]
    assert allowed_actions(L.REFUSED, "head") == []
    assert allowed_actions(L.PROCESSING, "admin") == []


REQUIRED = [
    (action, spec.name, spec.label)
    for action, specs in FIELDS.items()
    for spec in specs
    if spec.required
]


@pytest.mark.parametrize(("action", "field", "label"), REQUIRED, ids=str)
def test_a_missing_required_field_is_named(action, field, label):
    stage = next(s for s, acts in TRANSITIONS.items() if action in acts)
    current, accepted = STAGE_INPUT[stage]
    payload = {k: v for k, v in VALID[action].items() if k != field}
    with pytest.raises(IllegalTransition) as info:
        transition(current, action, role_for(action), payload, accepted=accepted)
    assert f"“{label}”（{field}）" in info.value.reason
    blank = {**VALID[action], field: "  "}
    with pytest.raises(IllegalTransition):
        transition(current, action, role_for(action), blank, accepted=accepted)


def test_the_required_fields_are_the_ones_the_process_needs():
    needed = {(a, f) for a, f, _ in REQUIRED}
    assert (A.REFUSE, "reason") in needed
    assert (A.REQUEST_SUPPLEMENT, "materials") in needed
    assert (A.REQUEST_SUPPLEMENT, "note") in needed
    assert (A.SPECIAL_START, "expected_days") in needed
    assert (A.APPROVE_PENDING, "owed_materials") in needed
    assert {(A.DELIVER, f) for f in ("collector_name", "collector_id_number", "method")} <= needed


@pytest.mark.parametrize(
    ("action", "current", "accepted", "payload", "words"),
    [
        (A.REFUSE, L.RECEIVED, False, {"reason": "x", "whatever": 1}, "不认识的填写项“whatever”"),
        (A.REQUEST_SUPPLEMENT, L.PROCESSING, True, {"materials": [], "note": "x"}, "materials"),
        (A.REQUEST_SUPPLEMENT, L.PROCESSING, True, {"materials": "M01", "note": "x"}, "清单"),
        (A.REQUEST_SUPPLEMENT, L.PROCESSING, True, {"materials": [" "], "note": "x"}, "至少一项"),
        (A.SPECIAL_START, L.PROCESSING, True, {"reason": "x", "expected_days": 0}, "不小于1"),
        (A.SPECIAL_START, L.PROCESSING, True, {"reason": "x", "expected_days": True}, "整数"),
        (A.ACCEPT, L.RECEIVED, False, {"promised_days": "five"}, "整数"),
        (A.APPROVE, L.PROCESSING, True, {"valid_until": "2026-13-01"}, "日期"),
        (A.REFUSE, L.RECEIVED, False, {"reason": "很长" * 300}, "太长"),
        (A.REFUSE, L.RECEIVED, False, {"reason": 42}, "应填写文字"),
        (A.DELIVER, L.APPROVED, True, {**VALID[A.DELIVER], "method": "fax"}, "station、post"),
        (
            A.DELIVER,
            L.APPROVED,
            True,
            {**VALID[A.DELIVER], "collector_id_number": ID[:-1] + "4"},
            "校验位不正确",
        ),
        (A.REQUEST_SUPPLEMENT, L.PROCESSING, True,
         {"materials": ["M01"], "note": "x", "material_names": ["M01"]}, "对照表"),
    ],
    ids=str,
)
def test_bad_field_values_are_refused_with_the_field_named(
    action, current, accepted, payload, words
):
    role = role_for(action)
    with pytest.raises(IllegalTransition) as info:
        transition(current, action, role, payload, accepted=accepted)
    assert words in info.value.reason


def test_payloads_are_normalised():
    supplement = transition(
        L.PROCESSING,
        A.REQUEST_SUPPLEMENT,
        "officer",
        {"materials": [" M01", "M02", "M01"], "note": "  复印件不清晰 ", "due_days": "5"},
    )
    assert supplement.payload == {
        "materials": ["M01", "M02"], "note": "复印件不清晰", "due_days": 5
    }
    assert supplement.payload_normalised is supplement.payload
    approved = transition(
        L.PROCESSING, A.APPROVE, "officer", {"valid_until": "2031-06-30", "note": ""}
    )
    assert approved.payload == {"valid_until": "2031-06-30"}
    delivered = transition(
        L.APPROVED, A.DELIVER, "station",
        {**VALID[A.DELIVER], "collector_id_number": " 41138119900215105x "},
    )
    assert delivered.payload["collector_id_number"] == "41138119900215105X"


def test_supplement_codes_need_to_know_whether_the_case_was_accepted():
    with pytest.raises(ValueError, match="accepted"):
        transition(L.SUPPLEMENT_REQUESTED, A.SUPPLEMENT_RECEIVED, "station", {})
    assert was_accepted([1, 3, 8, 6])
    assert not was_accepted([1, 6, 7])
    assert stage_of(6, was_accepted([1, 6])) == S.PRE_SUPPLEMENT
    assert stage_of(6, was_accepted([1, 3, 6])) == S.SUPPLEMENT


def test_terminal_and_finished_codes():
    assert {c for c in Lifecycle if is_terminal(c)} == {2, 4, 5, 11, 12, 13, 14, 15, 16}
    assert {c for c in Lifecycle if is_finished(c)} == {11, 12, 13}
    assert all(applicant_can_see(c) for c in Lifecycle)
    assert not applicant_can_see(99)


def test_labels_are_the_national_names():
    assert [c.value for c in Lifecycle] == list(range(1, 17))
    assert L.SUPPLEMENT_REQUESTED.label == "补正（开始）"
    assert L.APPROVED_PENDING.label == "办结（容缺通过）"
    assert L.DECLINED.label == "不受理" and L.REFUSED.label == "不予受理"


# ---- SMS ---------------------------------------------------------------------------

CASE = "XK0001200041138120261127000001"
ITEM = "农村宅基地审批"
SMS_PAYLOADS = {
    L.RECEIVED: {},
    L.WITHDRAWN: {},
    L.ACCEPTED: {"query_password": "4821", "promised_days": 5},
    L.DECLINED: {"reason": "该事项由乡镇办理", "suggested_office": "镇便民服务中心"},
    L.REFUSED: {"reason": "申请人不符合申请条件。"},
    L.SUPPLEMENT_REQUESTED: {
        "materials": ["M01", "M02"],
        "material_names": {"M01": "户口簿复印件", "M02": "宅基地四至示意图"},
        "note": "复印件不清晰",
        "place": "张村便民服务站",
        "due_days": 5,
    },
    L.SUPPLEMENT_RECEIVED: {},
    L.PROCESSING: {},
    L.SPECIAL_STARTED: {"reason": "需核实四至", "expected_days": 5, "kind": "现场勘验"},
    L.SPECIAL_ENDED: {"kind": "现场勘验"},
    L.APPROVED: {
        "document_name": "农村宅基地批准书",
        "document_number": "豫邓2026-0012",
        "pickup_place": "张村便民服务站",
        "pickup_time": "工作日8:30至17:30",
    },
    L.APPROVED_PENDING: {
        "owed_materials": ["M03"],
        "material_names": {"M03": "村民小组意见"},
        "due_days": 10,
    },
    L.REJECTED: {"reason": "不符合国土空间规划"},
    L.RETRACTED: {"reason": "申请人不再需要"},
    L.REVOKED: {"reason": "以欺骗手段取得批准"},
    L.DELIVERED: {"collector_name": "李秀英", "collector_id_number": ID, "method": "station"},
}

PURPOSE = {
    L.RECEIVED: ["报送"],
    L.WITHDRAWN: ["已撤件", "重新申请"],
    L.ACCEPTED: ["已受理", "查询密码4821", "承诺5个工作日内办结"],
    L.DECLINED: ["不属于本部门", "该事项由乡镇办理", "请到镇便民服务中心申请"],
    L.REFUSED: ["不予受理", "原因：申请人不符合申请条件。如有异议", "行政复议", "行政诉讼"],
    L.SUPPLEMENT_REQUESTED: ["户口簿复印件、宅基地四至示意图", "复印件不清晰。", "张村便民服务站",
                             "5个工作日内"],
    L.SUPPLEMENT_RECEIVED: ["已收到", "继续办理"],
    L.PROCESSING: ["开始办理"],
    L.SPECIAL_STARTED: ["现场勘验", "需核实四至", "预计5个工作日", "不计入办理时限"],
    L.SPECIAL_ENDED: ["现场勘验已结束"],
    L.APPROVED: ["审核通过", "发放农村宅基地批准书", "豫邓2026-0012", "张村便民服务站领取",
                 "工作日8:30至17:30", "身份证"],
    L.APPROVED_PENDING: ["容缺", "村民小组意见", "10个工作日内"],
    L.REJECTED: ["未通过", "不符合国土空间规划", "不予许可决定书", "行政复议"],
    L.RETRACTED: ["撤回", "申请人不再需要"],
    L.REVOKED: ["撤销", "以欺骗手段取得批准", "行政复议"],
    L.DELIVERED: ["李*英", "领取"],
}


@pytest.mark.parametrize("code", list(Lifecycle), ids=lambda c: c.label)
def test_every_sms_names_the_case_and_fits_its_purpose(code):
    text = status_text(code, ITEM, CASE, SMS_PAYLOADS[code])
    assert text.startswith("【村办】")
    assert CASE in text and ITEM in text
    assert "{" not in text and "}" not in text
    assert "。。" not in text
    for words in PURPOSE[code]:
        assert words in text, (words, text)
    assert "代办员" not in text


@pytest.mark.parametrize("code", list(Lifecycle), ids=lambda c: c.label)
def test_the_proxy_officer_is_named_when_one_filed_the_case(code):
    text = status_text(code, ITEM, CASE, SMS_PAYLOADS[code], proxy_officer="王建国")
    assert "代办员王建国" in text


def test_the_delivery_sms_masks_the_collector_and_never_shows_the_id_number():
    text = status_text(L.DELIVERED, ITEM, CASE, SMS_PAYLOADS[L.DELIVERED])
    assert "李秀英" not in text and ID not in text
    post = status_text(
        L.DELIVERED, ITEM, CASE, {**SMS_PAYLOADS[L.DELIVERED], "method": "post",
                                  "tracking_number": "1187654321"}
    )
    assert "邮寄" in post and "1187654321" in post
    electronic = status_text(L.DELIVERED, ITEM, CASE, {"method": "electronic"})
    assert "电子证照" in electronic


def test_optional_parts_are_left_out_when_not_given():
    accepted = status_text(L.ACCEPTED, ITEM, CASE, {})
    assert "查询密码" not in accepted and "承诺" not in accepted
    declined = status_text(L.DECLINED, ITEM, CASE, {"reason": "不属本部门"})
    assert "请到村便民服务站问清办理地方" in declined
    on_the_spot = status_text(L.ACCEPTED, ITEM, CASE, {"promised_days": 0})
    assert "当日办结" in on_the_spot
    supplement = status_text(
        L.SUPPLEMENT_REQUESTED, ITEM, CASE, {"materials": ["M09"], "note": "缺少原件"}
    )
    assert "M09" in supplement and "村便民服务站" in supplement and "工作日内" not in supplement


def test_the_sms_of_a_real_transition_uses_its_normalised_payload():
    step = transition(L.PROCESSING, A.REQUEST_SUPPLEMENT, "officer",
                      {**SMS_PAYLOADS[L.SUPPLEMENT_REQUESTED], "materials": ["M01", "M01"]})
    text = status_text(step.code, ITEM, CASE, step.payload)
    assert text.count("户口簿复印件") == 1
