"""Retention configuration (env prefix RETENTION_)."""
from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class RetentionSettings(ServiceSettings):
    """Settings of the retention service."""

    model_config = SettingsConfigDict(env_prefix="RETENTION_", extra="ignore")

    http_port: int = 8005
