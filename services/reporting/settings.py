from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """``REPORTING_*``."""

    service = "reporting"
    default_port = 8004
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore")
