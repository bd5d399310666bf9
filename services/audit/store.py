"""Every SQL statement the audit service runs."""
from __future__ import annotations

from typing import Any
from uuid import UUID

from pupilpost.db import Conn
from services.audit.logic import FIELDS, GENESIS


async def lock_head(conn: Conn, chain: UUID) -> tuple[int, bytes]:
    """The chain's last seq and hash, locked for this transaction (created at genesis if new)."""
    row = await conn.fetchrow("SELECT seq, hash FROM audit.chain_head WHERE chain = $1 FOR UPDATE", chain)
    if row is None:
        await conn.execute(
            "INSERT INTO audit.chain_head (chain, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING",
            chain, GENESIS)
        row = await conn.fetchrow("SELECT seq, hash FROM audit.chain_head WHERE chain = $1 FOR UPDATE", chain)
    return row["seq"], bytes(row["hash"])


async def append(conn: Conn, fields: dict[str, Any], prev_hash: bytes, hash_: bytes) -> None:
    """Append one record and move the chain head."""
    cols = ", ".join(FIELDS)
    params = ", ".join(f"${i}" for i in range(1, len(FIELDS) + 3))
    await conn.execute(
        f"INSERT INTO audit.record ({cols}, prev_hash, hash) VALUES ({params})",
        *[fields[k] for k in FIELDS], prev_hash, hash_)
    await conn.execute("UPDATE audit.chain_head SET seq = $2, hash = $3 WHERE chain = $1",
                       fields["chain"], fields["seq"], hash_)


async def page(conn: Conn, chain: UUID, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Records of a chain after `after_seq`, in order."""
    rows = await conn.fetch(
        f"SELECT {', '.join(FIELDS)}, recorded_at, prev_hash, hash FROM audit.record"
        " WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3", chain, after_seq, limit)
    return [dict(r) for r in rows]
