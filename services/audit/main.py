"""Composition root of the audit service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from services.audit import api, handlers
from services.audit.settings import AuditSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create(platform: PlatformSettings | None = None, settings: AuditSettings | None = None) -> Service:
    """Build the audit service from settings (env if not given)."""
    svc = create_service("audit", platform or PlatformSettings(), settings or AuditSettings(), MIGRATIONS)
    svc.app.include_router(api.router(svc))
    handlers.register(svc)
    subscribe(svc)
    return svc
