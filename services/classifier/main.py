"""Composition root of the classifier service."""
from __future__ import annotations

from pathlib import Path

from pupilpost.bus import Lane
from pupilpost.runner import Service, create_service, subscribe
from pupilpost.settings import PlatformSettings
from schemas.messages import is_urgent
from services.classifier import handlers
from services.classifier.settings import ClassifierSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# Urgent messages have a consumer group of their own, so a snow day's bulk never delays them.
URGENT = Lane("urgent", ("messages.submitted",), is_urgent, fetch_max_wait_ms=20)


def create(platform: PlatformSettings | None = None, settings: ClassifierSettings | None = None) -> Service:
    """Build the classifier service from settings (env if not given)."""
    svc = create_service("classifier", platform or PlatformSettings(), settings or ClassifierSettings(), MIGRATIONS)
    handlers.register(svc)
    subscribe(svc, lanes=(URGENT,))
    return svc
