"""What every event type is: a past-tense fact with explicit fields, its topic and its version."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from shared.events.topics import Topic

CE_TYPE_PREFIX = "id.go.kemenperin.ikm"

# Turns an older version's data (a JSON object) into this version's.
Upcast = Callable[[dict[str, Any]], dict[str, Any]]


def dataschema_of(ce_type: str) -> str:
    """The id of the JSON Schema of the events of ``ce_type``."""
    return f"urn:ikm:schema:{ce_type}"


class Event(BaseModel):
    """Base of every public event (the ``data`` of a CloudEvent).

    Consumers ignore fields they do not know (tolerant reader), so a producer may add optional
    fields within a version. Subclasses declare ``topic`` and ``subject_field`` (the aggregate id,
    which is also the Kafka key).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    topic: ClassVar[Topic]
    subject_field: ClassVar[str]
    schema_version: ClassVar[int] = 1
    # Older versions this type can be made from, during their deprecation window:
    # {"...EnterpriseRegistered.v1": function turning v1 data into v2 data}
    upcasts: ClassVar[dict[str, Upcast]] = {}

    @classmethod
    def event_name(cls) -> str:
        """The fact's name without its version suffix (``EnterpriseRegisteredV2`` → ...)."""
        name = cls.__name__
        suffix = f"V{cls.schema_version}"
        return name.removesuffix(suffix) if cls.schema_version > 1 else name

    @classmethod
    @functools.cache  # one entry per event class
    def ce_type(cls) -> str:
        return f"{CE_TYPE_PREFIX}.{cls.topic.owner}.{cls.event_name()}.v{cls.schema_version}"

    @classmethod
    @functools.cache
    def dataschema(cls) -> str:
        return dataschema_of(cls.ce_type())

    @property
    def subject(self) -> str:
        return str(getattr(self, self.subject_field))
