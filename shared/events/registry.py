"""Public events of the registry service (the national IKM register)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.events.base import Event
from shared.events.topics import ENTERPRISES


class EnterpriseRegistered(Event):
    """An IKM enterprise entered the national register."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = Field(description="Nomor Induk Berusaha, 13 digits", examples=["9120001234567"])
    name: str = Field(description="Registered business name")
    province_code: str = Field(description="Kemendagri province code, 2 digits", examples=["35"])
    kbli: str = Field(description="Primary KBLI 2020 code, 5 digits", examples=["24202"])
    registered_at: datetime = Field(description="When the registry accepted the enterprise (UTC)")
