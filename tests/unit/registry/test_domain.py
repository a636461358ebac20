from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry import domain
from shared.errors import Conflict, DomainError, InvalidInput
from shared.events.registry import (
    EnterpriseReclassified,
    EnterpriseUpdated,
    RangeFigure,
)
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DETAILS = domain.EnterpriseDetails(
    name="CV Logam Jaya",
    province_code="35",
    regency_code="3517",
    kbli="24202",
    workforce=12,
    investment_idr=400_000_000,
)


def register(nib: str = "9120001234567", **changes: object) -> domain.Enterprise:
    enterprise, _ = domain.register(nib=nib, details=replace(DETAILS, **changes), now=NOW)  # type: ignore[arg-type]
    return enterprise


def problems_of(caught: pytest.ExceptionInfo[DomainError]) -> dict[str | None, str]:
    error = caught.value
    problems = error.problems if isinstance(error, InvalidInput) else [error]
    return {p.field: p.message for p in problems}


def test_register_emits_the_whole_public_profile() -> None:
    enterprise, event = domain.register(
        nib="9120001234567", details=replace(DETAILS, name="  CV Logam Jaya "), now=NOW, actor="u1"
    )
    assert enterprise.details.name == "CV Logam Jaya"
    assert event.subject == "9120001234567"
    assert event.version == 1
    assert event.actor == "u1"
    assert event.profile.province_code == "35"
    assert event.profile.regency_code == "3517"
    assert event.profile.size_class == SizeClass.SMALL
    assert event.profile.size_regime == "permenperin-64-2016"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "must not be empty"),
        ("province_code", "99", "not a Kemendagri province"),
        ("province_code", "3.5", "2-digit"),
        ("regency_code", "3317", "not in province 35"),
        ("regency_code", "3599", "not a Kemendagri regency"),
        ("regency_code", "351", "4-digit"),
        ("kbli", "4711", "5 digits"),
        ("kbli", "C1011", "5 digits"),
        ("kbli", "47111", "not manufacturing"),
        ("kbli", "10999", "not a KBLI 2020 manufacturing code"),
        ("secondary_kbli", ("2420",), "not 5 digits"),
        ("secondary_kbli", ("24202",), "listed again as secondary"),
        ("secondary_kbli", ("10110", "10110"), "twice"),
        ("npwp", "01.234.567.8-901.000", "16 digits"),
        ("npwp", "012345678901234", "16 digits"),
        ("legal_form", "LLC", "legal_form must be one of"),
        ("workforce", -1, "must not be negative"),
        ("investment_idr", -5, "must not be negative"),
        ("annual_sales_idr", -5, "must not be negative"),
        ("production_quantity", -1.0, "must not be negative"),
    ],
)
def test_each_rule_names_its_field(field: str, value: object, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        register(**{field: value})
    problems = problems_of(caught)
    assert field in problems, problems
    assert message in problems[field]


def test_a_quantity_needs_a_unit() -> None:
    with pytest.raises(InvalidInput) as caught:
        register(production_quantity=60.0)
    assert "production_unit" in problems_of(caught)  # type: ignore[arg-type]


@pytest.mark.parametrize("nib", ["912000123456", "91200012345678", "912000123456a", ""])
def test_nib_is_thirteen_digits(nib: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        register(nib=nib)
    assert "13 digits" in problems_of(caught)["nib"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("owner", "field"),
    [
        (domain.OwnerContact(nik="123"), "owner.nik"),
        (domain.OwnerContact(phone="call me"), "owner.phone"),
        (domain.OwnerContact(email="not-an-email"), "owner.email"),
    ],
)
def test_owner_contact_rules(owner: domain.OwnerContact, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        register(owner=owner)
    assert field in problems_of(caught)  # type: ignore[arg-type]


def test_all_broken_rules_are_reported_together() -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.register(
            nib="1",
            details=replace(DETAILS, province_code="99", regency_code=None, kbli="47111"),
            now=NOW,
        )
    assert set(problems_of(caught)) == {"nib", "province_code", "kbli"}  # type: ignore[arg-type]


def test_papua_split_by_effective_date() -> None:
    assert domain.check_province("93", date(2023, 1, 1)) == "93"
    with pytest.raises(DomainError):
        domain.check_province("93", date(2020, 1, 1))
    merauke_new, merauke_old = "9301", "9101"
    assert domain.check_regency(merauke_new, "93", date(2023, 1, 1)) == merauke_new
    assert domain.check_regency(merauke_old, "91", date(2020, 1, 1)) == merauke_old
    with pytest.raises(DomainError):
        domain.check_regency(merauke_old, "91", date(2023, 1, 1))


@pytest.mark.parametrize(
    ("workforce", "investment_idr", "expected"),
    [
        (19, 999_999_999, SizeClass.SMALL),
        (19, 1_000_000_000, SizeClass.MEDIUM),
        (20, 500_000_000, SizeClass.MEDIUM),
        (45, 15_000_000_000, SizeClass.MEDIUM),
        (45, 15_000_000_001, SizeClass.LARGE),
        (None, 500_000_000, None),
    ],
)
def test_size_class_under_permenperin_64_2016(
    workforce: int | None, investment_idr: int, expected: SizeClass | None
) -> None:
    enterprise = register(workforce=workforce, investment_idr=investment_idr)
    assert enterprise.size_class == expected


@pytest.mark.parametrize(
    ("capital", "expected"),
    [
        (1_000_000_000, SizeClass.MICRO),
        (5_000_000_000, SizeClass.SMALL),
        (10_000_000_000, SizeClass.MEDIUM),
        (10_000_000_001, SizeClass.LARGE),
    ],
)
def test_size_class_under_pp_7_2021(capital: int, expected: SizeClass) -> None:
    enterprise, event = domain.register(
        nib="9120001234567",
        details=replace(DETAILS, business_capital_idr=capital),
        now=NOW,
        regime="pp-7-2021",
    )
    assert enterprise.size_class == expected
    assert event.profile.size_regime == "pp-7-2021"


def test_a_claimed_class_that_contradicts_the_inputs_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        domain.register(
            nib="9120001234567",
            details=replace(DETAILS, workforce=45, investment_idr=2_000_000_000),
            now=NOW,
            claimed_size_class=SizeClass.SMALL,
        )
    assert caught.value.field == "size_class"
    assert "contradicts" in caught.value.message


def test_unknown_regime_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        domain.register(nib="9120001234567", details=DETAILS, now=NOW, regime="made-up")
    assert caught.value.field == "size_regime"


@given(
    workforce=st.integers(min_value=0, max_value=10_000),
    investment=st.integers(min_value=0, max_value=10**13),
)
def test_every_complete_input_gets_exactly_one_class(workforce: int, investment: int) -> None:
    enterprise = register(workforce=workforce, investment_idr=investment)
    assert enterprise.size_class in {SizeClass.SMALL, SizeClass.MEDIUM, SizeClass.LARGE}
    if workforce <= 19 and investment < 1_000_000_000:
        assert enterprise.size_class == SizeClass.SMALL


def test_update_emits_changes_and_reclassification() -> None:
    enterprise = register()
    events = domain.update(enterprise, {"workforce": 45}, now=NOW, expected_version=1)
    updated, reclassified = events
    assert isinstance(updated, EnterpriseUpdated)
    assert updated.changed_fields == ["workforce"]
    assert updated.version == 2
    assert isinstance(reclassified, EnterpriseReclassified)
    assert (reclassified.previous_size_class, reclassified.size_class) == (
        SizeClass.SMALL,
        SizeClass.MEDIUM,
    )
    assert reclassified.version == 3
    assert enterprise.version == 3


def test_update_without_a_real_change_emits_nothing() -> None:
    enterprise = register()
    assert domain.update(enterprise, {"name": "CV Logam Jaya"}, now=NOW) == []
    assert enterprise.version == 1


def test_update_on_a_stale_version_is_a_conflict() -> None:
    enterprise = register()
    domain.update(enterprise, {"name": "CV Logam Jaya Baru"}, now=NOW, expected_version=1)
    with pytest.raises(Conflict):
        domain.update(enterprise, {"name": "Other"}, now=NOW, expected_version=1)


def test_update_validates_like_registration() -> None:
    enterprise = register()
    with pytest.raises(InvalidInput) as caught:
        domain.update(enterprise, {"regency_code": "3201"}, now=NOW)
    assert "regency_code" in problems_of(caught)  # type: ignore[arg-type]


def test_closed_enterprise_cannot_change() -> None:
    enterprise = register()
    closed = domain.close(enterprise, on=date(2026, 3, 1), reason="ceased trading")
    assert closed.version == 2
    assert enterprise.status == EnterpriseStatus.CLOSED
    with pytest.raises(Conflict):
        domain.update(enterprise, {"workforce": 3}, now=NOW)


ISO_9001 = domain.CertificateDetails(
    scheme=CertificateScheme.ISO_9001,
    number="QMS-001",
    issuer="Sucofindo",
    issued_on=date(2025, 6, 1),
    expires_on=date(2028, 6, 1),
)


def test_certify_emits_certified_with_facts() -> None:
    enterprise = register()
    certificate, event = domain.certify(enterprise, ISO_9001, now=NOW, enrollment_id="enr-1")
    assert event.certificate.scheme == CertificateScheme.ISO_9001
    assert event.certificate.certificate_id == certificate.certificate_id
    assert event.enrollment_id == "enr-1"
    assert event.version == 2


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"scheme": CertificateScheme.TKDN_IK, "tkdn_pct": 24.9}, "tkdn_pct", "25%"),
        ({"scheme": CertificateScheme.TKDN_IK}, "tkdn_pct", "needs tkdn_pct"),
        ({"tkdn_pct": 40.0}, "tkdn_pct", "TKDN IK certificates only"),
        ({"expires_on": date(2025, 1, 1)}, "expires_on", "after issued_on"),
        ({"number": " "}, "number", "must not be empty"),
    ],
)
def test_certificate_rules(changes: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.certify(register(), replace(ISO_9001, **changes), now=NOW)  # type: ignore[arg-type]
    assert message in problems_of(caught)[field]  # type: ignore[arg-type]


def test_the_same_certificate_twice_is_a_conflict() -> None:
    enterprise = register()
    domain.certify(enterprise, ISO_9001, now=NOW)
    with pytest.raises(Conflict):
        domain.certify(enterprise, ISO_9001, now=NOW)


def test_renew_revoke_and_expire() -> None:
    enterprise = register()
    certificate, _ = domain.certify(enterprise, ISO_9001, now=NOW)
    with pytest.raises(DomainError):
        domain.renew(enterprise, certificate.certificate_id, expires_on=date(2027, 1, 1), now=NOW)
    renewed = domain.renew(
        enterprise, certificate.certificate_id, expires_on=date(2029, 6, 1), now=NOW
    )
    assert renewed.previous_expires_on == date(2028, 6, 1)
    assert domain.expire_due(enterprise, date(2029, 6, 1)) == []
    (expired,) = domain.expire_due(enterprise, date(2029, 6, 2))
    assert expired.expired_on == date(2029, 6, 1)
    assert domain.expire_due(enterprise, date(2029, 6, 3)) == []
    revoked = domain.revoke(enterprise, certificate.certificate_id, on=date(2029, 7, 1), reason="x")
    assert revoked.scheme == CertificateScheme.ISO_9001
    with pytest.raises(Conflict):
        domain.revoke(enterprise, certificate.certificate_id, on=date(2029, 7, 1), reason="x")


def members(count: int) -> list[domain.Enterprise]:
    return [register(nib=f"91200000000{i:02d}") for i in range(count)]


def designate(count: int = 5) -> tuple[domain.Sentra, list[domain.Enterprise]]:
    enterprises = members(count)
    sentra, _ = domain.designate_sentra(
        name="Sentra IKM Slag Aluminium Kendalsari",
        province_code="35",
        regency_code="3517",
        commodity="aluminium ingots",
        designated_on=date(2016, 1, 1),
        members=enterprises,
    )
    return sentra, enterprises


def test_a_sentra_needs_five_members() -> None:
    with pytest.raises(InvalidInput) as caught:
        designate(4)
    assert "at least 5" in problems_of(caught)["member_nibs"]  # type: ignore[arg-type]
    sentra, enterprises = designate(5)
    assert len(sentra.members) == 5
    assert all(e.sentra_id == sentra.sentra_id for e in enterprises)


def test_leaving_below_five_members_is_refused() -> None:
    sentra, enterprises = designate(6)
    left = domain.leave_sentra(sentra, enterprises[0], date(2020, 1, 1))
    assert left.member_count == 5
    with pytest.raises(Conflict):
        domain.leave_sentra(sentra, enterprises[1], date(2020, 1, 1))


def test_a_member_of_one_sentra_cannot_join_another() -> None:
    _, enterprises = designate(5)
    other = domain.Sentra("s2", "Other", "35", "3517", "aluminium", date(2020, 1, 1))
    with pytest.raises(Conflict):
        domain.join_sentra(other, enterprises[0], date(2020, 1, 1))


def test_outcomes_keep_ranges_and_refuse_inverted_ones() -> None:
    sentra, _ = designate(5)
    outcome = domain.report_outcome(
        sentra,
        period="2019",
        reported_on=date(2019, 12, 31),
        revenue_idr=RangeFigure(min=1.5e9, max=2e9, unit="IDR/year"),
        production=RangeFigure(min=400, max=700, unit="tonnes/year"),
    )
    assert outcome.revenue_idr is not None and outcome.revenue_idr.min == 1.5e9
    assert outcome.members == 5
    with pytest.raises(InvalidInput) as caught:
        domain.report_outcome(
            sentra,
            period="2016",
            reported_on=date(2016, 12, 31),
            revenue_idr=RangeFigure(min=3e8, max=2e8, unit="IDR/year"),
        )
    assert "above max" in problems_of(caught)["revenue_idr"]  # type: ignore[arg-type]
