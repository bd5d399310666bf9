"""Dispatch configuration (env prefix DISPATCH_).

A channel whose provider is not configured (no SMTP host, no SMPP host, no
VAPID key) is not lost: its deliveries wait and are retried with backoff, and
the service logs at start which channels are off.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    """Settings of the dispatch service."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore")

    http_port: int = 8003
    # Where parents' links point (the app or web front end that answers contact-change requests).
    public_url: str = "http://127.0.0.1:8000"

    # Email (SMTP submission) and bounces (DSNs back to bounces+<delivery>@bounce_domain).
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "messages@pupilpost.localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_connections: int = 32  # each delivery is its own SMTP transaction: round trips, not bandwidth, limit it
    bounce_domain: str | None = None
    bounce_listen_host: str = "127.0.0.1"
    bounce_listen_port: int | None = None

    # SMS (SMPP 3.4 transceiver bind).
    smpp_host: str | None = None
    smpp_port: int = 2775
    smpp_system_id: str = "pupilpost"
    smpp_password: SecretStr = SecretStr("")
    smpp_source: str = "Pupilpost"
    sms_rate_per_second: float = 50.0

    # Web Push (VAPID, RFC 8292).
    vapid_private_key_file: Path | None = None
    vapid_subject: str = "mailto:operator@pupilpost.localhost"

    # The hand-off loop.
    sender_workers: int = 4
    sender_urgent_workers: int = 1  # claim only urgent deliveries (the urgent lane)
    sender_batch: int = 200
    sender_poll_seconds: float = 1.0
    max_attempts: int = 8
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 1800.0
    maintenance_seconds: float = 5.0
    fallback_after_seconds: float = 4 * 3600.0
