"""Composition root of the ingest service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from services.ingest import api, directory_api, handlers, messages, payments, uploads
from services.ingest.importer import Importer
from services.ingest.settings import IngestSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create(platform: PlatformSettings | None = None, settings: IngestSettings | None = None) -> Service:
    """Build the ingest service from settings (env if not given)."""
    platform = platform or PlatformSettings()
    settings = settings or IngestSettings()
    svc = create_service("ingest", platform, settings, MIGRATIONS)
    importer = Importer(svc, settings.import_workers, settings.max_roster_bytes,
                        processes=settings.import_processes, process_min_bytes=settings.import_process_min_bytes)
    svc.app.include_router(api.router(svc))
    svc.app.include_router(uploads.router(svc, importer))
    svc.app.include_router(directory_api.router(svc))
    svc.app.include_router(payments.router(svc))
    svc.app.include_router(messages.router(svc))
    svc.on_start.append(uploads.ensure_upload_key)
    svc.on_start.append(importer.start)
    svc.on_stop.append(importer.stop)
    handlers.register(svc)
    token_file = settings.bootstrap_operator_token_file
    if token_file is not None and platform.mode == "development":
        svc.on_start.append(lambda s: handlers.bootstrap_operator(s, token_file))
    subscribe(svc)
    return svc
