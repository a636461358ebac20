"""The public event contract: event models per service and the topic registry."""

from __future__ import annotations

from shared.events import partnerships, programs, registry
from shared.events.base import Event

EVENT_TYPES: tuple[type[Event], ...] = tuple(
    cls
    for module in (registry, programs, partnerships)
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
)

EVENTS_BY_CE_TYPE: dict[str, type[Event]] = {e.ce_type(): e for e in EVENT_TYPES}

__all__ = ["EVENTS_BY_CE_TYPE", "EVENT_TYPES", "Event"]
