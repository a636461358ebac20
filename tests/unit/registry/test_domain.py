from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.registry import domain
from shared.errors import DomainError

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def register(**overrides: str) -> domain.Enterprise:
    fields = {
        "nib": "9120001234567",
        "name": "CV Logam Jaya",
        "province_code": "35",
        "kbli": "24202",
    }
    enterprise, _ = domain.register(**{**fields, **overrides}, now=NOW)
    return enterprise


def test_register_emits_the_fact_with_its_fields() -> None:
    enterprise, event = domain.register(
        nib="9120001234567", name="  CV Logam Jaya ", province_code="35", kbli="24202", now=NOW
    )
    assert enterprise.name == "CV Logam Jaya"
    assert event.nib == "9120001234567"
    assert event.subject == "9120001234567"
    assert event.profile.province_code == "35"
    assert event.registered_at == NOW


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nib", "912000123456", "13 digits"),
        ("nib", "91200012345678", "13 digits"),
        ("nib", "912000123456a", "13 digits"),
        ("name", "   ", "must not be empty"),
        ("province_code", "99", "not a Kemendagri province"),
        ("province_code", "3.5", "2-digit"),
        ("province_code", "035", "2-digit"),
        ("kbli", "4711", "5 digits"),
        ("kbli", "C1011", "5 digits"),
        ("kbli", "47111", "not manufacturing"),
        ("kbli", "01111", "not manufacturing"),
        ("kbli", "10999", "not a KBLI 2020 manufacturing code"),
    ],
)
def test_each_rule_names_its_field(field: str, value: str, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        register(**{field: value})
    assert caught.value.field == field
    assert message in caught.value.message


def test_new_papua_provinces_are_valid_only_after_the_split() -> None:
    assert domain.check_province("93", date(2023, 1, 1)) == "93"
    with pytest.raises(DomainError):
        domain.check_province("93", date(2020, 1, 1))
