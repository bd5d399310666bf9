"""Dispatch configuration (env prefix DISPATCH_)."""
from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    """Settings of the dispatch service."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore")

    http_port: int = 8003
