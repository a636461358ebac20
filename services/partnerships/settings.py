from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class PartnershipsSettings(ServiceSettings):
    """``PARTNERSHIPS_*``."""

    service = "partnerships"
    default_port = 8003
    model_config = SettingsConfigDict(env_prefix="PARTNERSHIPS_", extra="ignore")
