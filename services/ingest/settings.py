"""Ingest configuration (env prefix INGEST_)."""
from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """Settings of the ingest service."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    http_port: int = 8001
    # Development only: create an administrator credential on first start and write it here.
    bootstrap_operator_token_file: Path | None = None
