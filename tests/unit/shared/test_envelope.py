from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.envelope import EnvelopeError, decode, encode, format_time, new_event_ids, read_data
from shared.events.registry import EnterpriseProfile, EnterpriseRegistered

EVENT = EnterpriseRegistered(
    nib="9120001234567",
    profile=EnterpriseProfile(name="CV Logam Jaya", province_code="35", kbli="24202"),
    registered_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
)


def headers_of(message: object) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in message.headers.items()]  # type: ignore[attr-defined]


def test_binary_mode_headers_key_and_value() -> None:
    message = encode(EVENT, source="/ikm/registry", extra_headers={"traceparent": "00-ab-cd-01"})
    assert message.topic == "ikm.registry.enterprises"
    assert message.key == "9120001234567"
    assert message.headers["ce_type"] == "id.go.kemenperin.ikm.registry.EnterpriseRegistered.v1"
    assert message.headers["ce_subject"] == "9120001234567"
    assert message.headers["content-type"] == "application/json"
    assert message.headers["traceparent"] == "00-ab-cd-01"
    envelope = decode(headers_of(message), message.value, message.key.encode())
    assert envelope.id == message.event_id
    assert read_data(EnterpriseRegistered, envelope.value) == EVENT
    assert envelope.trace_headers == {"traceparent": "00-ab-cd-01"}


def test_missing_attributes_are_named() -> None:
    message = encode(EVENT, source="/ikm/registry")
    headers = [(k, v) for k, v in headers_of(message) if k != "ce_type"]
    with pytest.raises(EnvelopeError, match="ce_type"):
        decode(headers, message.value)


@given(st.one_of(st.binary(), st.just(EVENT.model_dump_json().encode())))
def test_any_bytes_read_as_the_event_or_raise_envelope_or_validation_error(value: bytes) -> None:
    """Whatever the value, a consumer gets the event or a reason to dead-letter it: never
    another exception, which would stall the partition."""
    message = encode(EVENT, source="/ikm/registry")
    envelope = decode(headers_of(message), value)
    try:
        event = read_data(EnterpriseRegistered, envelope.value)
    except (EnvelopeError, ValidationError):
        return
    assert isinstance(event, EnterpriseRegistered)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (b"", "value: not JSON"),
        (b'{"nib": "9120001234567", "profile": {', "value: not JSON"),
        (b"\xff\xfe", "value: not JSON"),
        (b"[1, 2]", "value: not a JSON object"),
        (b"null", "value: not a JSON object"),
    ],
)
def test_a_value_that_is_not_a_json_object_is_malformed(value: bytes, rule: str) -> None:
    with pytest.raises(EnvelopeError, match=rule):
        read_data(EnterpriseRegistered, value)
    # the same for an event read through an upcast from an older version
    with pytest.raises(EnvelopeError, match=rule):
        read_data(EnterpriseRegistered, value, upcast=lambda data: data)


def test_a_json_object_that_breaks_the_schema_names_the_field() -> None:
    with pytest.raises(ValidationError, match="profile"):
        read_data(EnterpriseRegistered, b'{"nib": "9120001234567"}')


# The CloudEvents SDK is the reference for the Kafka binary binding: it reads what we write,
# and we read what it writes.


def test_the_sdk_reads_what_we_write() -> None:
    message = encode(EVENT, source="/ikm/registry", extra_headers={"traceparent": "00-ab-cd-01"})
    event = ce_kafka.from_binary(
        ce_kafka.KafkaMessage(
            headers={k: v.encode() for k, v in message.headers.items()},
            key=message.key.encode(),
            value=message.value,
        ),
        JSONFormat(),
    )
    assert event.get_id() == message.event_id
    assert event.get_source() == "/ikm/registry"
    assert event.get_type() == EnterpriseRegistered.ce_type()
    assert event.get_subject() == EVENT.nib
    assert event.get_datacontenttype() == "application/json"
    assert event.get_dataschema() == EnterpriseRegistered.dataschema()
    assert EnterpriseRegistered.model_validate(event.get_data()) == EVENT


@given(
    moment=st.datetimes(timezones=st.just(UTC)),
    source=st.text(min_size=1).filter(lambda s: s.strip() == s and "\x00" not in s),
)
def test_we_read_what_the_sdk_writes(moment: datetime, source: str) -> None:
    attributes = {
        "id": "e-1",
        "source": source,
        "type": EnterpriseRegistered.ce_type(),
        "specversion": "1.0",
        "time": moment,
        "subject": EVENT.nib,
        "datacontenttype": "application/json",
    }
    sdk = ce_kafka.to_binary(
        CloudEvent(attributes, EVENT.model_dump(mode="json")), JSONFormat(), lambda e: EVENT.nib
    )
    envelope = decode(list(sdk.headers.items()), sdk.value, sdk.key.encode())
    assert (envelope.id, envelope.source, envelope.type) == (
        "e-1",
        source,
        EnterpriseRegistered.ce_type(),
    )
    assert envelope.time == moment
    assert read_data(EnterpriseRegistered, envelope.value) == EVENT
    assert format_time(moment) == sdk.headers["ce_time"].decode()


@pytest.mark.parametrize(
    ("header", "value", "rule"),
    [
        ("ce_specversion", b"0.3", "ce_specversion"),
        ("ce_time", b"yesterday", "ce_time is not an RFC 3339"),
        ("ce_time", b"2026-01-02T03:04:05", "no time zone"),
        ("content-type", b"application/xml", "not JSON"),
        ("ce_id", b"", "ce_id"),
    ],
)
def test_a_bad_attribute_is_named(header: str, value: bytes, rule: str) -> None:
    message = encode(EVENT, source="/ikm/registry")
    headers = [(k, value if k == header else v) for k, v in headers_of(message)]
    with pytest.raises(EnvelopeError, match=rule):
        decode(headers, message.value)


def test_event_ids_are_distinct_time_ordered_uuids() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = new_event_ids(1000)
    after_ms = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before_ms <= parsed.int >> 80 <= after_ms  # the first 48 bits: Unix time in ms
    assert len({event_id[14:] for event_id in ids}) == 1000  # the rest is random
    assert new_event_ids(0) == []
    assert uuid.UUID(encode(EVENT, source="/ikm/registry").event_id).version == 7


def test_later_event_ids_sort_after_earlier_ones() -> None:
    earlier = new_event_ids(3)
    time.sleep(0.002)
    later = new_event_ids(3)
    assert max(earlier) < min(later)
