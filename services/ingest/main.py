"""Composition root of the ingest service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from services.ingest import api, handlers
from services.ingest.settings import IngestSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create(platform: PlatformSettings | None = None, settings: IngestSettings | None = None) -> Service:
    """Build the ingest service from settings (env if not given)."""
    platform = platform or PlatformSettings()
    settings = settings or IngestSettings()
    svc = create_service("ingest", platform, settings, MIGRATIONS)
    svc.app.include_router(api.router(svc))
    handlers.register(svc)
    token_file = settings.bootstrap_operator_token_file
    if token_file is not None and platform.mode == "development":
        svc.on_start.append(lambda s: handlers.bootstrap_operator(s, token_file))
    subscribe(svc)
    return svc
