"""Composition root of the retention service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from services.retention import handlers
from services.retention.settings import RetentionSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create(platform: PlatformSettings | None = None, settings: RetentionSettings | None = None) -> Service:
    """Build the retention service from settings (env if not given)."""
    svc = create_service("retention", platform or PlatformSettings(), settings or RetentionSettings(), MIGRATIONS)
    handlers.register(svc)
    subscribe(svc)
    return svc
