"""The hub's web pages: officer login and workbench, public catalog, tracking, statistics.

Server-rendered (Jinja2), every asset served by the hub itself (offices sit on the
e-government extranet without internet). `mount_web` adds the routes to the app built by
`hub.app.create_app`; routes call services (ApplicationService, Accounts, audit, stats)
and never hold SQL.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from hub import audit
from hub import stats as hub_stats
from hub.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_HOURS,
    Accounts,
    LoginRefused,
    Session,
    csrf_ok,
    in_scope,
    may_reveal,
    scope_of,
)
from hub.blobs import BlobStore
from hub.calendar import CalendarError, WorkCalendar
from hub.db.web import WebStore
from hub.service import ActionRefused, ApplicationService
from hub.web import strings
from hub.web.fleet import PageKit, mount_fleet_pages
from hub.workflow import (
    ACTION_VERBS_ZH,
    FIELDS,
    ROLE_LABELS_ZH,
    Action,
    Lifecycle,
    allowed_actions,
    applicant_can_see,
    was_accepted,
)
from protocols.catalog import POWER_TYPES, Catalog, ServiceItem
from protocols.identity import mask_id_number, mask_name, mask_phone
from protocols.topics import Topics

CHINA = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 50
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
TOWN = re.compile(r"^\d{9}$")
STATION = re.compile(r"^\d{12,16}$")
TRACK_MAX_FAILURES = 10  # per case number, then a pause: the last 4 digits are guessable
TRACK_PAUSE_SECONDS = 900
OPEN_FORM_STATES = (1, 3, 6, 7, 8, 9, 10)


class PageError(Exception):
    """An error page: HTTP status and the strings-catalogue key of its message."""

    def __init__(self, status: int, key: str, **values):
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


@dataclass
class Page:
    request: Request
    lang: str
    session: Session | None

    def t(self, key: str, **values) -> str:
        return strings.text(self.lang, key, **values)


def _local(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def mount_web(app: FastAPI, *, db_path: Path | str, catalog: Catalog, calendar: WorkCalendar,
              topics: Topics, blobs: BlobStore, secure_cookies: bool = False) -> None:
    env = Environment(loader=PackageLoader("hub.web", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["local"] = _local
    departments = {d.code: d for d in catalog.departments}
    track_failures: dict[str, list[float]] = {}
    app.mount("/static", StaticFiles(packages=[("hub.web", "static")]), name="static")

    def catalog_item(code: str) -> ServiceItem | None:
        try:
            return catalog.item(code)
        except KeyError:
            return None

    def page_of(request: Request, store: WebStore) -> Page:
        lang = request.cookies.get("lang")
        lang = lang if lang in strings.LANGS else "zh"
        session = Accounts(store).session(request.cookies.get(SESSION_COOKIE),
                                          datetime.now(UTC))
        return Page(request, lang, session)

    def render(page: Page, template: str, status: int = 200, **context) -> HTMLResponse:
        def state_label(code: int) -> str:
            if page.lang == "en":
                return strings.STATE_LABELS_EN.get(code, str(code))
            return Lifecycle(code).label if code in Lifecycle._value2member_map_ else str(code)

        def action_label(action: str) -> str:
            if page.lang == "en":
                return strings.ACTION_LABELS_EN[action]
            return ACTION_VERBS_ZH[Action(action)]

        def dept_name(code: str) -> str:
            d = departments.get(code)
            return d.name if d else code

        def item_name(code: str) -> str:
            try:
                return catalog.item(code).name
            except KeyError:
                return code

        html = env.get_template(template).render(
            page=page, t=page.t, lang=page.lang, session=page.session,
            path=page.request.url.path, query=str(page.request.url.query),
            state_label=state_label, action_label=action_label, dept_name=dept_name,
            item_name=item_name, power_types=POWER_TYPES, **context)
        return HTMLResponse(html, status_code=status)

    def error_page(request: Request, status: int, key: str, **values) -> HTMLResponse:
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
        finally:
            store.close()
        return render(page, "error.html", status=status, message=page.t(key, **values),
                      status_code=status)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError):
        return error_page(request, exc.status, exc.key, **exc.values)

    def require(page: Page) -> Session:
        if page.session is None:
            raise PageError(401, "login_needed")
        return page.session

    async def read_form(request: Request) -> dict[str, list[str]]:
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart/urlencoded bodies of every kind
            raise PageError(400, "bad_request", detail=type(exc).__name__) from None
        out: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                out.setdefault(key, []).append(value)
        return out

    def one(form: dict[str, list[str]], key: str) -> str:
        values = form.get(key) or [""]
        return values[0].strip()

    def check_csrf(page: Page, form: dict[str, list[str]]) -> None:
        expected = page.session.csrf if page.session else page.request.cookies.get(LOGIN_COOKIE)
        if not csrf_ok(expected, one(form, "csrf")):
            raise PageError(403, "csrf_failed")

    def form_page(page: Page, template: str, status: int = 200, **context) -> HTMLResponse:
        """A public form page; its CSRF token is a double-submit cookie."""
        token = page.request.cookies.get(LOGIN_COOKIE)
        fresh = not token or len(token) > 100
        if fresh:
            token = secrets.token_urlsafe(24)
        response = render(page, template, status=status, csrf=token, **context)
        if fresh:
            response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                                secure=secure_cookies, path="/")
        return response

    # language and home ------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def home():
        return RedirectResponse("/catalog", status_code=303)

    @app.get("/lang/{code}", include_in_schema=False)
    def switch_lang(code: str, next: str | None = None):  # noqa: A002 - the query name
        response = RedirectResponse(_safe_next(next), status_code=303)
        if code in strings.LANGS:
            response.set_cookie("lang", code, samesite="lax", secure=secure_cookies,
                                max_age=365 * 86400, path="/")
        return response

    # login ------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request):
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
        finally:
            store.close()
        if page.session is not None:
            return RedirectResponse("/workbench", status_code=303)
        return form_page(page, "login.html", error=None)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await read_form(request)
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
            page.session = None  # a login form is checked against its own cookie
            check_csrf(page, form)
            try:
                session = Accounts(store).login(one(form, "username")[:64],
                                                one(form, "password")[:256], datetime.now(UTC))
            except LoginRefused as exc:
                status = 423 if exc.key == "login_locked" else 401
                return form_page(page, "login.html", status=status,
                                 error=page.t(exc.key, minutes=exc.minutes))
        finally:
            store.close()
        home = "/fleet" if session.actor.role == "technician" else "/workbench"
        response = RedirectResponse(home, status_code=303)
        response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="lax",
                            secure=secure_cookies, max_age=SESSION_HOURS * 3600, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        form = await read_form(request)
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
            session = require(page)
            check_csrf(page, form)
            Accounts(store).logout(session.token)
        finally:
            store.close()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # the workbench ----------------------------------------------------------------------
    def officer_page(request: Request, store: WebStore) -> tuple[Page, Session, dict]:
        page = page_of(request, store)
        session = require(page)
        scope = scope_of(session.actor)
        if scope is None:
            raise PageError(403, "forbidden")
        return page, session, scope

    def clock_view(svc: ApplicationService, row: dict, now: datetime) -> dict:
        try:
            clock = svc.clock(row["id"], row["service_code"], now)
        except CalendarError:
            return {"state": "unknown"}
        return {"state": clock.state, "deadline": clock.deadline, "left": clock.working_days_left,
                "used": clock.working_days_used, "paused": clock.paused_working_days,
                "warning": clock.warning, "overdue": clock.overdue,
                "pause_reason": clock.pause_reason}

    @app.get("/workbench", response_class=HTMLResponse, include_in_schema=False)
    def workbench(request: Request, state: str = "open", item: str = "", town: str = "",
                  station: str = "", page_no: str = "1"):
        store = WebStore(db_path)
        try:
            try:
                page, session, scope = officer_page(request, store)
            except PageError as exc:
                if exc.status == 401:
                    return RedirectResponse("/login", status_code=303)
                raise
            svc = ApplicationService(store, catalog, calendar, topics)
            filters = dict(scope)
            open_only = state == "open"
            if state.isdigit() and int(state) in Lifecycle._value2member_map_:
                filters["state"] = int(state)
            elif state not in ("open", "all"):
                state = "open"
                open_only = True
            if item and item in {i.code for i in catalog.items}:
                filters["service_code"] = item
            if TOWN.match(town) and "town" not in scope and "station" not in scope:
                filters["town"] = town
            if STATION.match(station) and "station" not in scope:
                filters["station"] = station
            number = int(page_no) if page_no.isdigit() and 0 < int(page_no) < 100000 else 1
            now = datetime.now(UTC)
            rows = store.queue(filters, open_only=open_only, limit=PAGE_SIZE,
                               offset=(number - 1) * PAGE_SIZE)
            total = store.queue_count(filters, open_only=open_only)
            counts = store.state_counts(scope)
            today = now.astimezone(CHINA).date()
            warn_until = _warn_until(calendar, today)
            warning, overdue = store.deadline_counts(scope, warn_until=warn_until.isoformat(),
                                                     today=today.isoformat())
            summary = {
                "count_open": sum(n for s, n in counts.items() if s in OPEN_FORM_STATES),
                "count_received": counts.get(1, 0) + counts.get(7, 0),
                "count_supplement": counts.get(6, 0),
                "count_warning": warning, "count_overdue": overdue,
                "count_total": sum(counts.values()),
            }
            queue = [{**r, "applicant_masked": mask_name(r["applicant_name"]),
                      "clock": clock_view(svc, r, now)} for r in rows]
            items = store.distinct_in_scope("service_code", scope)
            towns = store.distinct_in_scope("town", scope) if not (
                {"town", "station"} & set(scope)) else []
            stations = store.distinct_in_scope("station", scope) if "station" not in scope \
                else []
            base = {k: v for k, v in (("state", state), ("item", item), ("town", town),
                                      ("station", station)) if v}
            return render(page, "workbench.html", queue=queue, total=total, summary=summary,
                          state=state, item=item, town=town, station=station, items=items,
                          towns=towns, stations=stations, page_no=number,
                          pages=max(1, -(-total // PAGE_SIZE)),
                          prev_url="/workbench?" + urlencode({**base, "page_no": number - 1}),
                          next_url="/workbench?" + urlencode({**base, "page_no": number + 1}),
                          role_label=page.t(f"role_{session.actor.role}"))
        finally:
            store.close()

    def load_case(store: WebStore, session: Session, application_id: str) -> dict:
        if not re.fullmatch(r"[0-9a-fA-F-]{32,36}", application_id):
            raise PageError(404, "not_found")
        row = store.application(application_id.lower())
        if row is None or not in_scope(row, session.actor):
            raise PageError(404, "not_found")
        return row

    def case_page(page: Page, session: Session, store: WebStore, row: dict, *,
                  full: bool = False, error: str | None = None, done: str | None = None,
                  status: int = 200) -> HTMLResponse:
        svc = ApplicationService(store, catalog, calendar, topics)
        item: ServiceItem | None = svc.find_item(row["service_code"])
        events = store.events(row["id"])
        accepted = was_accepted(e.code for e in events)
        actions = allowed_actions(row["state"], session.actor.role, accepted=accepted)
        material_names = {m.code: m for m in item.materials} if item else {}
        materials = [{"code": ref["code"], "sha256": ref["sha256"],
                      "name": material_names[ref["code"]].name
                      if ref["code"] in material_names else ref["code"]}
                     for ref in json.loads(row["materials_json"])]
        applicant = {
            "name": row["applicant_name"] if full else mask_name(row["applicant_name"]),
            "id_number": row["applicant_id_number"] if full
            else mask_id_number(row["applicant_id_number"]),
            "phone": row["applicant_phone"] if full else mask_phone(row["applicant_phone"]),
        }
        proxy = json.loads(row["proxy_officer_json"]) if row["proxy_officer_json"] else None
        forms = []
        for action in actions:
            fields = []
            for spec in FIELDS[action]:
                if spec.kind == "names":
                    continue
                label = spec.label if page.lang == "zh" else strings.FIELD_LABELS_EN.get(
                    spec.name, spec.label)
                options = []
                if spec.kind == "codes" and item:
                    options = [(m.code, f"{m.code} {m.name}") for m in item.materials]
                elif spec.kind == "choice":
                    names = strings.DELIVERY_METHODS_ZH if page.lang == "zh" \
                        else strings.DELIVERY_METHODS_EN
                    options = [(c, names.get(c, c)) for c in spec.choices]
                fields.append({"name": spec.name, "label": label, "kind": spec.kind,
                               "required": spec.required, "options": options,
                               "minimum": spec.minimum})
            forms.append({"action": str(action), "fields": fields})
        timeline = [{"seq": e.seq, "code": e.code, "at": e.at, "actor": e.actor,
                     "role": ROLE_LABELS_ZH.get(e.role, e.role) if page.lang == "zh"
                     else e.role,
                     "note": e.payload.get("reason") or e.payload.get("note") or "",
                     "materials": [material_names[c].name if c in material_names else c
                                   for c in e.payload.get("materials") or []]}
                    for e in events]
        return render(page, "application.html", status=status, row=row, item=item,
                      applicant=applicant, full=full, proxy=proxy,
                      form_values=json.loads(row["form_json"]), materials=materials,
                      timeline=timeline, clock=clock_view(svc, row, datetime.now(UTC)),
                      forms=forms, may_reveal=may_reveal(session.actor), error=error,
                      done=done)

    @app.get("/workbench/applications/{application_id}", response_class=HTMLResponse,
             include_in_schema=False)
    def application_page(request: Request, application_id: str, done: str = ""):
        store = WebStore(db_path)
        try:
            page, session, _ = officer_page(request, store)
            row = load_case(store, session, application_id)
            done_text = None
            if done in Action.__members__.values():
                done_text = page.t("action_done", verb=render_verb(page, done))
            return case_page(page, session, store, row, done=done_text)
        finally:
            store.close()

    def render_verb(page: Page, action: str) -> str:
        if page.lang == "en":
            return strings.ACTION_LABELS_EN.get(action, action)
        return ACTION_VERBS_ZH[Action(action)]

    @app.post("/workbench/applications/{application_id}/reveal", response_class=HTMLResponse,
              include_in_schema=False)
    async def reveal(request: Request, application_id: str):
        form = await read_form(request)
        store = WebStore(db_path)
        try:
            page, session, _ = officer_page(request, store)
            check_csrf(page, form)
            row = load_case(store, session, application_id)
            if not may_reveal(session.actor):
                raise PageError(403, "forbidden")
            with store.transaction():
                audit.append(store, session.actor, "reveal_personal_data", row["case_number"],
                             {"application_id": row["id"],
                              "fields": ["name", "id_number", "phone"]})
            return case_page(page, session, store, row, full=True)
        finally:
            store.close()

    @app.post("/workbench/applications/{application_id}/act", include_in_schema=False)
    async def act(request: Request, application_id: str):
        form = await read_form(request)
        store = WebStore(db_path)
        try:
            page, session, _ = officer_page(request, store)
            check_csrf(page, form)
            row = load_case(store, session, application_id)
            try:
                action = Action(one(form, "action"))
            except ValueError:
                raise PageError(400, "bad_request", detail="action") from None
            payload: dict = {}
            for spec in FIELDS[action]:
                if spec.kind == "names":
                    continue
                if spec.kind == "codes":
                    values = [v.strip() for v in form.get(spec.name, []) if v.strip()]
                    item = catalog_item(row["service_code"])
                    known = {mat.code for mat in item.materials} if item else set()
                    unknown = [v for v in values if v not in known]
                    if unknown:
                        return case_page(page, session, store, row, status=409,
                                         error=page.t("unknown_material",
                                                      codes="、".join(unknown)[:200]))
                    if values:
                        payload[spec.name] = values
                elif one(form, spec.name):
                    payload[spec.name] = one(form, spec.name)
            svc = ApplicationService(store, catalog, calendar, topics)
            try:
                with store.transaction():
                    svc.act(row["id"], action, session.actor, payload, datetime.now(UTC))
                    audit.append(store, session.actor, f"action:{action}", row["case_number"],
                                 {"application_id": row["id"], "fields": sorted(payload)})
            except ActionRefused as exc:
                return case_page(page, session, store, store.application(row["id"]),
                                 error=exc.reason, status=409)
            except CalendarError as exc:
                return case_page(page, session, store, store.application(row["id"]),
                                 error=str(exc), status=409)
            return RedirectResponse(
                f"/workbench/applications/{row['id']}?done={action}", status_code=303)
        finally:
            store.close()

    @app.get("/workbench/applications/{application_id}/materials/{sha256}",
             include_in_schema=False)
    def material(request: Request, application_id: str, sha256: str):
        store = WebStore(db_path)
        try:
            page, session, _ = officer_page(request, store)
            row = load_case(store, session, application_id)
            refs = {ref["sha256"]: ref for ref in json.loads(row["materials_json"])}
            if sha256 not in refs or not blobs.exists(sha256):
                raise PageError(404, "not_found")
            with store.transaction():
                audit.append(store, session.actor, "view_material", row["case_number"],
                             {"application_id": row["id"], "material": refs[sha256]["code"]})
            return Response(blobs.read(sha256), media_type=refs[sha256].get("mime")
                            or "image/jpeg",
                            headers={"Cache-Control": "private, no-store"})
        finally:
            store.close()

    # public: catalog ----------------------------------------------------------------------
    @app.get("/catalog", response_class=HTMLResponse, include_in_schema=False)
    def catalog_page(request: Request, q: str = "", department: str = ""):
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
        finally:
            store.close()
        q = q.strip()[:100]
        found = []
        for it in sorted(catalog.items, key=lambda i: (i.department, i.code)):
            if department and it.department != department:
                continue
            if q:
                d = departments.get(it.department)
                haystack = " ".join([it.code, it.name, *it.tags, it.department,
                                     d.name if d else "", d.short_name if d else ""]).lower()
                if q.lower() not in haystack:
                    continue
            found.append(it)
        return render(page, "catalog.html", items=found, q=q, department=department,
                      departments=catalog.departments, version=catalog.version)

    @app.get("/catalog/{code}", response_class=HTMLResponse, include_in_schema=False)
    def item_page(request: Request, code: str):
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
        finally:
            store.close()
        try:
            it = catalog.item(code)
        except KeyError:
            raise PageError(404, "not_found") from None
        return render(page, "item.html", item=it, version=catalog.version)

    # public: tracking ---------------------------------------------------------------------
    @app.get("/track", response_class=HTMLResponse, include_in_schema=False)
    def track_form(request: Request):
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
        finally:
            store.close()
        return form_page(page, "track.html", result=None, error=None, case_number="")

    def track_allowed(case: str, now: float) -> bool:
        recent = [t for t in track_failures.get(case, []) if now - t < TRACK_PAUSE_SECONDS]
        track_failures[case] = recent
        if len(track_failures) > 10000:  # bounded memory under a flood
            track_failures.clear()
        return len(recent) < TRACK_MAX_FAILURES

    @app.post("/track", response_class=HTMLResponse, include_in_schema=False)
    async def track(request: Request):
        form = await read_form(request)
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
            page.session = None
            check_csrf(page, form)
            case = one(form, "case_number")[:64]
            secret = one(form, "secret")[:64].upper()
            now = time.monotonic()
            row = store.application_by_case(case) if case and track_allowed(case, now) else None
            events = store.events(row["id"]) if row else []
            passwords = {str(e.payload.get("query_password", "")).upper() for e in events}
            ok = row is not None and len(secret) >= 4 and (
                row["applicant_id_number"].upper()[-4:] == secret or secret in passwords)
            if not ok:
                if case:
                    track_failures.setdefault(case, []).append(now)
                return form_page(page, "track.html", status=404, result=None,
                                 error=page.t("track_not_found"), case_number=case)
            result = {
                "case_number": row["case_number"], "service_code": row["service_code"],
                "applicant": mask_name(row["applicant_name"]),
                "id_number": mask_id_number(row["applicant_id_number"]),
                "state": row["state"], "deadline": row["deadline"],
                "events": [{"code": e.code, "at": e.at,
                            "note": e.payload.get("reason") or e.payload.get("note") or ""}
                           for e in events if applicant_can_see(e.code)],
            }
            return form_page(page, "track.html", result=result, error=None, case_number=case)
        finally:
            store.close()

    # public: statistics -------------------------------------------------------------------
    @app.get("/stats", response_class=HTMLResponse, include_in_schema=False)
    def stats_page(request: Request, since: str = "", until: str = "", town: str = "",
                   department: str = ""):
        since = since if MONTH.match(since) else ""
        until = until if MONTH.match(until) else ""
        town = town if TOWN.match(town) else ""
        department = department if department in departments else ""
        store = WebStore(db_path)
        try:
            page = page_of(request, store)
            result = hub_stats.report(store, since=since or None, until=until or None,
                                      town=town or None, department=department or None)
        finally:
            store.close()
        labels = {"title": page.t("trend"), "received": page.t("received"),
                  "accepted": page.t("accepted"), "completed": page.t("completed"),
                  "overdue": page.t("overdue_done")}
        base = {k: v for k, v in (("since", since), ("until", until)) if v}
        return render(page, "stats.html", report=result, since=since, until=until, town=town,
                      department=department, metrics=hub_stats.METRICS,
                      chart=hub_stats.trend_svg(result.by_month, labels),
                      base_query=urlencode(base))

    mount_fleet_pages(app, db_path=db_path, catalog=catalog, topics=topics,
                      kit=PageKit(page_of, render, read_form, one, check_csrf, PageError))


def _warn_until(calendar: WorkCalendar, today):
    """The second working day after today: running cases due by then are pre-warned."""
    for count, day in enumerate(calendar.working_days_after(today), start=1):
        if count == 2:
            return day
    return today

