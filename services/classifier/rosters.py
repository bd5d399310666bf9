"""Each school's decrypted roster, built once and reused while the school's directory is unchanged.

Decrypting every pupil and building the name matcher costs far more than classifying one
rendering, and a school sends many messages between directory changes. The cache is checked
against the school's roster stamp inside the caller's transaction, so any process sees a
change as soon as it is committed; entries also expire after `ttl` seconds (the keyring's
own cache time), so decrypted names are held no longer than the keys that decrypt them.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from uuid import UUID

from pupilpost import db
from pupilpost.crypto import Keyring
from pupilpost.render import merge_fields
from services.classifier import store
from services.classifier.personalise import Pupil
from services.classifier.roster import Roster


@dataclass(frozen=True)
class SchoolRoster:
    """A school's pupils (with merge values) and the matcher for their names; `settled` once the
    school's latest upload is applied to its last part."""

    stamp: UUID | None
    settled: bool
    pupils: tuple[Pupil, ...] = field(repr=False)
    matcher: Roster = field(repr=False)
    loaded_at: float = 0.0


class RosterCache:
    """Per-school decrypted rosters, least recently used first out."""

    def __init__(self, ttl: float, size: int = 64) -> None:
        self.ttl, self.size = ttl, size
        self._items: OrderedDict[UUID, SchoolRoster] = OrderedDict()

    async def get(self, conn: db.Conn, keys: Keyring, school_id: UUID) -> SchoolRoster:
        """The school's current roster, from the cache if its stamp is still current."""
        stamp, settled = await store.roster_state(conn, school_id)
        hit = self._items.get(school_id)
        if hit is not None and hit.stamp == stamp and time.monotonic() - hit.loaded_at < self.ttl:
            self._items.move_to_end(school_id)
            return replace(hit, settled=settled)
        roster = await load(conn, keys, school_id, stamp, settled)
        self._items[school_id] = roster
        self._items.move_to_end(school_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return roster

    def forget(self, school_id: UUID | None = None) -> None:
        """Drop one school's roster, or all."""
        if school_id is None:
            self._items.clear()
        else:
            self._items.pop(school_id, None)


async def load(conn: db.Conn, keys: Keyring, school_id: UUID, stamp: UUID | None, settled: bool) -> SchoolRoster:
    """Decrypt the school's pupils from the projection and build the name matcher."""
    pupils = []
    for r in await store.pupils(conn, school_id):
        body = json.loads(await keys.decrypt(conn, school_id, "directory.pupil", bytes(r["body"])))
        pupils.append(Pupil(r["pupil_id"], r["year_group"], r["reg_group"], merge_fields(body)))
    return SchoolRoster(stamp, settled, tuple(pupils), Roster(p.name for p in pupils), time.monotonic())
