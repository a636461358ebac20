"""During a deprecation window a consumer routed to ``.v2`` also applies ``.v1``, upcast."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from shared.consumer import BatchConsumer, EventRoutes
from shared.envelope import Envelope, encode
from shared.events.base import Event
from shared.events.registry import EnterpriseProfile, EnterpriseRegistered
from shared.events.topics import ENTERPRISES


def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    profile = data["profile"]
    return {**data, "province_code": profile["province_code"]}


class EnterpriseRegisteredV2(Event):
    """The same fact with the province lifted to the top level (an example breaking change)."""

    topic = ENTERPRISES
    subject_field = "nib"
    schema_version = 2
    upcasts = {EnterpriseRegistered.ce_type(): v1_to_v2}

    nib: str
    province_code: str
    registered_at: datetime


def record(event: Event) -> ConsumerRecord:
    message = encode(event, source="/ikm/registry")
    return ConsumerRecord(
        topic=message.topic,
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=message.key.encode(),
        value=message.value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=[(k, v.encode()) for k, v in message.headers.items()],
    )


def test_v1_and_v2_reach_the_same_handler_as_v2() -> None:
    routes = EventRoutes("test")

    @routes.on(EnterpriseRegisteredV2)
    async def handle(uow: object, event: EnterpriseRegisteredV2, envelope: Envelope) -> None:
        """Not called here: the test checks decoding."""

    consumer = BatchConsumer.__new__(BatchConsumer)
    consumer.routes = routes
    assert EnterpriseRegisteredV2.ce_type().endswith("EnterpriseRegistered.v2")

    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = EnterpriseRegistered(
        nib="9120001234567",
        profile=EnterpriseProfile(name="CV", province_code="35", kbli="24202"),
        registered_at=now,
    )
    new = EnterpriseRegisteredV2(nib="9120001234568", province_code="51", registered_at=now)
    decoded_old = consumer._decode(record(old))
    decoded_new = consumer._decode(record(new))
    assert decoded_old is not None and decoded_new is not None
    assert decoded_old.event == EnterpriseRegisteredV2(
        nib="9120001234567", province_code="35", registered_at=now
    )
    assert decoded_old.envelope.type.endswith(".v1")
    assert decoded_new.event == new
