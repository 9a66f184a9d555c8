"""Taking in a message in two halves: what needs no database, and the writes.

`Preparer` does the first half. For a submitted application it decodes the payload,
checks it against the catalog and the ID rules, and seals the applicant's personal
fields; for a photo it checks the hash and the type and writes the bytes, sealed, to a
temporary file beside their place. None of that needs the database or the clock, so the
MQTT link process (`hub.link`) does it for every such message it receives, on the other
core. The hub's single writer is left with the second half: the lookups, the case number,
the rows, and making the batch's files durable before its commit
(`ApplicationService.receive_prepared`, `Ingest`).

A message that arrives without a preparation (another endpoint, a test, a preparation
that failed) is prepared by the hub itself. It is the same code either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date
from pathlib import Path
from typing import NamedTuple

from hub.blobs import BlobRejected, BlobStore, check_blob
from hub.crypto import FieldCipher
from hub.db.repositories import seal_application_columns
from protocols import messages as m
from protocols.catalog import Catalog, UnknownCategory, UnknownItem
from protocols.identity import InvalidIdNumber, is_valid_mobile, parse_id_number
from protocols.topics import Kind, TopicError, Topics

logger = logging.getLogger(__name__)

Reasons = tuple[tuple[str, str], ...]  # (field, reason) pairs


class PreparedSubmit(NamedTuple):
    """A submission, worked out as far as it can be without the database.

    A tuple, because it crosses from the link process to the hub for every application
    and a tuple is what pickle rebuilds fastest.
    """

    station: str
    application_id: str | None  # None when the payload did not even name one
    receipt_number: str | None
    unreadable: Reasons  # why the payload could not be decoded; then nothing below is set
    errors: Reasons  # why a readable application breaks the catalog or the ID rules
    hashes: tuple[str, ...]  # its materials' blobs, sorted, without repeats
    service_code: str | None
    columns: dict | None  # its `applications` columns known in advance, personal ones sealed

    needs_payload = True  # kept for the rejection table, should it be refused

    def field_errors(self) -> list[m.FieldError]:
        return [m.FieldError(field=f, reason=r) for f, r in self.unreadable or self.errors]


class PreparedBlob(NamedTuple):
    """A photo or scan, checked and, in the link process, already written sealed to a
    temporary file beside its place in the blob store, so that its bytes need not cross
    to the hub at all. The hub makes the file durable with the rest of its batch."""

    station: str
    sha256: str
    size: int
    mime: str | None
    reason: str | None  # why it is refused
    staged: str | None  # the temporary file (`BlobStore.write_staged`), to `adopt`
    stored: bool  # the blob store had it already

    @property
    def needs_payload(self) -> bool:
        """Whether the hub still needs the bytes: to keep a refused one in the rejection
        table, or to write it itself when the link could not."""
        return self.reason is not None or (self.staged is None and not self.stored)


Prepared = PreparedSubmit | PreparedBlob


@dataclass(frozen=True)
class PreparerSpec:
    """What another process needs to build the same `Preparer` (it must pickle: the
    cipher does not, so its key file travels instead)."""

    catalog: Catalog
    key_file: str
    topic_root: str
    blob_root: str | None = None  # where to write the photos' temporary files

    def build(self) -> Preparer:
        cipher = FieldCipher.load(Path(self.key_file))
        blobs = BlobStore(self.blob_root, cipher) if self.blob_root else None
        return Preparer(self.catalog, cipher, Topics(self.topic_root), blobs)


class Preparer:
    def __init__(self, catalog: Catalog, cipher: FieldCipher, topics: Topics,
                 blobs: BlobStore | None = None):
        """Without `blobs`, photos are checked but not written: the hub writes them."""
        self.catalog = catalog
        self.cipher = cipher
        self.topics = topics
        self.blobs = blobs

    def prepare(self, topic: str, payload: bytes) -> Prepared | None:
        """The preparation of a submission or a photo; None for any other message."""
        try:
            parsed = self.topics.parse(topic)
        except TopicError:
            return None
        if parsed.kind == Kind.SUBMIT:
            return self.from_payload(parsed.station, payload)
        if parsed.kind == Kind.BLOB:
            return self.blob(parsed.station, parsed.sha256, payload)
        return None

    def blob(self, station: str, sha256: str, data: bytes) -> PreparedBlob:
        try:
            mime = check_blob(sha256, data)
        except BlobRejected as exc:
            return PreparedBlob(station, sha256, len(data), None, exc.reason, None, False)
        staged, stored = None, False
        if self.blobs is not None:
            try:
                tmp = self.blobs.write_staged(sha256, data)
            except OSError as exc:  # a full disk, say: the hub tries itself, and says so
                logger.warning("could not write blob %s aside: %s", sha256[:12], exc)
            else:
                staged, stored = (str(tmp), False) if tmp else (None, True)
        return PreparedBlob(station, sha256, len(data), mime, None, staged, stored)

    def from_payload(self, station: str, payload: bytes) -> PreparedSubmit:
        try:
            env = m.decode(Kind.SUBMIT, payload)
        except m.MessageError as exc:
            return PreparedSubmit(
                station, str(exc.message_id) if exc.message_id else None, None,
                tuple((e.field, e.reason) for e in exc.errors), (), (), None, None)
        return self.from_envelope(station, env)

    def from_envelope(self, station: str, env: m.Envelope) -> PreparedSubmit:
        submit: m.ApplicationSubmit = env.data
        app_id = str(env.id)
        errors = tuple((e.field, e.reason) for e in self.validate(submit))
        if errors:
            return PreparedSubmit(station, app_id, submit.receipt_number, (), errors, (),
                                  submit.service_code, None)
        item = self.catalog.item(submit.service_code)
        applicant = submit.applicant
        columns = seal_application_columns(self.cipher, {
            "receipt_number": submit.receipt_number, "service_code": item.code,
            "catalog_version": self.catalog.version, "department": item.department,
            "category": submit.category, "applicant_id_number": applicant.id_number,
            "applicant_name": applicant.name, "applicant_phone": applicant.phone,
            "applicant_json": applicant.model_dump_json(),
            "form_json": m.json_dumps(submit.form),
            "materials_json": m.json_dumps([r.model_dump() for r in submit.materials]),
            "proxy_officer_json": (submit.proxy_officer.model_dump_json()
                                   if submit.proxy_officer else None),
            "filed_at": submit.filed_at.astimezone(UTC).isoformat(),
        })
        return PreparedSubmit(station, app_id, submit.receipt_number, (), (),
                              tuple(sorted({ref.sha256 for ref in submit.materials})),
                              item.code, columns)

    def validate(self, submit: m.ApplicationSubmit) -> list[m.FieldError]:
        """Check an application against the catalog and the ID rules; [] when it is fine."""
        errors: list[m.FieldError] = []

        def err(field: str, reason: str) -> None:
            errors.append(m.FieldError(field=field, reason=reason))

        try:
            parse_id_number(submit.applicant.id_number)
        except InvalidIdNumber as exc:
            err("applicant.id_number", exc.reason)
        if not is_valid_mobile(submit.applicant.phone):
            err("applicant.phone", "手机号码应为以1开头的11位数字，请核对")
        try:
            item = self.catalog.item(submit.service_code)
        except UnknownItem:
            err("service_code",
                f"事项编码 {submit.service_code} 不在本县事项目录中，请重新选择事项")
            return errors
        if item.status != "active":
            err("service_code", f"事项“{item.name}”已停用，请选择其他事项或咨询信息员")
            return errors
        if item.categories and submit.category not in {c.code for c in item.categories}:
            names = "、".join(c.name for c in item.categories)
            err("category", f"请选择申请人类别（{names}）")
            return errors
        try:
            required = self.catalog.required_materials(item.code, submit.category)
        except UnknownCategory as exc:
            err("category", str(exc))
            return errors
        known = {mat.code for mat in item.materials}
        given = {ref.code for ref in submit.materials}
        for i, ref in enumerate(submit.materials):
            if ref.code not in known:
                err(f"materials[{i}].code", f"材料编码 {ref.code} 不属于事项“{item.name}”")
        for mat in required:
            if mat.code not in given and not (mat.from_id_card and submit.applicant.from_card):
                err(f"materials.{mat.code}", f"缺少必交材料“{mat.name}”，请拍摄后再提交")
        for fld in item.form:
            value = submit.form.get(fld.key)
            if fld.required and value in (None, ""):
                err(f"form.{fld.key}", f"请填写“{fld.label}”")
            elif value not in (None, "") and (reason := _form_value_problem(fld, value)):
                err(f"form.{fld.key}", reason)
        extra = set(submit.form) - {f.key for f in item.form}
        for key in sorted(extra):
            err(f"form.{key}", "该事项没有这一项，请不要填写")
        return errors


def _form_value_problem(fld, value) -> str | None:
    """Why a form answer does not fit its field's type, as a plain sentence; None if it does."""
    if fld.type == "choice":
        if value not in fld.options:
            return f"“{fld.label}”只能选择：{'、'.join(fld.options)}"
    elif fld.type == "bool":
        if not isinstance(value, bool):
            return f"“{fld.label}”只能回答“是”或“否”"
    elif fld.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
                or value in (float("inf"), float("-inf")):
            return f"“{fld.label}”应填写数字"
    elif fld.type == "date":
        if not isinstance(value, str) or len(value) != 10:
            return f"“{fld.label}”应按 年-月-日 填写日期"
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"“{fld.label}”不是有效的日期，请按 年-月-日 填写"
    elif fld.type == "text":
        if not isinstance(value, str):
            return f"“{fld.label}”应填写文字"
        if fld.max_length and len(value) > fld.max_length:
            return f"“{fld.label}”最多{fld.max_length}个字，请删减"
    return None
