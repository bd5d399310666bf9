"""Configuration, only from environment variables.

`PlatformSettings` (prefix PUPILPOST_) holds what every service shares; each
service adds its own class with its own prefix (INGEST_, DISPATCH_, ...).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("ingest", "classifier", "dispatch", "audit", "retention")


class PlatformSettings(BaseSettings):
    """Settings shared by all services (env prefix PUPILPOST_)."""

    model_config = SettingsConfigDict(env_prefix="PUPILPOST_", extra="ignore")

    mode: Literal["production", "development"] = "production"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Apache Kafka: on. The embedded Tansu broker rejects InitProducerId: off.
    kafka_idempotence: bool = True
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_partitions: int = 8
    topic_prefix: str = ""
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    key_cache_seconds: float = 30.0
    consumer_retries: int = 3
    consumer_batch: int = 500
    consumer_retry_base_seconds: float = 0.2
    outbox_poll_seconds: float = 0.5
    data_dir: Path = Field(default=Path(".pupilpost"))


class ServiceSettings(BaseSettings):
    """Per-service settings; subclasses set the env prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = "postgresql://127.0.0.1:5432/pupilpost"
    # Owner role used only to run migrations; the service itself runs as a
    # role that does not own its tables, so row-level security applies.
    migrate_database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8001
    pool_min: int = 1
    pool_max: int = 10
    # Each step of a shutdown (a stop hook, the outbox relay, the broker, the pool) gets this long
    # before it is abandoned; in-flight work is recovered by whoever starts next.
    stop_step_seconds: float = Field(default=20.0, gt=0)
