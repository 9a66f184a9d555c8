"""Public pages: the power list, progress lookup, both languages, and no 500 anywhere."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import csrf_of, logged_in


def test_every_catalog_item_is_listed_with_its_code(hub, catalog):
    html = hub.client().get("/catalog").text
    listed = re.findall(r'data-item-code="([^"]+)"', html)
    assert sorted(listed) == sorted(i.code for i in catalog.items)


def test_the_catalog_is_searched_by_name_code_and_department(hub, catalog):
    client = hub.client()
    item = catalog.items[0]
    by_name = re.findall(r'data-item-code="([^"]+)"',
                         client.get("/catalog", params={"q": item.name}).text)
    assert item.code in by_name and len(by_name) < len(catalog.items)
    assert re.findall(r'data-item-code="([^"]+)"',
                      client.get("/catalog", params={"q": item.code}).text) == [item.code]
    dept = client.get("/catalog", params={"department": item.department}).text
    assert sorted(re.findall(r'data-item-code="([^"]+)"', dept)) == sorted(
        i.code for i in catalog.items if i.department == item.department)


def test_an_item_page_shows_what_the_power_list_promises(hub, catalog):
    item = next(i for i in catalog.items if i.promised_days)
    html = hub.client().get(f"/catalog/{item.code}").text
    for text in (item.name, item.conditions[0], item.materials[0].name, item.legal_basis[0],
                 f"{item.promised_days} 个工作日", f"{item.legal_days} 个工作日"):
        assert text in html
    assert hub.client().get("/catalog/XX99999999").status_code == 404


def test_tracking_needs_the_last_four_of_the_id_number_and_shows_a_masked_timeline(hub):
    row = hub.file()
    client = hub.client()
    form = client.get("/track")
    csrf = csrf_of(form.text)
    wrong = client.post("/track", data={"csrf": csrf, "case_number": row["case_number"],
                                        "secret": "0000"})
    assert wrong.status_code == 404 and "对不上" in wrong.text
    right = client.post("/track", data={"csrf": csrf, "case_number": row["case_number"],
                                        "secret": row["applicant_id_number"][-4:]})
    assert right.status_code == 200 and "已接件" in right.text
    assert "李*英" in right.text and row["applicant_id_number"] not in right.text
    assert "李秀英" not in right.text


def test_tracking_accepts_the_lookup_password_of_the_acceptance_notice(hub):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    officer = logged_in(hub, "wang")
    page = officer.get(f"/workbench/applications/{row['id']}")
    officer.post(f"/workbench/applications/{row['id']}/act",
                 data={"csrf": csrf_of(page.text), "action": "accept",
                       "query_password": "K7Q2"})
    client = hub.client()
    csrf = csrf_of(client.get("/track").text)
    found = client.post("/track", data={"csrf": csrf, "case_number": row["case_number"],
                                        "secret": "k7q2"})
    assert found.status_code == 200 and "已受理" in found.text


def test_guessing_a_case_lookup_is_stopped_after_ten_tries(hub):
    row = hub.file()
    client = hub.client()
    csrf = csrf_of(client.get("/track").text)
    for guess in range(10):
        client.post("/track", data={"csrf": csrf, "case_number": row["case_number"],
                                    "secret": f"{guess:04d}"})
    right = client.post("/track", data={"csrf": csrf, "case_number": row["case_number"],
                                        "secret": row["applicant_id_number"][-4:]})
    assert right.status_code == 404


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_renders_in_both_languages(hub, lang):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = logged_in(hub, "wang")
    client.get(f"/lang/{lang}?next=/catalog")
    client.cookies.set("lang", lang)
    marker = "Power list" if lang == "en" else "权力清单"
    for path in ("/catalog", f"/catalog/{row['service_code']}", "/track", "/stats",
                 "/workbench", f"/workbench/applications/{row['id']}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert marker in response.text, path


def test_the_language_switch_only_redirects_inside_the_site(hub):
    response = hub.client().get("/lang/en?next=//evil.example/x")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "lang=en" in response.headers["set-cookie"]


def test_assets_are_served_by_the_hub_itself(hub):
    client = hub.client()
    html = client.get("/catalog").text
    assets = re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', html)
    assert assets and all(a.startswith("/static/") for a in assets)
    assert all(client.get(a).status_code == 200 for a in assets)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_openapi_document_is_served(hub):
    doc = hub.client().get("/openapi.json").json()
    assert "/api/applications" in doc["paths"]


MALFORMED = [
    ("GET", "/workbench?state=99&page_no=-1&town=x&station=%00&item=%ff"),
    ("GET", "/workbench?page_no=99999999999999999999"),
    ("GET", "/workbench/applications/not-a-uuid"),
    ("GET", "/workbench/applications/00000000-0000-0000-0000-000000000000"),
    ("GET", "/workbench/applications/x/materials/../../etc/passwd"),
    ("GET", "/catalog?q=%ff%fe" + "a" * 5000),
    ("GET", "/catalog/%00"),
    ("GET", "/stats?since=2026-13&until=abc&town=1&department=%27"),
    ("GET", "/stats?since=0000-01&until=9999-12"),
    ("GET", "/lang/xx?next=http://x"),
    ("GET", "/api/applications?limit=abc&offset=-5&state=x"),
    ("GET", "/api/applications/not-a-uuid"),
    ("POST", "/login"),
    ("POST", "/track"),
    ("POST", "/logout"),
    ("POST", "/workbench/applications/x/act"),
    ("POST", "/workbench/applications/x/reveal"),
    ("POST", "/api/applications/00000000-0000-0000-0000-000000000000/actions"),
]
BODIES = [
    None,
    {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "multipart/form-data"}},
    {"content": b"--b\r\nbroken", "headers": {
        "content-type": "multipart/form-data; boundary=b"}},
    {"content": b"a=%zz&&=&csrf=" + b"x" * 70000,
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"content": b'{"action": "accept", "payload": [1]}',
     "headers": {"content-type": "application/json"}},
]


@pytest.mark.parametrize("logged", [False, True])
def test_no_malformed_request_produces_a_server_error(hub, logged):
    row = hub.file()
    hub.user("wang", "officer", department=row["department"])
    client = logged_in(hub, "wang") if logged else hub.client()
    csrf = csrf_of(client.get("/track").text) if not logged else csrf_of(
        client.get("/workbench").text)
    requests = list(MALFORMED) + [
        ("POST", f"/workbench/applications/{row['id']}/act"),
        ("POST", f"/api/applications/{row['id']}/actions"),
    ]
    for method, url in requests:
        for body in BODIES if method == "POST" else [None]:
            response = client.request(method, url, **(body or {}))
            assert response.status_code < 500, (method, url, body, response.text[:300])
    # Forms that pass CSRF but carry nonsense values.
    for data in ({"action": "nonsense"}, {"action": "accept", "promised_days": "x" * 600},
                 {"action": "request_supplement", "materials": ["M99"], "note": "x" * 900},
                 {"action": "special_start", "reason": "r", "expected_days": "-3"},
                 {"action": "deliver", "collector_id_number": "1", "method": "fax"}):
        response = client.post(f"/workbench/applications/{row['id']}/act",
                                data={"csrf": csrf, **data})
        assert response.status_code < 500, (data, response.text[:300])
