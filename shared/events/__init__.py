"""The public event contract: event models per service and the topic registry."""

from __future__ import annotations

from shared.events.base import Event
from shared.events.registry import EnterpriseRegistered

EVENT_TYPES: tuple[type[Event], ...] = (EnterpriseRegistered,)

EVENTS_BY_CE_TYPE: dict[str, type[Event]] = {e.ce_type(): e for e in EVENT_TYPES}

__all__ = ["EVENTS_BY_CE_TYPE", "EVENT_TYPES", "Event"]
