"""Composition root of the dispatch service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.bus import Lane
from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from schemas.messages import is_urgent
from services.dispatch import contact_changes, handlers, inbox, school_api, sender
from services.dispatch.settings import DispatchSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# Urgent messages have a consumer group of their own, so a snow day's bulk never delays them.
URGENT = Lane("urgent", ("messages.submitted", "messages.classified", "messages.approval"), is_urgent,
              fetch_max_wait_ms=20)


def create(platform: PlatformSettings | None = None, settings: DispatchSettings | None = None) -> Service:
    """Build the dispatch service from settings (env if not given)."""
    settings = settings or DispatchSettings()
    svc = create_service("dispatch", platform or PlatformSettings(), settings, MIGRATIONS)
    handlers.register(svc)
    engine = sender.Sender(svc, settings)
    contact_changes.register(svc, engine.channels)
    svc.app.include_router(inbox.router(svc, engine.channels))
    svc.app.include_router(school_api.router(svc))
    svc.on_start.append(engine.start)
    svc.on_stop.append(engine.stop)
    subscribe(svc, lanes=(URGENT,))
    return svc
