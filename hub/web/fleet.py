"""The technicians' fleet pages: every station at a glance, one station's history, and
pushing a configuration to it.

- `GET /fleet[?town=&availability=]` — state, last seen, device health, configuration
  versions, backlog and free disk of every station, filtered by town or availability.
- `GET /fleet/{sid}` — one station: devices, configuration (desired, applied, reported and
  its errors), availability history, and a form holding its current configuration.
- `POST /fleet/{sid}/config` — the form (CSRF-checked) goes through the same validation,
  versioning, signing and retained publication as `cunban fleet push-config`.

Technician and admin roles only (`hub.fleet.api.FLEET_ROLES`). The routes call the fleet
services and `FleetStore`; they hold no SQL. Mounted by `hub.web.mount_web`, whose page
helpers they share through `PageKit`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from firmware_config import ConfigError
from firmware_config.loader import raw_from_text
from firmware_config.signing import load_private_key
from hub.db.fleet import FleetStore
from hub.db.web import WebStore
from hub.fleet.api import FLEET_ROLES
from hub.fleet.configs import current_config, push_config
from hub.fleet.health import Thresholds, station_view
from hub.fleet.pki import PkiPaths
from hub.fleet.registry import FleetError
from hub.web import strings
from protocols.catalog import Catalog
from protocols.topics import Topics

TOWN = re.compile(r"^\d{9}$")
AVAILABILITY = ("online", "late", "offline", "crashed", "stopped", "never", "revoked")
CONFIG_TEXT_MAX = 64 * 1024


@dataclass(frozen=True)
class PageKit:
    """The page helpers of `hub.web.mount_web` the fleet pages use, and its error type."""

    page_of: Callable
    render: Callable[..., HTMLResponse]
    read_form: Callable
    one: Callable[[dict, str], str]
    check_csrf: Callable
    error: type[Exception]


def mount_fleet_pages(
    app: FastAPI,
    *,
    db_path: Path | str,
    catalog: Catalog,
    topics: Topics,
    kit: PageKit,
    pki: PkiPaths | None = None,
    limits: Thresholds | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    pki = pki or PkiPaths(Path(db_path).resolve().parent / "pki")
    limits = limits or Thresholds()

    def technician_page(request: Request):
        """The page of a technician's request, or a redirect to the login; a 403 for others."""
        web = WebStore(db_path)
        try:
            page = kit.page_of(request, web)
        finally:
            web.close()
        if page.session is None:
            return page, RedirectResponse("/login", status_code=303)
        if page.session.actor.role not in FLEET_ROLES:
            raise kit.error(403, "forbidden")
        return page, None

    def show(page, template: str, **context) -> HTMLResponse:
        def device_label(name: str) -> str:
            key = f"device_{name}"
            return page.t(key) if key in strings.ZH else name

        return kit.render(page, template, device_label=device_label, **context)

    def views(store: FleetStore, town: str | None) -> list[dict[str, Any]]:
        now = clock()
        return [
            station_view(r, store.device_states(r["sid"]), now, limits)
            for r in store.fleet_overview(town)
        ]

    @app.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
    def fleet_page(request: Request, town: str = "", availability: str = ""):
        town = town if TOWN.match(town) else ""
        availability = availability if availability in AVAILABILITY else ""
        store = FleetStore(db_path)
        try:
            page, redirect = technician_page(request)
            if redirect:
                return redirect
            every = views(store, None)
        finally:
            store.close()
        towns = sorted({v["town"] for v in every if v["town"]})
        shown = [
            v for v in every
            if (not town or v["town"] == town)
            and (not availability or v["availability"] == availability)
        ]
        counts: dict[str, int] = {}
        for v in every if not town else [v for v in every if v["town"] == town]:
            counts[v["availability"]] = counts.get(v["availability"], 0) + 1
        return show(page, "fleet.html", stations=shown, towns=towns, town=town,
                          availability=availability, counts=counts, states=AVAILABILITY,
                          interval=limits.interval)

    def station_page(page, store: FleetStore, sid: str, *, status: int = 200,
                     config_text: str | None = None, problems: list[str] | None = None,
                     pushed: str = "") -> HTMLResponse:
        rows = [r for r in store.fleet_overview() if r["sid"] == sid]
        if not rows:
            raise kit.error(404, "not_found")
        view = station_view(rows[0], store.device_states(sid), clock(), limits)
        if config_text is None:
            desired = current_config(store, sid)
            config_text = (
                json.dumps(desired.config, ensure_ascii=False, indent=2) if desired else ""
            )
        return show(page, "fleet_station.html", status=status, station=view,
                          history=store.history(sid), config_text=config_text,
                          problems=problems or [], pushed=pushed,
                          can_sign=pki.signing_key.exists())

    @app.get("/fleet/{sid}", response_class=HTMLResponse, include_in_schema=False)
    def fleet_station(request: Request, sid: str, pushed: str = ""):
        store = FleetStore(db_path)
        try:
            page, redirect = technician_page(request)
            if redirect:
                return redirect
            return station_page(page, store, sid, pushed=pushed if pushed.isdigit() else "")
        finally:
            store.close()

    @app.post("/fleet/{sid}/config", include_in_schema=False)
    async def fleet_push(request: Request, sid: str):
        form = await kit.read_form(request)
        store = FleetStore(db_path)
        try:
            page, redirect = technician_page(request)
            if redirect:
                return redirect
            kit.check_csrf(page, form)
            text = kit.one(form, "config")
            if len(text) > CONFIG_TEXT_MAX:
                raise kit.error(400, "bad_request", detail=page.t("fleet_config_too_large"))
            if not pki.signing_key.exists():
                return station_page(page, store, sid, status=409, config_text=text,
                                    problems=[page.t("fleet_no_signing_key")])
            try:
                desired = push_config(
                    store, load_private_key(pki.signing_key), topics, sid,
                    raw_from_text(text), catalog=catalog, by=page.session.actor.name,
                    now=clock(),
                )
            except ConfigError as exc:
                return station_page(page, store, sid, status=422, config_text=text,
                                    problems=[str(p) for p in exc.problems])
            except FleetError as exc:
                return station_page(page, store, sid, status=409, config_text=text,
                                    problems=[str(exc)])
        finally:
            store.close()
        return RedirectResponse(f"/fleet/{sid}?pushed={desired.version}", status_code=303)
