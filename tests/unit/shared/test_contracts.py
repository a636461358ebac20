"""The compatibility check catches every kind of breaking change and lets compatible ones pass."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from shared import contracts
from shared.events import EVENT_TYPES


class Unit(StrEnum):
    AGREEMENTS = "agreements"
    IKM = "ikm"


class Nested(BaseModel):
    amount_idr: int


class V1(BaseModel):
    nib: str
    fiscal_year: int
    unit: Unit
    note: str | None = None
    nested: Nested
    tags: list[str] = []


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


def problems(new: type[BaseModel]) -> list[str]:
    return list(contracts.breaking_changes(schema(V1), schema(new)))


def test_an_unchanged_schema_has_no_problem() -> None:
    assert problems(V1) == []


def test_adding_an_optional_field_is_compatible() -> None:
    class Added(V1):
        province_code: str | None = None

    assert problems(Added) == []


def test_removed_or_renamed_field() -> None:
    class Renamed(BaseModel):
        nib_code: str
        fiscal_year: int
        unit: Unit
        note: str | None = None
        nested: Nested
        tags: list[str] = []

    assert problems(Renamed) == [
        "nib: field removed (or renamed)",
        "nib_code: new required field",
    ]


def test_changed_type() -> None:
    class Changed(V1):
        fiscal_year: str  # type: ignore[assignment]

    assert problems(Changed) == [
        "fiscal_year: type changed from ['integer', 'number'] to ['string']"
    ]


def test_changed_type_inside_a_nested_object() -> None:
    class NestedText(BaseModel):
        amount_idr: str

    class Changed(V1):
        nested: NestedText  # type: ignore[assignment]

    assert problems(Changed) == [
        "nested.amount_idr: type changed from ['integer', 'number'] to ['string']"
    ]


def test_new_required_field_and_optional_becoming_required() -> None:
    class Stricter(V1):
        note: str  # type: ignore[assignment]
        province_code: str

    found = problems(Stricter)
    assert "note: became required" in found
    assert "province_code: new required field" in found


def test_narrowed_enum_is_breaking_widened_is_not() -> None:
    class Narrow(StrEnum):
        AGREEMENTS = "agreements"

    class Wide(StrEnum):
        AGREEMENTS = "agreements"
        IKM = "ikm"
        PARTNER_FIRMS = "partner_firms"

    class Narrowed(V1):
        unit: Narrow  # type: ignore[assignment]

    class Widened(V1):
        unit: Wide  # type: ignore[assignment]

    assert problems(Narrowed) == ["unit: enum narrowed, removed ['ikm']"]
    assert problems(Widened) == []


def test_check_against_committed_files(tmp_path: Path) -> None:
    contracts.export(tmp_path)
    assert contracts.check(tmp_path) == ([], [])

    # a published type that disappears is breaking; a new version beside it is not
    event = EVENT_TYPES[0]
    schema_file = tmp_path / "schemas" / f"{event.ce_type()}.json"
    gone = tmp_path / "schemas" / "id.go.kemenperin.ikm.registry.Vanished.v1.json"
    gone.write_text(schema_file.read_text())
    breaking, _ = contracts.check(tmp_path)
    assert breaking == [
        "id.go.kemenperin.ikm.registry.Vanished.v1: event type removed; "
        "publish a new version beside it"
    ]
    gone.unlink()

    # a field the committed schema has but the code lost
    committed = json.loads(schema_file.read_text())
    committed["properties"]["legacy_field"] = {"type": "string"}
    schema_file.write_text(json.dumps(committed))
    breaking, stale = contracts.check(tmp_path)
    assert breaking == [f"{event.ce_type()}: legacy_field: field removed (or renamed)"]
    assert stale == [event.ce_type()]


def test_the_committed_contract_is_current() -> None:
    assert contracts.check(Path(__file__).parents[3] / "contracts") == ([], [])


@pytest.mark.parametrize("event", EVENT_TYPES, ids=lambda e: e.event_name())
def test_every_event_schema_names_its_type_topic_and_key(event: Any) -> None:
    document = contracts.event_schema(event)
    assert document["x-ce-type"] == event.ce_type()
    assert document["x-topic"] == event.topic.name
    assert document["title"] == event.event_name()
