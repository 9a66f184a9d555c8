"""Officer accounts, sessions, CSRF, lockout, roles and isolation on the workbench."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.auth import MAX_FAILED_LOGINS, Accounts, LoginRefused
from tests.web.conftest import PASSWORD, csrf_of, logged_in, login


def test_a_password_is_stored_only_as_an_argon2_hash(hub):
    hub.user("wang", "officer", department="RSJ")
    row = hub.store().officer("wang")
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


def test_login_sets_an_httponly_samesite_session_cookie_and_logout_ends_it(hub):
    hub.user("wang", "officer", department="RSJ")
    client = hub.client()
    response = login(client, "wang")
    assert response.status_code == 303 and response.headers["location"] == "/workbench"
    cookie = response.headers["set-cookie"]
    assert "cunban_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/workbench")
    assert page.status_code == 200
    assert client.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert client.get("/workbench").headers["location"] == "/login"
    assert client.get("/api/applications").status_code == 401


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(hub):
    hub.user("wang", "officer", department="RSJ")
    client = hub.client()
    for _ in range(MAX_FAILED_LOGINS - 1):
        response = login(client, "wang", "wrong password")
        assert response.status_code == 401 and "用户名或密码不对" in response.text
    locked = login(client, "wang", "wrong password")
    assert locked.status_code == 423 and "已锁定" in locked.text
    # The right password does not get in while the lock lasts.
    assert login(client, "wang").status_code == 423
    store = hub.store()
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert Accounts(store).login("wang", PASSWORD, later).actor.department == "RSJ"


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(hub):
    with pytest.raises(LoginRefused) as exc:
        Accounts(hub.store()).login("nobody", "whatever1", datetime.now(UTC))
    assert exc.value.key == "login_failed"


def test_forms_without_the_csrf_token_are_refused(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = hub.client()
    page = client.get("/login")
    bad = client.post("/login", data={"username": "wang", "password": PASSWORD,
                                      "csrf": "forged"})
    assert bad.status_code == 403 and "cunban_session" not in bad.headers.get("set-cookie", "")
    assert csrf_of(page.text)
    client = logged_in(hub, "wang")
    url = f"/workbench/applications/{row['id']}/act"
    assert client.post(url, data={"action": "accept"}).status_code == 403
    assert client.post(url, data={"action": "accept", "csrf": "x" * 43}).status_code == 403
    assert hub.store().application(row["id"])["state"] == 1
    # The API refuses a cookie-authenticated write without the header token.
    api = client.post(f"/api/applications/{row['id']}/actions", json={"action": "accept"})
    assert api.status_code == 403
    assert hub.store().application(row["id"])["state"] == 1


def test_the_api_answers_401_without_a_session(hub):
    row = hub.file()
    client = hub.client()
    assert client.get("/api/applications").status_code == 401
    assert client.get(f"/api/applications/{row['id']}").status_code == 401
    assert client.post(f"/api/applications/{row['id']}/actions",
                       json={"action": "accept"}).status_code == 401
    hub.user("wang", "officer", department=row["department"])
    listed = logged_in(hub, "wang").get("/api/applications").json()["applications"]
    assert [a["id"] for a in listed] == [row["id"]]
    assert listed[0]["applicant"]["name"] == "李*英"


def test_an_officer_accepts_through_the_form_and_the_station_and_sms_are_queued(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = logged_in(hub, "wang")
    page = client.get(f"/workbench/applications/{row['id']}")
    assert page.status_code == 200 and 'data-action="accept"' in page.text
    done = client.post(f"/workbench/applications/{row['id']}/act",
                       data={"csrf": csrf_of(page.text), "action": "accept",
                             "query_password": "8426"})
    assert done.status_code == 303
    store = hub.store()
    assert store.application(row["id"])["state"] == 3
    assert store.application(row["id"])["assigned_officer"] == "wang"
    topics = [r["topic"] for r in store.unsent_outgoing()]
    assert topics[-1].endswith("/application/status")
    assert "已受理" in store.sms_for(row["id"])[-1]["text"]
    entry = store.audit_for(row["case_number"])[-1]
    assert entry["actor"] == "wang" and entry["action"] == "action:accept"
    shown = client.get(done.headers["location"])
    assert "已受理" in shown.text and 'id="done"' in shown.text


def test_a_refusal_without_a_reason_is_explained_and_changes_nothing(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = logged_in(hub, "wang")
    page = client.get(f"/workbench/applications/{row['id']}")
    response = client.post(f"/workbench/applications/{row['id']}/act",
                           data={"csrf": csrf_of(page.text), "action": "refuse"})
    assert response.status_code == 409 and "不予受理的理由" in response.text
    assert hub.store().application(row["id"])["state"] == 1
    assert hub.store().audit_for(row["case_number"]) == []


def test_showing_full_personal_data_is_masked_by_default_and_logged(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = logged_in(hub, "wang")
    page = client.get(f"/workbench/applications/{row['id']}")
    assert row["applicant_id_number"] not in page.text and "李*英" in page.text
    full = client.post(f"/workbench/applications/{row['id']}/reveal",
                       data={"csrf": csrf_of(page.text)})
    assert full.status_code == 200
    assert row["applicant_id_number"] in full.text and "李秀英" in full.text
    entries = hub.store().audit_for(row["case_number"])
    assert [e["action"] for e in entries] == ["reveal_personal_data"]


def test_materials_are_served_from_the_blob_store_to_the_department_only(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    hub.user("zhao", "officer", department="ZZZ")
    sha = __import__("json").loads(row["materials_json"])[0]["sha256"]
    url = f"/workbench/applications/{row['id']}/materials/{sha}"
    image = logged_in(hub, "wang").get(url)
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    assert image.content == hub.blobs.read(sha)
    assert logged_in(hub, "zhao").get(url).status_code == 404
    assert hub.client().get(url).status_code == 401


def test_each_role_is_refused_what_it_must_not_reach(hub):
    ours = hub.file("411381101201", counter=1)
    other_town = hub.file("411381102305", counter=2)
    dept = ours["department"]
    hub.user("wang", "officer", department=dept)
    hub.user("zhao", "officer", department="ZZZ")
    hub.user("head", "head", department=dept)
    hub.user("town", "town", town="411381101")
    hub.user("station", "station", station="411381102305")
    hub.user("tech", "technician")
    hub.user("root", "admin")

    def queue(client):
        return client.get("/workbench?state=all").text

    def sees(client, row):
        return client.get(f"/workbench/applications/{row['id']}").status_code == 200

    wang, zhao, head = (logged_in(hub, u) for u in ("wang", "zhao", "head"))
    town, station, tech = (logged_in(hub, u) for u in ("town", "station", "tech"))
    assert sees(wang, ours) and sees(wang, other_town) and sees(head, ours)
    # Another department: invisible, 404, not in the queue, not in the API, cannot act.
    assert not sees(zhao, ours) and ours["case_number"] not in queue(zhao)
    assert zhao.get(f"/api/applications/{ours['id']}").status_code == 404
    assert zhao.get("/api/applications").json()["applications"] == []
    page = zhao.get("/workbench")
    act = zhao.post(f"/workbench/applications/{ours['id']}/act",
                    data={"csrf": csrf_of(page.text), "action": "accept"})
    assert act.status_code == 404 and hub.store().application(ours["id"])["state"] == 1
    # A town officer sees their town only, and decides nothing.
    assert sees(town, ours) and not sees(town, other_town)
    assert ours["case_number"] in queue(town) and other_town["case_number"] not in queue(town)
    assert 'data-action="accept"' not in town.get(f"/workbench/applications/{ours['id']}").text
    page = town.get(f"/workbench/applications/{ours['id']}")
    assert town.post(f"/workbench/applications/{ours['id']}/act",
                     data={"csrf": csrf_of(page.text), "action": "accept"}).status_code == 409
    assert town.post(f"/workbench/applications/{ours['id']}/reveal",
                     data={"csrf": csrf_of(page.text)}).status_code == 403
    # A station officer sees their station's cases only.
    assert sees(station, other_town) and not sees(station, ours)
    assert [a["id"] for a in station.get("/api/applications").json()["applications"]] == [
        other_town["id"]]
    # A technician reaches no application at all.
    assert tech.get("/workbench").status_code == 403
    assert tech.get(f"/workbench/applications/{ours['id']}").status_code == 403
    assert tech.get("/api/applications").status_code == 403
    assert hub.store().application(ours["id"])["state"] == 1


def test_the_queue_filters_counts_and_sorts_by_deadline(hub):
    first = hub.file("411381101201", counter=1)
    second = hub.file("411381102305", counter=2)
    hub.user("wang", "officer", department=first["department"])
    client = logged_in(hub, "wang")
    page = client.get(f"/workbench/applications/{second['id']}")
    client.post(f"/workbench/applications/{second['id']}/act",
                data={"csrf": csrf_of(page.text), "action": "accept"})
    html = client.get("/workbench").text
    assert 'data-count="count_open"><span class="n">2<' in html
    assert 'data-count="count_received"><span class="n">1<' in html
    # The accepted case has a deadline, so it comes first; the other has none yet.
    assert html.index(second["case_number"]) < html.index(first["case_number"])
    only_town = client.get("/workbench?town=411381101").text
    assert first["case_number"] in only_town and second["case_number"] not in only_town
    accepted = client.get("/workbench?state=3").text
    assert second["case_number"] in accepted and first["case_number"] not in accepted
    assert "剩" in accepted  # the SLA countdown in working days


def test_a_supplement_request_names_only_materials_of_the_item(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = logged_in(hub, "wang")
    page = client.get(f"/workbench/applications/{row['id']}")
    response = client.post(f"/workbench/applications/{row['id']}/act",
                           data={"csrf": csrf_of(page.text), "action": "request_supplement",
                                 "materials": ["M99"], "note": "请补交"})
    assert response.status_code == 409 and "M99" in response.text
    assert hub.store().application(row["id"])["state"] == 1


def test_api_actions_by_session_or_bearer_token_are_audited(hub):
    from fastapi.testclient import TestClient

    from hub.app import create_app
    from hub.auth import SessionAuth, TokenAuth

    first, second = hub.file(counter=1), hub.file(counter=2)
    dept = first["department"]
    tokens = TokenAuth(hub.root / "api-tokens.json")
    token = tokens.issue("machine", "officer", dept)
    app = create_app(db_path=hub.db, catalog=hub.catalog, calendar=hub.calendar,
                     topics=hub.topics, blobs=hub.blobs,
                     authenticate=SessionAuth(hub.db, fallback=tokens))
    machine = TestClient(app)
    done = machine.post(f"/api/applications/{first['id']}/actions", json={"action": "accept"},
                        headers={"Authorization": f"Bearer {token}"})
    assert done.status_code == 200 and done.json()["state"] == 3
    hub.user("wang", "officer", department=dept)
    browser = logged_in(hub, "wang")
    csrf = csrf_of(browser.get("/workbench").text)
    done = browser.post(f"/api/applications/{second['id']}/actions", json={"action": "accept"},
                        headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200
    store = hub.store()
    assert [(e["actor"], e["action"]) for e in store.audit_for(first["case_number"])] == [
        ("machine", "action:accept")]
    assert [(e["actor"], e["action"]) for e in store.audit_for(second["case_number"])] == [
        ("wang", "action:accept")]
