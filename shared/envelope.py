"""CloudEvents 1.0 in Kafka binary mode: attributes in ``ce_*`` headers, the data as JSON value.

What the platform fixes on top of the spec: the key is the aggregate id (``ce_subject``), W3C
trace context travels in ``traceparent``/``tracestate`` beside the CloudEvents headers, and a
message that cannot be read raises :class:`EnvelopeError` with a reason fit for a dead-letter
header.

Every event of the national register passes through here several times, so the binding is
written out directly rather than through the ``cloudevents`` SDK's object model, which
validates and copies each attribute and cost a quarter of a consumer's CPU. The SDK stays the
reference: ``tests/unit/shared/test_envelope.py`` checks that it reads what we write and that
we read what it writes.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

import orjson
from pydantic import ValidationError

from shared.events.base import Event, Upcast, dataschema_of

E = TypeVar("E", bound=Event)

CONTENT_TYPE = "application/json"
TRACE_HEADERS = ("traceparent", "tracestate")
REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")
_JSON_CONTENT_TYPE = re.compile(r"^(application|text)/([a-zA-Z0-9.+-]+\+)?json(;.*)?$")


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


class Envelope(NamedTuple):
    """A received CloudEvent: its attributes, its data (JSON, as received: ``read_data`` reads
    it as its event) and the trace context it carried.

    A named tuple rather than a frozen dataclass: as immutable, and built in a third of the
    time (a frozen dataclass sets each of its fields through ``object.__setattr__``), which
    counts for an object every consumer builds for every event it reads."""

    id: str
    source: str
    type: str
    subject: str | None
    time: datetime | None
    value: bytes
    trace_headers: dict[str, str]
    key: str | None = None
    # where it was read from, when it was read from Kafka
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def new_event_ids(count: int) -> list[str]:
    """``count`` time-ordered (version 7, RFC 9562) UUIDs as ``ce_id`` strings: the time in
    milliseconds, then 74 random bits.

    Every consumer's inbox keys its rows by ``ce_id``. Ids that grow with time go in at the
    right-hand edge of that index, where random (version 4) ones landed on any of its pages:
    a fifth of each inbox insert's PostgreSQL time at 300,000 rows, and a random read once the
    index outgrows memory at national scale. One read of the system's random source for a
    bulk import's 1,000 events, not one per event.
    """
    timestamp = f"{time.time_ns() // 1_000_000:012x}"
    prefix = f"{timestamp[:8]}-{timestamp[8:]}-"
    random = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        raw = bytearray(random[start : start + 10])
        raw[0] = raw[0] & 0x0F | 0x70  # version 7
        raw[2] = raw[2] & 0x3F | 0x80  # the RFC 9562 variant
        digits = raw.hex()
        ids.append(f"{prefix}{digits[:4]}-{digits[4:8]}-{digits[8:]}")
    return ids


def encode(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    subject = event.subject
    headers = cloudevent_headers(
        event_id=event_id or new_event_ids(1)[0],
        source=source,
        ce_type=event.ce_type(),
        time=time or datetime.now(UTC),
        subject=subject,
    )
    if extra_headers:
        headers.update(extra_headers)
    return OutgoingMessage(event.topic.name, subject, event.model_dump_json().encode(), headers)


def cloudevent_headers(
    *, event_id: str, source: str, ce_type: str, time: datetime, subject: str
) -> dict[str, str]:
    """The CloudEvents attributes of an event of ours as Kafka headers. Each follows from the
    event's id, source, type, time and subject, so the outbox stores those, not the headers."""
    return {
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": ce_type,
        "ce_specversion": "1.0",
        "ce_time": format_time(time),
        "ce_subject": subject,
        "content-type": CONTENT_TYPE,
        "ce_dataschema": dataschema_of(ce_type),
    }


@functools.lru_cache(maxsize=16)
def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the CloudEvents SDK writes it.

    Cached: the events of one command share one moment, and a bulk command has a thousand."""
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@functools.lru_cache(maxsize=64)
def _parse_time(text: str) -> datetime:
    """Cached: the events of one bulk command share one ``ce_time``."""
    return datetime.fromisoformat(text)


def decode(
    headers: Iterable[tuple[str, bytes]],
    value: bytes | None,
    key: bytes | None = None,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> Envelope:
    try:
        header_map = {name: raw.decode() for name, raw in headers}
    except (UnicodeDecodeError, AttributeError) as exc:
        raise EnvelopeError(f"headers: not UTF-8 ({exc})") from exc
    missing = [h for h in REQUIRED if not header_map.get(h)]
    if missing:
        raise EnvelopeError(f"headers: missing CloudEvents attribute(s) {', '.join(missing)}")
    if header_map["ce_specversion"] != "1.0":
        raise EnvelopeError(
            f"headers: ce_specversion {header_map['ce_specversion']!r} is not supported (1.0)"
        )
    content_type = header_map.get("content-type")
    if (
        content_type is not None
        and content_type != CONTENT_TYPE
        and not _JSON_CONTENT_TYPE.match(content_type)
    ):
        raise EnvelopeError(f"headers: content-type {content_type!r} is not JSON")
    time = None
    if "ce_time" in header_map:
        try:
            time = _parse_time(header_map["ce_time"])
        except ValueError as exc:
            raise EnvelopeError(f"headers: ce_time is not an RFC 3339 timestamp ({exc})") from exc
        if time.tzinfo is None:
            raise EnvelopeError("headers: ce_time has no time zone offset")
    return Envelope(
        id=header_map["ce_id"],
        source=header_map["ce_source"],
        type=header_map["ce_type"],
        subject=header_map.get("ce_subject"),
        time=time,
        value=value or b"",
        key=key.decode(errors="replace") if key is not None else None,
        trace_headers={h: header_map[h] for h in TRACE_HEADERS if h in header_map},
        topic=topic,
        partition=partition,
        offset=offset,
    )


def read_data(
    model: type[E],
    value: bytes,
    upcast: Upcast | None = None,
) -> E:
    """The event a message's value holds, as ``model``; through ``upcast`` from an older version.

    Parsed and validated in one pass by pydantic: parsing the JSON to a dictionary first, and
    validating that, cost 7 % more of a consumer's CPU. A value that is not a JSON object raises
    ``EnvelopeError``, as a malformed envelope does; one that breaks the schema, pydantic's
    ``ValidationError``.
    """
    if upcast is not None:
        return model.model_validate(upcast(_json_object(value)))
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise EnvelopeError(f"value: not JSON ({first['msg']})") from exc
        if first["type"] == "model_type" and not first["loc"]:
            raise EnvelopeError("value: not a JSON object") from exc
        raise


def _json_object(value: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"value: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("value: not a JSON object")
    return data
