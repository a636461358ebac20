"""Public events of the registry service: the national IKM register, certificates and sentra.

Enterprise events carry the aggregate ``version`` so that a replica can ignore an event older
than what it holds. No event carries the owner's personal data (NIK, phone, e-mail).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.events.base import Event
from shared.events.topics import ENTERPRISES, SENTRA
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass

NIB = Field(description="Nomor Induk Berusaha (OSS), 13 digits", examples=["9120001234567"])
VERSION = Field(description="Version of the enterprise after this change (starts at 1)", ge=1)


class EnterpriseProfile(BaseModel):
    """The public profile of an enterprise: what other services may replicate."""

    name: str = Field(description="Registered business name")
    legal_form: str | None = Field(default=None, description="e.g. PT, CV, UD, koperasi")
    province_code: str = Field(description="Kemendagri province code, 2 digits", examples=["35"])
    regency_code: str | None = Field(
        default=None, description="Kemendagri regency/city code, 4 digits", examples=["3517"]
    )
    kbli: str = Field(description="Primary KBLI 2020 code, 5 digits", examples=["24202"])
    secondary_kbli: list[str] = Field(default_factory=list, description="Other KBLI 2020 codes")
    workforce: int | None = Field(default=None, ge=0, description="Number of workers")
    investment_idr: int | None = Field(
        default=None, ge=0, description="Investment excluding land and buildings, rupiah"
    )
    business_capital_idr: int | None = Field(default=None, ge=0, description="Modal usaha, rupiah")
    annual_sales_idr: int | None = Field(default=None, ge=0, description="Annual sales, rupiah")
    size_class: SizeClass | None = Field(default=None, description="Derived size class")
    size_regime: str | None = Field(
        default=None,
        description="Regulation the size class is derived under",
        examples=["permenperin-64-2016"],
    )
    status: EnterpriseStatus = EnterpriseStatus.ACTIVE
    sentra_id: str | None = Field(default=None, description="Sentra IKM the enterprise belongs to")


class EnterpriseRegistered(Event):
    """An IKM enterprise entered the national register."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = Field(default=1, ge=1, description="Version of the enterprise (1 when new)")
    profile: EnterpriseProfile = Field(description="The whole public profile at registration")
    registered_at: datetime = Field(description="When the registry accepted the enterprise (UTC)")
    actor: str | None = Field(default=None, description="Who registered it (user id or system)")


class EnterpriseUpdated(Event):
    """Profile fields of an enterprise changed; ``profile`` is the whole profile afterwards."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    changed_fields: list[str] = Field(description="Names of the profile fields that changed")
    profile: EnterpriseProfile
    updated_at: datetime
    actor: str | None = None


class EnterpriseReclassified(Event):
    """The derived size class of an enterprise changed."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    province_code: str
    previous_size_class: SizeClass | None
    size_class: SizeClass
    size_regime: str = Field(description="Regulation the class is derived under")
    reclassified_at: datetime


class EnterpriseClosed(Event):
    """The enterprise stopped operating and left the active register."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    province_code: str
    closed_on: date
    reason: str
    actor: str | None = None


class CertificateFacts(BaseModel):
    certificate_id: str = Field(description="Registry id of the certificate")
    scheme: CertificateScheme
    number: str = Field(description="Certificate number as issued")
    issuer: str = Field(description="Certification body or issuing agency")
    issued_on: date
    expires_on: date | None = Field(default=None, description="None when it does not expire")
    tkdn_pct: float | None = Field(
        default=None, ge=0, le=100, description="TKDN IK value in percent (TKDN IK only)"
    )


class EnterpriseCertified(Event):
    """A certificate was recorded for an enterprise (e.g. the outcome of an assistance program)."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    province_code: str
    certificate: CertificateFacts
    enrollment_id: str | None = Field(
        default=None, description="The program enrollment that produced it, if any"
    )
    certified_at: datetime
    actor: str | None = None


class CertificateRenewed(Event):
    """A certificate got a new validity period."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    province_code: str
    certificate: CertificateFacts
    previous_expires_on: date | None
    renewed_at: datetime
    actor: str | None = None


class CertificateExpired(Event):
    """A certificate passed its expiry date (found by the registry's scheduled check)."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    province_code: str
    certificate_id: str
    scheme: CertificateScheme
    expired_on: date


class CertificateRevoked(Event):
    """A certificate was withdrawn before its expiry."""

    topic = ENTERPRISES
    subject_field = "nib"

    nib: str = NIB
    version: int = VERSION
    province_code: str
    certificate_id: str
    scheme: CertificateScheme
    revoked_on: date
    reason: str
    actor: str | None = None


class RangeFigure(BaseModel):
    """A figure the source gives as a range ("Rp200–300 million"); min == max when exact."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)
    unit: str = Field(description="e.g. IDR/year, tonnes/year, workers", examples=["IDR/year"])


class SentraDesignated(Event):
    """A location was designated a Sentra IKM (at least 5 IKM with similar products)."""

    topic = SENTRA
    subject_field = "sentra_id"

    sentra_id: str
    name: str
    province_code: str
    regency_code: str
    village: str | None = Field(default=None, description="Desa/kelurahan name")
    managing_body: str | None = Field(default=None, description="e.g. a cooperative")
    commodity: str
    kbli: str | None = None
    designated_on: date
    actor: str | None = None


class SentraMemberJoined(Event):
    topic = SENTRA
    subject_field = "sentra_id"

    sentra_id: str
    nib: str = NIB
    joined_on: date
    member_count: int = Field(ge=0, description="Members after this change")


class SentraMemberLeft(Event):
    topic = SENTRA
    subject_field = "sentra_id"

    sentra_id: str
    nib: str = NIB
    left_on: date
    member_count: int = Field(ge=0, description="Members after this change")


class SentraOutcomeReported(Event):
    """Outcome figures of a sentra for a period, as ranges where the source gives ranges."""

    topic = SENTRA
    subject_field = "sentra_id"

    sentra_id: str
    period: str = Field(description="Period the figures describe", examples=["2016", "2019"])
    members: int | None = Field(default=None, ge=0)
    workforce: RangeFigure | None = None
    revenue_idr: RangeFigure | None = Field(default=None, description="Turnover per year, rupiah")
    production: RangeFigure | None = None
    source: str | None = Field(default=None, description="Where the figures come from")
    reported_on: date
