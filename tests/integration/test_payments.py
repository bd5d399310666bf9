"""The payments ledger through the real HTTP API, PostgreSQL and Kafka: recording is
idempotent and all-or-nothing, item and purchaser rest encrypted, records are kept
six years, each school sees only its own, and every access is audited."""
from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from tests.conftest import client, eventually
from tests.integration.helpers import admin_token, create_school

NOW = datetime.now(UTC).replace(microsecond=0)


def payment(order: str, *, kind: str = "sale", amount: int = 1250, days_ago: int = 1, **extra) -> dict:
    """A valid payment body."""
    return {"order_number": order, "kind": kind, "amount_pence": amount, "method": "card",
            "item": f"Year 5 trip to Kew ({order})", "purchaser_id": f"PARENTPAY-{order}",
            "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(), **extra}


@pytest.fixture
async def services(env):
    """Only ingest and audit: the ledger touches no other service."""
    started = {name: env.create(name) for name in ("ingest", "audit")}
    await asyncio.gather(*(s.start() for s in started.values()))
    try:
        yield started
    finally:
        await asyncio.gather(*(s.stop() for s in started.values()), return_exceptions=True)


@pytest.fixture
async def school(services, tmp_path) -> tuple[str, UUID, str]:
    """The operator token, a school and its first API key (every permission)."""
    token = await admin_token(services, tmp_path)
    school_id, key = await create_school(services, token, "510001", "Kew Primary")
    return token, school_id, key


async def raw_rows(env, sql: str, *args) -> list[asyncpg.Record]:
    """Rows as the database superuser sees them (no row-level security)."""
    conn = await asyncpg.connect(env.admin_dsn())
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_sales_and_refunds_are_kept_encrypted_for_six_years(services, school, env):
    _, _, key = school
    leap = payment("ORD-1", days_ago=0) | {"occurred_at": "2024-02-29T23:30:00-01:00",
                                           "item": "Swimming kit, size 9", "purchaser_id": "PP-777123"}
    async with client(services["ingest"], key) as api:
        sale = await api.post("/v1/payments", json=leap)
        assert sale.status_code == 201, sale.text
        body = sale.json()
        assert body["created"] is True and body["amount_pence"] == 1250 and body["kind"] == "sale"
        assert body["item"] == "Swimming kit, size 9" and body["currency"] == "GBP"
        # 2024-03-01T00:30Z + six years: the calendar date in UTC, six years on.
        assert datetime.fromisoformat(body["retain_until"]) == datetime(2030, 3, 1, 0, 30, tzinfo=UTC)
        refund = await api.post("/v1/payments", json=payment("ORD-1", kind="refund", amount=450) | {
            "method": "Bank Transfer", "item": "Swimming kit, size 9", "purchaser_id": "PP-777123",
            "occurred_at": "2024-02-29T10:00:00Z"})
        assert refund.status_code == 201, refund.text
        assert refund.json()["method"] == "bank_transfer"
        assert refund.json()["payment_id"] != body["payment_id"]
        # 29 February six years on is 28 February.
        assert datetime.fromisoformat(refund.json()["retain_until"]) == datetime(2030, 2, 28, 10, tzinfo=UTC)
        listed = (await api.get("/v1/payments")).json()["items"]
    assert [(p["kind"], p["amount_pence"]) for p in listed] == [("refund", 450), ("sale", 1250)]
    assert {p["purchaser_id"] for p in listed} == {"PP-777123"}

    rows = await raw_rows(env, "SELECT t::text AS whole, t.* FROM ingest.payment t ORDER BY occurred_at")
    assert len(rows) == 2
    for row in rows:
        for plaintext in ("Swimming kit", "PP-777123", "777123"):
            assert plaintext not in row["whole"]
            assert plaintext.encode() not in bytes(row["item_enc"]) + bytes(row["purchaser_enc"])
        expected = row["occurred_at"].astimezone(UTC)
        expected = expected.replace(year=expected.year + 6) if (expected.month, expected.day) != (2, 29) \
            else expected.replace(year=expected.year + 6, day=28)
        assert row["retain_until"] == expected
    # The service's own role sees nothing without a school context (row-level security is forced).
    async with services["ingest"].db().acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ingest.payment") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE ingest.payment SET amount_pence = 1")


async def test_reposting_is_idempotent_and_a_changed_amount_conflicts(services, school, env):
    _, _, key = school
    async with client(services["ingest"], key) as api:
        first = await api.post("/v1/payments", json=payment("ORD-7"))
        assert first.status_code == 201
        again = await api.post("/v1/payments", json=payment("ORD-7"))
        assert again.status_code == 200, again.text
        assert again.json()["created"] is False and again.json()["payment_id"] == first.json()["payment_id"]

        mixed = await api.post("/v1/payments", json={"payments": [payment("ORD-7"), payment("ORD-8")]})
        assert mixed.status_code == 201
        assert [(i["order_number"], i["created"]) for i in mixed.json()["items"]] == [("ORD-7", False),
                                                                                       ("ORD-8", True)]

        changed = await api.post("/v1/payments", json=payment("ORD-7", amount=1300))
        assert changed.status_code == 409
        assert "ORD-7" in changed.json()["detail"]
        assert changed.json()["conflicts"] == [{"order_number": "ORD-7", "kind": "sale",
                                                "fields": ["amount_pence"], "with": "the recorded payment"}]
        assert "Kew" not in changed.text and "1300" not in changed.text and "1250" not in changed.text

        # All or nothing: a batch with one conflicting payment keeps none of the others.
        batch = await api.post("/v1/payments", json={"payments": [payment("ORD-9"),
                                                                  payment("ORD-8", amount=1)]})
        assert batch.status_code == 409 and "ORD-8" in batch.json()["detail"] and "ORD-9" not in batch.text
        twice = await api.post("/v1/payments", json={"payments": [payment("ORD-10"),
                                                                   payment("ORD-10", amount=99)]})
        assert twice.status_code == 409 and "ORD-10" in twice.json()["detail"]
        # The same batch posted twice at once, in opposite orders: each payment is recorded once.
        same = [payment(f"ORD-R{n}") for n in range(50)]
        racing = await asyncio.gather(*(api.post("/v1/payments", json={"payments": body})
                                        for body in (same, same[::-1])))
        assert sorted(r.status_code for r in racing) in ([200, 201], [201, 201]), [r.text for r in racing]
        assert sum(i["created"] for r in racing for i in r.json()["items"]) == 50
        listed = (await api.get("/v1/payments", params={"limit": 1000})).json()["items"]
    orders = [p["order_number"] for p in listed]
    assert sorted(orders) == sorted(["ORD-7", "ORD-8", *(f"ORD-R{n}" for n in range(50))])
    amounts = await raw_rows(env, "SELECT amount_pence FROM ingest.payment WHERE order_number = 'ORD-7'")
    assert [r["amount_pence"] for r in amounts] == [1250]


async def test_invalid_payments_are_refused_naming_the_field_not_the_value(services, school):
    _, _, key = school
    async with client(services["ingest"], key) as api:
        cases = [
            (payment("ORD-F", amount=12.57), "body.amount_pence", "12.57"),
            (payment("ORD-S", amount="1257"), "body.amount_pence", "1257"),
            (payment("ORD-Z", amount=0), "body.amount_pence", None),
            (payment("ORD-N") | {"occurred_at": "2026-03-04T05:06:07"}, "body.occurred_at", "05:06:07"),
            (payment("ORD-E") | {"occurred_at": 1767225600}, "body.occurred_at", "1767225600"),
            (payment("ORD-O") | {"occurred_at": "2019-01-01T00:00:00Z"}, "body.occurred_at", "2019"),
            (payment("ORD-K", kind="gift"), "body.kind", "gift"),
            (payment("ORD-C") | {"currency": "EUR"}, "body.currency", "EUR"),
            (payment("ORD-I") | {"item": "x" * 201}, "body.item", "xxxx"),
            (payment("X" * 65), "body.order_number", "XXXX"),
            ({"payments": [payment("ORD-A"), payment("ORD-B", amount=3.5)]}, "body.payments.1.amount_pence",
             "3.5"),
            ({"payments": []}, "body.payments", None),
        ]
        for body, field, secret in cases:
            r = await api.post("/v1/payments", json=body)
            assert r.status_code == 422, (field, r.text)
            assert field in [e["field"] for e in r.json()["errors"]], (field, r.text)
            if secret is not None:
                assert secret not in r.text, field
            assert "Kew" not in r.text and "PARENTPAY" not in r.text
        too_many = await api.post("/v1/payments", json={"payments": [payment(f"O{i}") for i in range(1001)]})
        assert too_many.status_code == 422
        assert (await api.get("/v1/payments", params={"from": "2026-01-01T00:00:00"})).status_code == 422
        assert (await api.get("/v1/payments", params={"after": "not-a-cursor"})).status_code == 422
        assert (await api.get("/v1/payments")).json()["items"] == []


async def test_only_the_school_with_the_payments_permission_sees_its_payments(services, school):
    token, school_id, key = school
    async with client(services["ingest"], key) as api:
        assert (await api.post("/v1/payments", json=payment("ORD-1"))).status_code == 201
    async with client(services["ingest"], token) as ops:
        scoped = await ops.post(f"/v1/ops/schools/{school_id}/api-keys", json={"permissions": ["upload"]})
        assert scoped.status_code == 201, scoped.text
        other_school, other_key = await create_school(services, token, "510002", "Other School")
        for path in ("/v1/payments", "/v1/payments.csv"):
            assert (await ops.get(path)).status_code == 403  # operators: not through these routes
    async with client(services["ingest"], scoped.json()["api_key"]) as upload_only:
        denied = await upload_only.post("/v1/payments", json=payment("ORD-2"))
        assert denied.status_code == 403 and "payments" in denied.json()["detail"]
        assert (await upload_only.get("/v1/payments")).status_code == 403
        assert (await upload_only.get("/v1/payments.csv")).status_code == 403
    async with client(services["ingest"]) as anonymous:
        assert (await anonymous.get("/v1/payments")).status_code == 401
    async with client(services["ingest"], other_key) as other:
        assert (await other.get("/v1/payments")).json()["items"] == []
        assert (await other.get("/v1/payments.csv")).text.count("\r\n") == 1
        # The same order number in another school is another school's order, not a conflict.
        mine = await other.post("/v1/payments", json=payment("ORD-1", amount=999))
        assert mine.status_code == 201 and mine.json()["created"] is True
    async with client(services["ingest"], key) as api:
        assert [p["amount_pence"] for p in (await api.get("/v1/payments")).json()["items"]] == [1250]
    assert other_school != school_id


async def test_listing_is_keyset_paginated_and_filtered_by_time(services, school):
    _, _, key = school
    batch = [payment(f"ORD-{n}", days_ago=10 - n) for n in range(7)]  # oldest first: ORD-0 .. ORD-6
    async with client(services["ingest"], key) as api:
        made = await api.post("/v1/payments", json={"payments": batch[::-1]})
        assert made.status_code == 201 and all(i["created"] for i in made.json()["items"])
        seen, after = [], None
        while True:
            params = {"limit": 3} | ({"after": after} if after else {})
            page = (await api.get("/v1/payments", params=params)).json()
            assert len(page["items"]) <= 3
            seen += [p["order_number"] for p in page["items"]]
            after = page["next"]
            if after is None:
                break
        assert seen == [f"ORD-{n}" for n in range(7)]
        window = {"from": batch[2]["occurred_at"], "to": batch[5]["occurred_at"]}
        inside = (await api.get("/v1/payments", params=window)).json()["items"]
        assert [p["order_number"] for p in inside] == ["ORD-2", "ORD-3", "ORD-4"]
        exported = list(csv.DictReader(io.StringIO((await api.get("/v1/payments.csv", params=window)).text)))
        assert [r["order_number"] for r in exported] == ["ORD-2", "ORD-3", "ORD-4"]
        backwards = await api.get("/v1/payments", params={"from": window["to"], "to": window["from"]})
        assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "query.to"


async def test_csv_export_formats_pence_and_neutralises_formulas(services, school):
    _, _, key = school
    hostile = [
        payment("=HYPERLINK(\"http://evil\")", amount=1250, days_ago=3) | {"item": "@SUM(A1:A9)"},
        payment("ORD-2", kind="refund", amount=5, days_ago=2) | {
            "item": "-2+3", "purchaser_id": "+447700900123", "method": "cash"},
        payment("ORD-3", amount=100000001, days_ago=1) | {"item": "Trip, \"Kew\" gardens"},
    ]
    async with client(services["ingest"], key) as api:
        made = await api.post("/v1/payments", json={"payments": hostile})
        assert made.status_code == 201, made.text
        r = await api.get("/v1/payments.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment; filename=\"payments-")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["order_number", "kind", "amount_pence", "amount_gbp", "currency", "method", "item",
                       "purchaser_id", "occurred_at", "recorded_at"]
    first, second, third = rows[1:]
    assert first[0] == "'=HYPERLINK(\"http://evil\")" and first[6] == "'@SUM(A1:A9)"
    assert first[2:5] == ["1250", "12.50", "GBP"]
    assert second[1:6] == ["refund", "5", "0.05", "GBP", "cash"]
    assert second[6] == "'-2+3" and second[7] == "'+447700900123"
    assert third[3] == "1000000.01" and third[6] == "Trip, \"Kew\" gardens"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert datetime.fromisoformat(first[8]).tzinfo is not None


async def test_every_payments_access_reaches_the_audit_log(services, school):
    token, school_id, key = school
    async with client(services["ingest"], key) as api:
        assert (await api.post("/v1/payments", json=payment("ORD-1"))).status_code == 201
        assert (await api.get("/v1/payments")).status_code == 200
        assert (await api.get("/v1/payments.csv")).status_code == 200

    async with client(services["audit"], token) as ops:
        async def audited():
            items = (await ops.get("/v1/ops/audit", params={"school_id": str(school_id)})).json()["items"]
            mine = [i for i in items if i["resource"] == "payments"]
            return mine if {i["action"] for i in mine} >= {"create", "read", "export"} else None
        records = await eventually(audited)
        verified = (await ops.get("/v1/ops/audit/verify", params={"school_id": str(school_id)})).json()
    assert [i["action"] for i in records] == ["create", "read", "export"]
    assert all(i["actor_kind"] == "school" and i["service"] == "ingest" and i["school_id"] == str(school_id)
               for i in records)
    assert verified["valid"] is True
