"""The replica of the registry, as this service sees it: for operators checking replica lag."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.programs.adapters.repository import ReplicaRepository
from services.programs.api.common import Runtime
from shared import db
from shared.errors import NotFound
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, SizeClass

router = APIRouter(tags=["enterprise replica"])


class ReplicaCertificateOut(BaseModel):
    certificate_id: str
    scheme: CertificateScheme
    expires_on: date | None
    in_force: bool


class EnterpriseReplicaOut(BaseModel):
    nib: str
    registered: bool = Field(
        description="False until its registration (or a newer profile) arrives"
    )
    province_code: str | None
    kbli: str | None
    size_class: SizeClass | None
    business_capital_idr: int | None
    status: EnterpriseStatus | None
    version: int = Field(description="Registry version of the profile held")
    certificates: list[ReplicaCertificateOut]


@router.get("/enterprise-replica/{nib}", response_model=EnterpriseReplicaOut)
async def get_enterprise_replica(nib: str, runtime: Runtime) -> EnterpriseReplicaOut:
    async with db.reading(runtime.sessions) as session:
        replicas = ReplicaRepository(session)
        enterprise = await replicas.enterprise(nib)
        certificates = await replicas.certificates_of(nib)
    if enterprise is None and not certificates:
        raise NotFound(f"no registry event about NIB {nib} has arrived", field="nib")
    return EnterpriseReplicaOut(
        nib=nib,
        registered=enterprise is not None and enterprise.registered,
        province_code=enterprise.province_code if enterprise else None,
        kbli=enterprise.kbli if enterprise else None,
        size_class=enterprise.size_class if enterprise else None,
        business_capital_idr=enterprise.business_capital_idr if enterprise else None,
        status=enterprise.status if enterprise else None,
        version=enterprise.profile_version if enterprise else 0,
        certificates=[
            ReplicaCertificateOut(
                certificate_id=c.certificate_id,
                scheme=c.scheme,
                expires_on=c.expires_on,
                in_force=c.in_force,
            )
            for c in sorted(certificates, key=lambda c: c.certificate_id)
        ],
    )
