"""The hub's HTTP side (FastAPI): health, catalog, and the department API.

`create_app` is the composition root for the web process: it receives its collaborators
(store opener, catalog, calendar, topics, authenticator, broker probe) and builds routes on
top of services; no SQL here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub import audit
from hub.auth import in_scope, scope_of
from hub.blobs import BlobStore
from hub.calendar import WorkCalendar
from hub.db import StorageError
from hub.db.web import WebStore
from hub.fleet.api import mount_fleet
from hub.service import ActionRefused, Actor, ApplicationService
from hub.web import mount_web
from hub.workflow import Action, Lifecycle
from protocols.catalog import Catalog, CatalogSnapshot
from protocols.identity import mask_id_number, mask_name, mask_phone
from protocols.topics import Topics


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    payload: dict[str, Any] = Field(default_factory=dict)


def _public_application(row: dict) -> dict:
    """An application as the API shows it: personal data masked."""
    return {
        "id": row["id"], "case_number": row["case_number"], "station": row["station"],
        "receipt_number": row["receipt_number"], "service_code": row["service_code"],
        "catalog_version": row["catalog_version"], "department": row["department"],
        "category": row["category"],
        "applicant": {"name": mask_name(row["applicant_name"]),
                      "id_number": mask_id_number(row["applicant_id_number"]),
                      "phone": mask_phone(row["applicant_phone"])},
        "state": row["state"], "state_label": Lifecycle(row["state"]).label,
        "state_at": row["state_at"], "received_at": row["received_at"],
        "deadline": row["deadline"], "assigned_officer": row["assigned_officer"],
    }


def create_app(
    *,
    db_path: Path | str,
    catalog: Catalog,
    calendar: WorkCalendar,
    topics: Topics,
    authenticate: Callable[[Request], Actor],
    broker_connected: Callable[[], bool] = lambda: False,
    storage_problem: Callable[[], str | None] = lambda: None,
    blobs: BlobStore | None = None,
) -> FastAPI:
    app = FastAPI(title="村办 Cunban hub", version="0.1.0")

    def store() -> Iterator[WebStore]:
        s = WebStore(db_path)
        try:
            yield s
        finally:
            s.close()

    def service(s: WebStore = Depends(store)) -> ApplicationService:
        return ApplicationService(s, catalog, calendar, topics)

    def visible(row: dict | None, actor: Actor) -> dict:
        if row is None or not in_scope(row, actor):
            raise HTTPException(404, "没有找到这个办件")
        return row

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
                  for e in exc.errors()]
        return JSONResponse({"detail": "请求内容不正确", "errors": errors}, status_code=422)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError):
        return JSONResponse({"detail": exc.message}, status_code=503)

    @app.get("/api/health")
    def health(s: WebStore = Depends(store)):
        body = {"database": s.ping(), "broker": broker_connected(),
                "storage_problem": storage_problem()}
        ok = body["database"] and body["broker"] and not body["storage_problem"]
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/api/catalog")
    def get_catalog():
        return CatalogSnapshot.from_catalog(catalog).model_dump(mode="json")

    @app.get("/api/applications")
    def list_applications(state: int | None = Query(None, ge=0, le=2**31),
                          station: str | None = None, limit: int = 100,
                          offset: int = Query(0, ge=0, le=2**31),
                          actor: Actor = Depends(authenticate), s: WebStore = Depends(store)):
        scope = scope_of(actor)
        if scope is None:
            raise HTTPException(403, "您的角色不能查看办件")
        filters = {**{k: v for k, v in (("state", state), ("station", station)) if v is not None},
                   **scope}
        rows = s.queue(filters, open_only=False, limit=max(1, min(limit, 500)),
                       offset=max(0, offset))
        return {"applications": [_public_application(r) for r in rows]}

    @app.get("/api/applications/{application_id}")
    def get_application(application_id: uuid.UUID, actor: Actor = Depends(authenticate),
                        svc: ApplicationService = Depends(service)):
        row = visible(svc.store.application(str(application_id)), actor)
        clock = svc.clock(row["id"], row["service_code"], datetime.now(UTC))
        events = [{"seq": e.seq, "code": e.code, "label": Lifecycle(e.code).label,
                   "action": e.action, "actor": e.actor, "role": e.role, "at": e.at,
                   "payload": e.payload} for e in svc.store.events(row["id"])]
        return {**_public_application(row), "events": events,
                "clock": {"state": clock.state, "deadline": clock.deadline,
                          "working_days_left": clock.working_days_left,
                          "warning": clock.warning, "overdue": clock.overdue}}

    @app.post("/api/applications/{application_id}/actions")
    def act(application_id: uuid.UUID, body: ActionRequest,
            actor: Actor = Depends(authenticate), svc: ApplicationService = Depends(service)):
        visible(svc.store.application(str(application_id)), actor)
        try:
            with svc.store.transaction():
                row = svc.act(str(application_id), body.action, actor, body.payload,
                              datetime.now(UTC))
                audit.append(svc.store, actor, f"action:{body.action}", row["case_number"],
                             {"application_id": row["id"], "fields": sorted(body.payload),
                              "via": "api"})
        except ActionRefused as exc:
            raise HTTPException(exc.status, exc.reason) from None
        return _public_application(row)

    mount_web(app, db_path=db_path, catalog=catalog, calendar=calendar, topics=topics,
              blobs=blobs or BlobStore(Path(db_path).parent / "blobs"))
    mount_fleet(app, db_path=db_path, authenticate=authenticate, topics=topics)
    return app
