"""Composition root of the dispatch service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from services.dispatch import handlers
from services.dispatch.settings import DispatchSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create(platform: PlatformSettings | None = None, settings: DispatchSettings | None = None) -> Service:
    """Build the dispatch service from settings (env if not given)."""
    svc = create_service("dispatch", platform or PlatformSettings(), settings or DispatchSettings(), MIGRATIONS)
    handlers.register(svc)
    subscribe(svc)
    return svc
