from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ProgramsSettings(ServiceSettings):
    """``PROGRAMS_*``."""

    service = "programs"
    default_port = 8002
    model_config = SettingsConfigDict(env_prefix="PROGRAMS_", extra="ignore")

    postponement_check_interval_s: float = 900.0
    """How often enrollments suspended past their postponement deadline are looked for."""
