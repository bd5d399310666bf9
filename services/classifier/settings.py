"""Classifier configuration (env prefix CLASSIFIER_)."""
from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from pupilpost.settings import ServiceSettings


class ClassifierSettings(ServiceSettings):
    """Settings of the classifier service."""

    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", extra="ignore")

    http_port: int = 8002
