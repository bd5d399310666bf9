"""Audit configuration (env prefix AUDIT_)."""
from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    """Settings of the audit service."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    http_port: int = 8004
