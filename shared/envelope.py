"""CloudEvents 1.0 in Kafka binary mode: attributes in ``ce_*`` headers, the data as JSON value.

The official ``cloudevents`` SDK maps attributes to headers; this module adds what the platform
fixes on top of it: the key is the aggregate id (``ce_subject``), W3C trace context travels in
``traceparent``/``tracestate`` beside the CloudEvents headers, and a message that cannot be read
raises :class:`EnvelopeError` with a reason fit for a dead-letter header.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events.base import Event

CONTENT_TYPE = "application/json"
TRACE_HEADERS = ("traceparent", "tracestate")
_FORMAT = JSONFormat()


class EnvelopeError(ValueError):
    """The message is not a readable CloudEvent (permanent: it goes to the dead-letter topic)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything a Kafka producer needs, ready to store in the outbox or to send."""

    topic: str
    key: str
    value: bytes
    headers: dict[str, str]

    @property
    def event_id(self) -> str:
        return self.headers["ce_id"]

    @property
    def ce_type(self) -> str:
        return self.headers["ce_type"]


@dataclass(frozen=True)
class Envelope:
    """A received CloudEvent: its attributes, its JSON data and the trace context it carried."""

    id: str
    source: str
    type: str
    subject: str | None
    time: datetime | None
    data: dict[str, Any]
    key: str | None = None
    trace_headers: dict[str, str] = field(default_factory=dict)
    # where it was read from, when it was read from Kafka
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def encode(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    attributes = {
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event.ce_type(),
        "specversion": "1.0",
        "time": time or datetime.now(UTC),
        "subject": event.subject,
        "datacontenttype": CONTENT_TYPE,
        "dataschema": event.dataschema(),
    }
    message = ce_kafka.to_binary(
        CloudEvent(attributes, event.to_data()), _FORMAT, key_mapper=lambda _: event.subject
    )
    headers = {name: value.decode() for name, value in message.headers.items()}
    headers.update(extra_headers or {})
    return OutgoingMessage(event.topic.name, event.subject, message.value, headers)


def decode(
    headers: Iterable[tuple[str, bytes]], value: bytes | None, key: bytes | None = None
) -> Envelope:
    try:
        header_map = {name: raw.decode() for name, raw in headers}
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"headers: not UTF-8 ({exc})") from exc
    missing = [
        h for h in ("ce_id", "ce_source", "ce_type", "ce_specversion") if h not in header_map
    ]
    if missing:
        raise EnvelopeError(f"headers: missing CloudEvents attribute(s) {', '.join(missing)}")
    try:
        event = ce_kafka.from_binary(
            ce_kafka.KafkaMessage(
                headers={k: v.encode() for k, v in header_map.items()}, key=key, value=value or b""
            ),
            _FORMAT,
        )
    except (BaseCloudEventException, ValueError) as exc:
        raise EnvelopeError(f"headers: invalid CloudEvent ({exc})") from exc
    data = event.get_data()
    if not isinstance(data, dict):
        raise EnvelopeError("value: not a JSON object")
    time = event.get_time()
    return Envelope(
        id=event.get_id(),
        source=event.get_source(),
        type=event.get_type(),
        subject=event.get_subject(),
        time=time if isinstance(time, datetime) else None,
        data=data,
        key=key.decode(errors="replace") if key is not None else None,
        trace_headers={h: header_map[h] for h in TRACE_HEADERS if h in header_map},
    )
