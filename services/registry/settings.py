from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    """``REGISTRY_*``."""

    service = "registry"
    default_port = 8001
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    certificate_expiry_interval_s: float = 3600.0
