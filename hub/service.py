"""What happens to an application at the hub: intake, routing, transitions, notifications.

Every state change goes through `record_transition`, which in the caller's transaction
appends the event, updates the application, and queues the status message for the filing
station and the SMS for the applicant — so a crash after the commit delays a message but
never loses it. A new application's first status (01 收件) travels inside its ack.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hub import casenumber
from hub.calendar import WorkCalendar
from hub.db.repositories import Store
from hub.intake import PreparedSubmit, Preparer
from hub.sla import compute_clock
from hub.workflow import (
    Action,
    IllegalTransition,
    Lifecycle,
    status_text,
    transition,
    was_accepted,
)
from protocols import messages as m
from protocols.catalog import Catalog, ServiceItem, UnknownItem
from protocols.identity import (
    mask_id_number,
    mask_name,
)
from protocols.topics import Kind, Topics

logger = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")


class ActionRefused(ValueError):
    """An action that cannot be taken; `reason` is a plain sentence for the officer."""

    def __init__(self, reason: str, status: int = 409):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who acts: an officer of a department, a station, or the hub itself."""

    name: str
    role: str  # station | officer | head | town | technician | system | admin
    department: str | None = None
    town: str | None = None  # a town officer's town (first 9 digits of station ids)
    station: str | None = None  # a station officer's station


SYSTEM = Actor("hub", "system")


# One batch shares one `now`: intake formats it a dozen times per application.
@functools.lru_cache(maxsize=64)
def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


@functools.lru_cache(maxsize=64)
def _china_date(ts: datetime) -> date:
    return ts.astimezone(CHINA).date()


class ApplicationService:
    def __init__(self, store: Store, catalog: Catalog, calendar: WorkCalendar,
                 topics: Topics):
        self.store = store
        self.catalog = catalog
        self.calendar = calendar
        self.topics = topics
        self.preparer = Preparer(catalog, store.cipher, topics)

    def find_item(self, code: str) -> ServiceItem | None:
        try:
            return self.catalog.item(code)
        except UnknownItem:
            return None

    # intake -----------------------------------------------------------------------------
    def validate(self, submit: m.ApplicationSubmit) -> list[m.FieldError]:
        """Check an application against the catalog and the ID rules; [] when it is fine."""
        return self.preparer.validate(submit)

    def receive(self, station: str, env: m.Envelope, now: datetime) -> m.ApplicationAck:
        """Store a valid application (or re-ack a known one); queue the ack. In a transaction."""
        return self.receive_prepared(self.preparer.from_envelope(station, env), now)

    def receive_prepared(self, p: PreparedSubmit, now: datetime) -> m.ApplicationAck:
        """`receive` for an application prepared already (`hub.intake`): what is left needs
        the database. In a transaction."""
        station, app_id = p.station, p.application_id
        application_id = uuid.UUID(app_id)
        existing = self.store.application(app_id)
        if existing is not None:
            if existing["station"] != station:
                return self.queue_ack(station, m.ApplicationAck(
                    application_id=application_id, result=m.AckResult.INVALID,
                    errors=[m.FieldError(field="id",
                                         reason="申请编号已被其他服务站使用，请重新提交")],
                ), now)
            return self.queue_ack(station, self._stored_ack(existing), now)

        if p.errors:
            return self.queue_ack(station, m.ApplicationAck(
                application_id=application_id, result=m.AckResult.INVALID,
                receipt_number=p.receipt_number, errors=p.field_errors()), now)

        missing = sorted(set(p.hashes) - self.store.has_blobs(list(p.hashes)))
        if missing:
            reasons = self.store.blob_rejection_reasons(missing)
            return self.queue_ack(station, m.ApplicationAck(
                application_id=application_id, result=m.AckResult.MISSING_BLOBS,
                receipt_number=p.receipt_number, missing=missing,
                errors=[m.FieldError(field=f"blob.{sha}", reason=reason)
                        for sha, reason in reasons.items()]), now)

        county = station[:6]
        today = _china_date(now)
        seq = self.store.next_case_sequence(casenumber.sequence_key(p.service_code, county,
                                                                    today))
        row = {
            "id": app_id,
            "case_number": casenumber.format_case_number(p.service_code, county, today, seq),
            "station": station, "town": station[:9], **p.columns, "received_at": _iso(now),
            "state": int(Lifecycle.RECEIVED), "state_at": _iso(now),
            "supplement_officer": None, "assigned_officer": None, "deadline": None,
        }
        self.store.insert_application(row, sealed=True)
        # The first status rides in the ack: one message to the station, not two.
        row, status = self._transition(row, Action.RECEIVE, SYSTEM, {}, now,
                                       sealed=True)
        return self.queue_ack(station, self._stored_ack(row, status), now)

    def _stored_ack(self, row: dict,
                    status: m.ApplicationStatus | None = None) -> m.ApplicationAck:
        if status is None:  # a repeated ack: the first status again, from the row
            status = m.ApplicationStatus(
                application_id=uuid.UUID(row["id"]), case_number=row["case_number"], seq=1,
                code=int(Lifecycle.RECEIVED), label=Lifecycle.RECEIVED.label,
                at=datetime.fromisoformat(row["received_at"]))
        return m.ApplicationAck(application_id=uuid.UUID(row["id"]), result=m.AckResult.STORED,
                                case_number=row["case_number"],
                                receipt_number=row["receipt_number"], status=status)

    def queue_ack(self, station: str, ack: m.ApplicationAck, now: datetime) -> m.ApplicationAck:
        """Queue an ack; the acks a transaction queues for one station go out together."""
        self.store.queue_outgoing_part(self.topics.station(Kind.ACK, station), ack,
                                       at=_iso(now), combine=m.ack_messages)
        return ack

    # transitions ------------------------------------------------------------------------
    def act(self, application_id: str, action: Action, actor: Actor, payload: dict,
            now: datetime) -> dict:
        """An officer's or station's action on an application. In a transaction."""
        row = self.store.application(application_id)
        if row is None:
            raise ActionRefused("没有找到这个办件", status=404)
        if actor.role in ("officer", "head") and actor.department != row["department"]:
            raise ActionRefused("这个办件不属于您的部门", status=403)
        return self.record_transition(row, action, actor, payload, now)

    def record_transition(self, row: dict, action: Action, actor: Actor, payload: dict,
                          now: datetime) -> dict:
        row, status = self._transition(row, action, actor, payload, now)
        self.store.queue_outgoing(self.topics.station(Kind.STATUS, row["station"]),
                                  m.encode(status), at=_iso(now))
        return row

    def _transition(self, row: dict, action: Action, actor: Actor, payload: dict,
                    now: datetime, *, sealed: bool = False,
                    ) -> tuple[dict, m.ApplicationStatus]:
        """Append the event, update the row, queue the SMS; the status for the station is
        returned for the caller to send. `sealed`: the row's personal columns are encrypted
        (a row about to be inserted)."""
        current = Lifecycle(row["state"]) if action != Action.RECEIVE else None
        history = self.store.events(row["id"]) if current is not None else []
        try:
            step = transition(current, action, actor.role, payload,
                              accepted=was_accepted(e.code for e in history))
        except IllegalTransition as exc:
            raise ActionRefused(exc.reason) from exc
        seq = self.store.append_event(row["id"], int(step.code), str(action), actor.name,
                                      actor.role, now, step.payload, first=current is None)
        changes = {"state": int(step.code), "state_at": _iso(now)}
        if step.code == Lifecycle.SUPPLEMENT_REQUESTED:
            changes["supplement_officer"] = actor.name
        if step.code == Lifecycle.SUPPLEMENT_RECEIVED and row.get("supplement_officer"):
            # OpenCPS #477: the resubmission returns to the officer who asked for it.
            changes["assigned_officer"] = row["supplement_officer"]
        elif actor.role in ("officer", "head") and not row.get("assigned_officer"):
            changes["assigned_officer"] = actor.name
        # The clock starts at acceptance: nothing to compute for a case just received.
        clock = self.clock(row["id"], row["service_code"], now) if current else None
        deadline = clock.deadline if clock else None
        changes["deadline"] = deadline.isoformat() if deadline else None
        changes = {k: v for k, v in changes.items() if row.get(k) != v}
        if changes:
            self.store.update_application(row["id"], changes)
            row = {**row, **changes}

        item = self.find_item(row["service_code"])
        item_name = item.name if item else row["service_code"]
        proxy = None
        if proxy_json := row.get("proxy_officer_json"):
            if sealed:  # a row as written, its personal columns sealed
                proxy_json = self.store.cipher.decrypt(proxy_json)
            proxy = m.ProxyOfficer.model_validate_json(proxy_json).name
        names = {mat.code: mat.name for mat in item.materials} if item else {}
        materials = [names.get(c, c) for c in step.payload.get("materials") or []]
        status = m.ApplicationStatus(
            application_id=uuid.UUID(row["id"]), case_number=row["case_number"], seq=seq,
            code=int(step.code), label=step.code.label, at=now,
            note=str(step.payload.get("note") or step.payload.get("reason") or "")[:2000],
            materials=materials, deadline=deadline)
        text = status_text(step.code, item_name, row["case_number"],
                           {**step.payload, "material_names": names}, proxy_officer=proxy)
        if text:
            self.store.queue_sms(application_id=row["id"], event_seq=seq,
                                 phone=row["applicant_phone"], text=text, at=_iso(now),
                                 sealed=sealed)
        return row, status

    def clock(self, application_id: str, service_code: str, now: datetime):
        item = self.find_item(service_code)
        promised = item.promised_days if item else 0
        events = [(e.code, datetime.fromisoformat(e.at)) for e in
                  self.store.events(application_id)]
        return compute_clock(promised, events, now, self.calendar)

    # station resynchronisation ----------------------------------------------------------
    def sync(self, station: str, ids: list[str], now: datetime) -> dict:
        """After a reconnect a station asks what became of its pending applications."""
        rows = {r["id"]: r for r in self.store.applications_for_station(station, ids)}
        for row in rows.values():
            self.queue_ack(station, self._stored_ack(row), now)
        return {
            "applications": [
                {"application_id": r["id"], "case_number": r["case_number"],
                 "receipt_number": r["receipt_number"], "state": r["state"],
                 "label": Lifecycle(r["state"]).label}
                for r in rows.values()
            ],
            "unknown": [i for i in ids if i not in rows],
        }

    # progress lookup at the station ----------------------------------------------------
    def progress(self, station: str, params: dict) -> dict:
        """`request/progress`: the applications of one person (`id_number`) or one case
        (`case_number` / `receipt_number`) filed at this station, each with its timeline.
        Names and ID numbers are masked: the answer travels to a public screen."""
        keys = {k: str(params[k]) for k in ("id_number", "case_number", "receipt_number")
                if params.get(k)}
        if not keys:
            raise ActionRefused("请刷身份证或扫描回执上的二维码", status=400)
        rows = self.store.applications_at_station(station, **keys)
        out = []
        for row in rows:
            item = self.find_item(row["service_code"])
            names = {mat.code: mat.name for mat in item.materials} if item else {}
            events = []
            for event in self.store.events(row["id"]):
                payload = event.payload
                events.append({
                    "seq": event.seq, "code": event.code,
                    "label": Lifecycle(event.code).label, "at": event.at,
                    "note": str(payload.get("note") or payload.get("reason") or "")[:500],
                    "materials": [names.get(c, c) for c in payload.get("materials") or []],
                })
            out.append({
                "application_id": row["id"], "case_number": row["case_number"],
                "receipt_number": row["receipt_number"], "service_code": row["service_code"],
                "service_name": item.name if item else row["service_code"],
                "applicant_name": mask_name(row["applicant_name"]),
                "applicant_id_number": mask_id_number(row["applicant_id_number"]),
                "state": row["state"], "label": Lifecycle(row["state"]).label,
                "deadline": row["deadline"], "events": events,
            })
        return {"applications": out}

    def supplement(self, station: str, params: dict, now: datetime) -> dict:
        """`request/supplement`: the station hands in the materials a 补正 asked for.

        params: `application_id`, `materials` ([{code, sha256, mime}], blobs sent first),
        optional `note`. Records 补正（结束） as the station, which routes the case back to
        the officer who asked (see `record_transition`). In a transaction.
        """
        row = self.store.application(str(params.get("application_id", "")))
        if row is None or row["station"] != station:
            raise ActionRefused("没有找到这个办件，请核对后重新提交", status=404)
        try:
            refs = [m.MaterialRef.model_validate(r) for r in params.get("materials") or []]
        except ValueError:
            raise ActionRefused("补正材料的格式不正确，请重新拍摄后提交", status=400) from None
        item = self.find_item(row["service_code"])
        known = {mat.code for mat in item.materials} if item else set()
        unknown = sorted({r.code for r in refs} - known)
        if unknown:
            raise ActionRefused(f"材料编号 {'、'.join(unknown)} 不属于这个事项", status=400)
        missing = sorted({r.sha256 for r in refs} - self.store.has_blobs([r.sha256 for r in refs]))
        if missing:
            raise ActionRefused("补正材料的图片还没有传到县里，请稍后重试", status=409)
        payload = {"materials": [r.code for r in refs], "note": str(params.get("note") or "")}
        row = self.record_transition(row, Action.SUPPLEMENT_RECEIVED,
                                     Actor(station, "station", station=station), payload, now)
        if refs:
            materials = json.loads(row["materials_json"]) + [r.model_dump() for r in refs]
            self.store.update_application(row["id"], {"materials_json": m.json_dumps(materials)})
        return {"application_id": row["id"], "case_number": row["case_number"],
                "state": row["state"], "label": Lifecycle(row["state"]).label}

    def deliver(self, station: str, params: dict, now: datetime) -> dict:
        """`request/deliver`: the station officer hands the result over (领取登记).

        params: `application_id`, `collector_name`, `collector_id_number`, `method`
        ("station"). Records 送达 as the station, which queues the SMS. In a transaction.
        """
        row = self.store.application(str(params.get("application_id", "")))
        if row is None or row["station"] != station:
            raise ActionRefused("没有找到这个办件，请核对后重新登记", status=404)
        payload = {k: params.get(k) for k in ("collector_name", "collector_id_number",
                                              "method")}
        row = self.record_transition(row, Action.DELIVER,
                                     Actor(station, "station", station=station), payload, now)
        return {"application_id": row["id"], "case_number": row["case_number"],
                "state": row["state"], "label": Lifecycle(row["state"]).label}


def today_in_china(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(CHINA).date()

