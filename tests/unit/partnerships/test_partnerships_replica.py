"""The replica of the registry's enterprises: newer events apply, older or repeated ones do not."""

from __future__ import annotations

from services.partnerships import domain
from services.partnerships.domain import Enterprise
from shared.events.vocabulary import EnterpriseStatus

NIB = "9120000000001"


def test_registration_creates_the_replica() -> None:
    replica = domain.replicate(None, nib=NIB, version=1, name="CV Logam Jaya", province_code="35")
    assert replica == Enterprise(NIB, "CV Logam Jaya", "35", EnterpriseStatus.ACTIVE, 1)
    assert replica.label == f"IKM {NIB} (CV Logam Jaya)"


def test_a_newer_event_updates_only_what_it_carries() -> None:
    known = Enterprise(NIB, "CV Logam Jaya", "35", EnterpriseStatus.ACTIVE, 1)
    closed = domain.replicate(known, nib=NIB, version=3, status=EnterpriseStatus.CLOSED)
    assert closed == Enterprise(NIB, "CV Logam Jaya", "35", EnterpriseStatus.CLOSED, 3)


def test_an_event_not_newer_than_the_replica_is_ignored() -> None:
    known = Enterprise(NIB, "CV Logam Jaya", "35", EnterpriseStatus.ACTIVE, 2)
    assert domain.replicate(known, nib=NIB, version=2, name="Other") is None
    assert domain.replicate(known, nib=NIB, version=1, name="Other") is None


def test_a_certificate_for_an_enterprise_not_seen_yet_starts_a_replica_without_a_name() -> None:
    replica = domain.replicate(None, nib=NIB, version=4, province_code="35")
    assert replica is not None
    assert (replica.name, replica.version, replica.label) == (None, 4, f"IKM {NIB}")
