"""The payments ledger's HTTP routes: record, list and export a school's payments.

Payments are transactional records (DESIGN: Retention): kept six years after they
happened, what was bought and who paid encrypted under the school's transactional
key. Amounts are integer pence, positive; `kind` says the direction. Recording is
idempotent by (order_number, kind) and a batch is all-or-nothing.
"""
import base64
import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from pupilpost import access, auth, db, tenancy
from pupilpost.auth import Principal
from pupilpost.crypto import DataKey, Keyring
from pupilpost.runner import Service
from services.ingest import payments_store as store

MAX_BATCH = 1000
MAX_PENCE = 2**63 - 1  # PostgreSQL bigint
EXPORT_PAGE = 1000
CSV_COLUMNS = ("order_number", "kind", "amount_pence", "amount_gbp", "currency", "method", "item",
               "purchaser_id", "occurred_at", "recorded_at")
COMPARED = ("amount_pence", "currency", "method", "item", "purchaser_id", "occurred_at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"


def _iso_text(value: Any) -> Any:
    # Only text: pydantic would otherwise read a bare number as seconds since 1970.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a timezone")  # noqa: TRY004
    return value


Text64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                          pattern=_NO_CONTROLS)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                           pattern=_NO_CONTROLS)]


class PaymentIn(BaseModel):
    """One payment as a school's payment system reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_number: Text64
    kind: Literal["sale", "refund"]
    amount_pence: Annotated[StrictInt, Field(gt=0, le=MAX_PENCE, description="integer pence, > 0")]
    currency: Literal["GBP"] = "GBP"
    method: str = Field(description="card, cash, cheque, bank_transfer, voucher, ...")
    item: Text200
    purchaser_id: Text64
    occurred_at: Annotated[AwareDatetime, BeforeValidator(_iso_text)]

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        v = v.strip().lower().replace(" ", "_").replace("-", "_")
        if not (1 <= len(v) <= 32 and v[0].isascii() and v[0].isalpha()
                and all(c.isascii() and (c.isalnum() or c == "_") for c in v)):
            raise ValueError("use a short name such as card, cash, cheque, bank_transfer or voucher")
        return v

    @field_validator("occurred_at")
    @classmethod
    def _occurred(cls, v: datetime) -> datetime:
        now = datetime.now(UTC)
        if v > now + timedelta(days=1):
            raise ValueError("is in the future")
        if tenancy.transactional_expiry(v.astimezone(UTC)) <= now:
            raise ValueError("is older than the six-year retention period")
        return v

    def values(self) -> dict[str, Any]:
        """The fields two records of one order must agree on."""
        return {f: getattr(self, f) for f in COMPARED}


class PaymentBatch(BaseModel):
    """Several payments, recorded all-or-nothing."""

    model_config = ConfigDict(extra="forbid")

    payments: list[PaymentIn] = Field(min_length=1, max_length=MAX_BATCH)


def parse_payments(payload: Any) -> tuple[list[PaymentIn], bool]:
    """The payments in a body (one payment, or {"payments": [...]}) and whether it was a single one."""
    single = not (isinstance(payload, dict) and "payments" in payload)
    try:
        if single:
            return [PaymentIn.model_validate(payload)], True
        return PaymentBatch.model_validate(payload).payments, False
    except ValidationError as exc:
        # Locations and reasons only; the runner's handler never echoes the submitted values.
        raise RequestValidationError([{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]}
                                      for e in exc.errors()]) from None


def deduplicate(payments: Sequence[PaymentIn]) -> tuple[dict[tuple[str, str], PaymentIn], list[dict]]:
    """Payments by (order_number, kind), and the orders a batch gives two different versions of."""
    unique: dict[tuple[str, str], PaymentIn] = {}
    conflicts = []
    for p in payments:
        seen = unique.setdefault((p.order_number, p.kind), p)
        if seen is not p and (fields := differing(seen.values(), p.values())):
            conflicts.append({"order_number": p.order_number, "kind": p.kind, "fields": fields,
                              "with": "another payment in this request"})
    return unique, conflicts


def differing(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Names of the compared fields on which two versions of a payment disagree."""
    return [f for f in COMPARED if a[f] != b[f]]


def amount_gbp(pence: int) -> str:
    """Integer pence as pounds with two decimals (1250 -> '12.50'), without floats."""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(pence), 100)
    return f"{sign}{pounds}.{rest:02d}"


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(payments: Sequence[dict[str, Any]]) -> str:
    """CSV lines (RFC 4180) of payment views, in CSV_COLUMNS order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for p in payments:
        writer.writerow(csv_safe(p[c] if c != "amount_gbp" else amount_gbp(p["amount_pence"]))
                        for c in CSV_COLUMNS)
    return out.getvalue()


def encode_cursor(view: dict[str, Any]) -> str:
    """An opaque keyset cursor after this payment."""
    raw = f"{view['occurred_at'].isoformat()}|{view['payment_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (occurred_at, payment_id) a cursor points after; 422 on anything else."""
    try:
        at, _, pid = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError
        return when, UUID(pid)
    except ValueError:
        raise _invalid(("query", "after"), "not a cursor returned by this API") from None


def _invalid(loc: tuple[str, ...], reason: str) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": reason, "type": "value_error"}])


@dataclass(frozen=True)
class Window:
    """The time filter of a listing: occurred_at in [from, to)."""

    since: datetime | None
    until: datetime | None


def window(since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
           until: Annotated[AwareDatetime | None, Query(alias="to")] = None) -> Window:
    """FastAPI dependency: the from/to query parameters, checked."""
    if since is not None and until is not None and until < since:
        raise _invalid(("query", "to"), "must not be before 'from'")
    return Window(since=since, until=until)


def router(svc: Service) -> APIRouter:
    """The payments routes bound to a running service (school API keys with 'payments')."""
    r = APIRouter()
    Caller = Annotated[Principal, Depends(svc.principal)]
    Filters = Annotated[Window, Depends(window)]

    @r.post("/v1/payments", status_code=201, responses={200: {"description": "all already recorded"},
                                                        409: {"description": "an order conflicts"}})
    async def record_payments(who: Caller, response: Response,
                              payload: Annotated[Any, Body(description="a payment, or {'payments': [...]}")]
                              ) -> Any:
        school_id = _payments_school(who)
        payments, single = parse_payments(payload)
        unique, conflicts = deduplicate(payments)
        if conflicts:
            return _conflict(conflicts)
        try:
            async with db.tenant_tx(svc.db(), school_id) as conn:
                views = await _save(svc.keys(), conn, school_id, unique)
                await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                    resource="payments", action="create", purpose="record payments")
        except _Conflicts as exc:
            return _conflict(exc.conflicts)
        items = [views[(p.order_number, p.kind)] for p in payments]
        response.status_code = 201 if any(v["created"] for v in views.values()) else 200
        return items[0] if single else {"items": items}

    @r.get("/v1/payments")
    async def list_payments(who: Caller, span: Filters, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                            after: Annotated[str | None, Query(max_length=200)] = None) -> dict:
        school_id = _payments_school(who)
        cursor = decode_cursor(after) if after else None
        async with db.tenant_tx(svc.db(), school_id) as conn:
            rows = await store.list_payments(conn, school_id, since=span.since, until=span.until,
                                             after=cursor, limit=limit)
            items = [await _view(svc.keys(), conn, school_id, row) for row in rows]
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource="payments", action="read", purpose="list payments")
        return {"items": items, "next": encode_cursor(items[-1]) if len(items) == limit else None}

    @r.get("/v1/payments.csv", response_class=StreamingResponse,
           responses={200: {"content": {"text/csv": {}}, "description": "the payments as CSV"}})
    async def export_payments(who: Caller, span: Filters) -> StreamingResponse:
        school_id = _payments_school(who)
        async with db.tenant_tx(svc.db(), school_id) as conn:
            as_of = await store.now(conn)
            first = await _page(svc, conn, school_id, span, None, as_of)
            await access.record(conn, svc.outbox, svc.name, who, school_id=school_id,
                                resource="payments", action="export", purpose="export payments")
        name = f"payments-{as_of.astimezone(UTC):%Y%m%dT%H%M%SZ}.csv"
        return StreamingResponse(
            _export(svc, school_id, span, first, as_of), media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"})

    return r


def _payments_school(who: Principal) -> UUID:
    """The caller's own school, if its API key holds the payments permission (else 403)."""
    auth.require_permission(who, who.school_id, auth.PAYMENTS)  # type: ignore[arg-type]
    return who.school_id  # type: ignore[return-value]


class _Conflicts(Exception):
    """Raised inside the transaction so nothing of the batch is kept."""

    def __init__(self, conflicts: list[dict]) -> None:
        super().__init__("payments conflict with recorded ones")
        self.conflicts = conflicts


def _conflict(conflicts: list[dict]) -> JSONResponse:
    # Names orders and field names only: never what was bought, by whom, or the amounts.
    orders = ", ".join(f"{c['order_number']!r} ({c['kind']})" for c in conflicts[:20])
    more = f" and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
    detail = f"already recorded differently: order {orders}{more}; a correction is a refund, not an edit"
    return JSONResponse({"detail": detail, "conflicts": conflicts}, status_code=409)


async def _save(keys: Keyring, conn: db.Conn, school_id: UUID,
                unique: dict[tuple[str, str], PaymentIn]) -> dict[tuple[str, str], dict[str, Any]]:
    """Insert what is new, compare what exists; views by key, each with `created`."""
    key = await keys.family_key(conn, school_id, "transactional")
    # One order for every request, so concurrent batches wait on each other rather than deadlock.
    rows = [await _row(keys, key, unique[k]) for k in sorted(unique)]
    inserted = await store.insert_payments(conn, school_id, rows)
    created = {(r["order_number"], r["kind"]) for r in inserted}
    existing = [k for k in unique if k not in created]
    found = await store.load_by_keys(conn, school_id, existing) if existing else []
    views = {(r["order_number"], r["kind"]): {**await _view(keys, conn, school_id, r), "created": False}
             for r in found}
    conflicts = [{"order_number": k[0], "kind": k[1], "fields": fields, "with": "the recorded payment"}
                 for k, v in views.items() if (fields := differing(unique[k].values(), v))]
    if conflicts:
        raise _Conflicts(conflicts)
    for r in inserted:  # just encrypted from the request: no need to decrypt them again
        k = (r["order_number"], r["kind"])
        p = unique[k]
        views[k] = {**_plain(r), "item": p.item, "purchaser_id": p.purchaser_id, "created": True}
    return views


async def _row(keys: Keyring, key: DataKey, p: PaymentIn) -> tuple:
    occurred = p.occurred_at.astimezone(UTC)
    return (uuid4(), p.order_number, p.kind, p.amount_pence, p.currency, p.method,
            await keys.encrypt_with(key, "payment.item", p.item),
            await keys.encrypt_with(key, "payment.purchaser", p.purchaser_id),
            occurred, tenancy.transactional_expiry(occurred))


async def _view(keys: Keyring, conn: db.Conn, school_id: UUID, row: dict[str, Any]) -> dict[str, Any]:
    """A stored payment as the API shows it, item and purchaser decrypted."""
    item = await keys.decrypt(conn, school_id, "payment.item", row["item_enc"])
    purchaser = await keys.decrypt(conn, school_id, "payment.purchaser", row["purchaser_enc"])
    return {**_plain(row), "item": item.decode(), "purchaser_id": purchaser.decode()}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.endswith("_enc")}


async def _page(svc: Service, conn: db.Conn, school_id: UUID, span: Window,
                after: tuple[datetime, UUID] | None, as_of: datetime) -> list[dict[str, Any]]:
    rows = await store.list_payments(conn, school_id, since=span.since, until=span.until, after=after,
                                     limit=EXPORT_PAGE, recorded_by=as_of)
    return [await _view(svc.keys(), conn, school_id, row) for row in rows]


async def _export(svc: Service, school_id: UUID, span: Window, page: list[dict[str, Any]],
                  as_of: datetime) -> AsyncIterator[str]:
    """The CSV, a page at a time; later pages see only rows recorded by the export's start."""
    yield ",".join(CSV_COLUMNS) + "\r\n"
    while page:
        yield csv_rows(page)
        if len(page) < EXPORT_PAGE:
            return
        after = (page[-1]["occurred_at"], page[-1]["payment_id"])
        async with db.tenant_tx(svc.db(), school_id) as conn:
            page = await _page(svc, conn, school_id, span, after, as_of)
