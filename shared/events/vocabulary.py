"""Closed vocabularies of the public contract: the values an event field may take.

They are part of the contract other ministries code against, so values are only ever added
(a narrowed enum is a breaking change, caught by the contract check).
"""

from __future__ import annotations

from enum import StrEnum


class CertificateScheme(StrEnum):
    ISO_9001 = "ISO_9001"
    ISO_14001 = "ISO_14001"
    SNI = "SNI"
    HALAL = "HALAL"
    TKDN_IK = "TKDN_IK"


class SizeClass(StrEnum):
    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class EnterpriseStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"


class ProgramType(StrEnum):
    CERTIFICATION_ASSISTANCE = "certification_assistance"
    MACHINE_RESTRUCTURING = "machine_restructuring"
    BIMTEK = "bimtek"
    OVOP = "ovop"
    TKDN_IK_FACILITATION = "tkdn_ik_facilitation"
    DAK_FISIK_SENTRA = "dak_fisik_sentra"
    HALAL_FACILITATION = "halal_facilitation"
    SIINAS_DATA_COLLECTION = "siinas_data_collection"


class BudgetMechanism(StrEnum):
    PUSAT = "pusat"
    DEKONSENTRASI = "dekonsentrasi"
    TUGAS_PEMBANTUAN = "tugas_pembantuan"
    DAK_FISIK = "dak_fisik"


class PartnershipStage(StrEnum):
    PROPOSED = "proposed"
    MOU_SIGNED = "mou_signed"
    COACHING = "coaching"
    TRIAL_SUPPLY = "trial_supply"
    ACTIVE_SUPPLY = "active_supply"
    ENDED = "ended"


class CountingUnit(StrEnum):
    """What a Link and Match figure counts: the seed story's 15 are agreements, its 45 are IKM."""

    AGREEMENTS = "agreements"
    IKM = "ikm"
    PARTNER_FIRMS = "partner_firms"
