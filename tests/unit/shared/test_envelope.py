from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.envelope import EnvelopeError, decode, encode
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
    assert EnterpriseRegistered.model_validate(envelope.data) == EVENT
    assert envelope.trace_headers == {"traceparent": "00-ab-cd-01"}


def test_missing_attributes_are_named() -> None:
    message = encode(EVENT, source="/ikm/registry")
    headers = [(k, v) for k, v in headers_of(message) if k != "ce_type"]
    with pytest.raises(EnvelopeError, match="ce_type"):
        decode(headers, message.value)


@given(st.binary())
def test_any_bytes_either_decode_to_an_object_or_raise_envelope_error(value: bytes) -> None:
    message = encode(EVENT, source="/ikm/registry")
    try:
        envelope = decode(headers_of(message), value)
    except EnvelopeError:
        return
    assert isinstance(envelope.data, dict)
