"""The enterprise replica: any order, any number of deliveries, the same result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.programs.domain import replica
from services.programs.domain.replica import EnterpriseReplica, ReplicaCertificate
from shared.events.registry import CertificateFacts, EnterpriseProfile
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass

NIB = "9120001234567"


@dataclass
class Replica:
    enterprise: EnterpriseReplica | None = None
    certificates: dict[str, ReplicaCertificate] | None = None

    def certificate(self, certificate_id: str) -> ReplicaCertificate | None:
        return (self.certificates or {}).get(certificate_id)

    def put(self, certificate: ReplicaCertificate) -> None:
        self.certificates = {**(self.certificates or {}), certificate.certificate_id: certificate}


Change = Callable[[Replica], None]


def profile(version: int, **fields: object) -> Change:
    values: dict[str, object] = {"name": "CV Logam Jaya", "province_code": "35", "kbli": "24202"}
    data = EnterpriseProfile(**{**values, **fields})  # type: ignore[arg-type]

    def apply(r: Replica) -> None:
        r.enterprise = replica.apply_profile(r.enterprise, nib=NIB, version=version, profile=data)

    return apply


def reclassified(version: int, size_class: SizeClass) -> Change:
    def apply(r: Replica) -> None:
        r.enterprise = replica.apply_reclassification(
            r.enterprise, nib=NIB, version=version, size_class=size_class
        )

    return apply


def closed(version: int) -> Change:
    def apply(r: Replica) -> None:
        r.enterprise = replica.apply_closure(r.enterprise, nib=NIB, version=version)

    return apply


def certified(version: int, certificate_id: str, expires_on: date) -> Change:
    facts = CertificateFacts(
        certificate_id=certificate_id,
        scheme=CertificateScheme.ISO_9001,
        number=f"QMS-{certificate_id}",
        issuer="PT Sucofindo",
        issued_on=date(2024, 1, 1),
        expires_on=expires_on,
    )

    def apply(r: Replica) -> None:
        r.put(
            replica.certificate_in_force(
                r.certificate(certificate_id), nib=NIB, version=version, certificate=facts
            )
        )

    return apply


def revoked(version: int, certificate_id: str) -> Change:
    def apply(r: Replica) -> None:
        r.put(
            replica.certificate_ended(
                r.certificate(certificate_id),
                nib=NIB,
                version=version,
                certificate_id=certificate_id,
                scheme=CertificateScheme.ISO_9001,
            )
        )

    return apply


# One enterprise's history as the registry published it, in version order.
HISTORY: list[Change] = [
    profile(1, size_class=SizeClass.MICRO, business_capital_idr=400_000_000),
    profile(2, kbli="24203", size_class=SizeClass.MICRO, business_capital_idr=400_000_000),
    reclassified(3, SizeClass.SMALL),
    certified(4, "cert-a", date(2027, 1, 1)),
    profile(5, province_code="51", kbli="24203", size_class=SizeClass.SMALL),
    revoked(6, "cert-a"),
    certified(7, "cert-b", date(2028, 1, 1)),
    certified(8, "cert-b", date(2029, 1, 1)),  # renewed
]


def replay(changes: list[Change]) -> Replica:
    state = Replica()
    for change in changes:
        change(state)
    return state


def test_in_order_the_replica_holds_the_latest_of_everything() -> None:
    state = replay(HISTORY)
    enterprise = state.enterprise
    assert enterprise is not None
    assert (enterprise.province_code, enterprise.kbli, enterprise.size_class) == (
        "51",
        "24203",
        SizeClass.SMALL,
    )
    assert enterprise.business_capital_idr is None, "profile 5 no longer states it"
    assert enterprise.registered
    assert not state.certificate("cert-a").in_force  # type: ignore[union-attr]
    assert state.certificate("cert-b").expires_on == date(2029, 1, 1)  # type: ignore[union-attr]
    held = replica.schemes_held((state.certificates or {}).values(), date(2028, 6, 1))
    assert held == frozenset({CertificateScheme.ISO_9001})


@given(st.permutations(HISTORY), st.lists(st.sampled_from(HISTORY), max_size=6))
def test_any_order_and_any_redelivery_gives_the_same_replica(
    shuffled: list[Change], redelivered: list[Change]
) -> None:
    assert replay(shuffled + redelivered) == replay(HISTORY)


def test_a_certificate_event_after_a_newer_profile_still_counts() -> None:
    state = replay([profile(1), profile(5, kbli="10750"), certified(3, "cert-a", date(2030, 1, 1))])
    assert state.enterprise is not None and state.enterprise.kbli == "10750"
    assert state.certificate("cert-a").in_force  # type: ignore[union-attr]


def test_a_late_update_still_applies_its_profile_after_a_newer_reclassification() -> None:
    state = replay([profile(1), reclassified(3, SizeClass.MEDIUM), profile(2, kbli="10750")])
    enterprise = state.enterprise
    assert enterprise is not None
    assert enterprise.kbli == "10750", "profile 2 is newer than profile 1"
    assert enterprise.size_class is SizeClass.MEDIUM, "but older than reclassification 3"


def test_closure_holds_against_older_profiles_and_not_newer_ones() -> None:
    state = replay([profile(1), closed(4), profile(3)])
    assert state.enterprise is not None and state.enterprise.status is EnterpriseStatus.CLOSED
    reopened = replay([profile(1), closed(4), profile(5)])
    assert reopened.enterprise is not None
    assert reopened.enterprise.status is EnterpriseStatus.ACTIVE


def test_an_enterprise_known_only_from_partial_events_is_not_registered() -> None:
    state = replay([reclassified(3, SizeClass.SMALL)])
    assert state.enterprise is not None and not state.enterprise.registered


def test_expired_certificates_are_not_held() -> None:
    state = replay([certified(1, "cert-a", date(2025, 6, 30))])
    certificates = (state.certificates or {}).values()
    assert replica.schemes_held(certificates, date(2025, 6, 30)) == {CertificateScheme.ISO_9001}
    assert replica.schemes_held(certificates, date(2025, 7, 1)) == frozenset()
