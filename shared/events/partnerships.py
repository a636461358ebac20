"""Public events of the partnerships service: Link and Match between IKM and large industry."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.events.base import Event
from shared.events.topics import PARTNERS, PARTNERSHIP_TARGETS, PARTNERSHIPS, SUPPLIER_READINESS
from shared.events.vocabulary import CertificateScheme, CountingUnit, PartnershipStage

ACTOR = Field(default=None, description="Who made the change (user id), or 'system'")


class SupplierRequirements(BaseModel):
    required_certificates: list[CertificateScheme] = Field(default_factory=list)
    min_tkdn_pct: float | None = Field(default=None, ge=0, le=100)


class PartnerRegistered(Event):
    """A large-industry firm joined Link and Match as a partner, with its supplier requirements."""

    topic = PARTNERS
    subject_field = "partner_nib"

    partner_nib: str
    name: str
    sector: str = Field(examples=["automotive"])
    tier: int = Field(ge=0, le=3, description="Place in the supply chain (0 = OEM, 1 = tier 1)")
    requirements: SupplierRequirements
    registered_at: datetime
    actor: str | None = ACTOR


class PartnershipProposed(Event):
    """IKM and a partner were matched (e.g. at a business-matching event)."""

    topic = PARTNERSHIPS
    subject_field = "partnership_id"

    partnership_id: str
    partner_nib: str
    ikm_nibs: list[str] = Field(min_length=1)
    component: str = Field(description="Component or product to be supplied")
    facilitated_by: str | None = Field(default=None, description="Program or matching event")
    value_idr: int | None = Field(default=None, ge=0)
    proposed_on: date
    actor: str | None = ACTOR


class PartnershipSigned(Event):
    """The MoU was signed; counted towards the year's target."""

    topic = PARTNERSHIPS
    subject_field = "partnership_id"

    partnership_id: str
    partner_nib: str
    ikm_nibs: list[str] = Field(min_length=1)
    signed_on: date
    fiscal_year: int
    actor: str | None = ACTOR


class PartnershipStageChanged(Event):
    topic = PARTNERSHIPS
    subject_field = "partnership_id"

    partnership_id: str
    partner_nib: str
    from_stage: PartnershipStage
    to_stage: PartnershipStage
    changed_on: date
    actor: str | None = ACTOR


class PartnershipEnded(Event):
    topic = PARTNERSHIPS
    subject_field = "partnership_id"

    partnership_id: str
    partner_nib: str
    ended_on: date
    reason: str
    actor: str | None = ACTOR


class SupplierQualified(Event):
    """An IKM now meets every requirement of a partner firm."""

    topic = SUPPLIER_READINESS
    subject_field = "nib"

    nib: str
    partner_nib: str
    qualified_at: datetime


class SuspendedEnrollment(BaseModel):
    enrollment_id: str
    budget_line_id: str
    program_code: str
    certificate_scheme: CertificateScheme


class SupplierReadinessBlocked(Event):
    """An IKM cannot become ready: the enrollment for a missing certificate was suspended."""

    topic = SUPPLIER_READINESS
    subject_field = "nib"

    nib: str
    partner_nib: str
    missing: list[CertificateScheme]
    blocked_by: list[SuspendedEnrollment] = Field(min_length=1)
    blocked_at: datetime


class PartnershipTargetSet(Event):
    """A yearly Link and Match target, in an explicit counting unit."""

    topic = PARTNERSHIP_TARGETS
    subject_field = "target_id"

    target_id: str = Field(description="fiscal year and unit, e.g. 2019-ikm")
    fiscal_year: int
    unit: CountingUnit
    target: int = Field(ge=0)
    source: str | None = None
    set_at: datetime
    actor: str | None = ACTOR


class SupplierReadinessUnblocked(Event):
    """The suspension that blocked an IKM was lifted; it may still miss requirements."""

    topic = SUPPLIER_READINESS
    subject_field = "nib"

    nib: str
    partner_nib: str
    missing: list[CertificateScheme]
    unblocked_at: datetime


class SupplierDisqualified(Event):
    """An IKM that met every requirement of a partner no longer does (a certificate it relied on
    expired or was revoked)."""

    topic = SUPPLIER_READINESS
    subject_field = "nib"

    nib: str
    partner_nib: str
    missing: list[CertificateScheme]
    disqualified_at: datetime
