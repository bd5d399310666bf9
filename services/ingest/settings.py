"""Ingest configuration (env prefix INGEST_)."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """Settings of the ingest service."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    http_port: int = 8001
    # Development only: create an administrator credential on first start and write it here.
    bootstrap_operator_token_file: Path | None = None
    max_upload_bytes: int = 100 * 1024 * 1024
    max_roster_bytes: int = 512 * 1024 * 1024     # decompressed
    upload_clock_skew_seconds: int = 300
    upload_key_grace_hours: int = 72               # a rotated key still opens uploads this long
    import_workers: int = 2
    # Validating and indexing a large roster is CPU work: it runs in this many worker processes
    # (0: in the service's own process), for uploads of at least import_process_min_bytes (compressed).
    import_processes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0)
    import_process_min_bytes: int = 64 * 1024
    unconfirmed_after_days: int = 365              # accuracy check: contacts not confirmed for this long
