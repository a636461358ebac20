"""Keeping the replica of the registry's enterprises, and reading an applicant from it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.programs.adapters.repository import ReplicaRepository
from services.programs.domain import replica
from services.programs.domain.eligibility import Applicant
from services.programs.domain.replica import EnterpriseReplica, ReplicaCertificate
from shared.events.registry import CertificateFacts, EnterpriseProfile
from shared.events.vocabulary import CertificateScheme, SizeClass
from shared.unit_of_work import UnitOfWork


async def applicant(session: AsyncSession, nib: str, on: date) -> Applicant:
    replicas = ReplicaRepository(session)
    return Applicant(
        nib=nib,
        enterprise=await replicas.enterprise(nib),
        certificates_held=replica.schemes_held(await replicas.certificates_of(nib), on),
    )


async def _update_enterprise(
    uow: UnitOfWork,
    nib: str,
    change: Callable[[EnterpriseReplica | None], EnterpriseReplica],
) -> None:
    replicas = ReplicaRepository(uow.session)
    current = await replicas.enterprise(nib, lock=True)
    changed = change(current)
    if changed != current:
        await replicas.put_enterprise(changed)


async def profiles_changed(
    uow: UnitOfWork, changes: list[tuple[str, int, EnterpriseProfile]]
) -> None:
    """A run of registrations and updates (the national register's import), in bulk."""
    replicas = ReplicaRepository(uow.session)
    known = await replicas.enterprises(nib for nib, _, _ in changes)
    changed: dict[str, EnterpriseReplica] = {}
    for nib, version, profile in changes:
        current = known.get(nib)
        updated = replica.apply_profile(current, nib=nib, version=version, profile=profile)
        if updated != current:
            known[nib] = changed[nib] = updated
    await replicas.put_enterprises(list(changed.values()))


async def reclassified(uow: UnitOfWork, *, nib: str, version: int, size_class: SizeClass) -> None:
    await _update_enterprise(
        uow,
        nib,
        lambda current: replica.apply_reclassification(
            current, nib=nib, version=version, size_class=size_class
        ),
    )


async def closed(uow: UnitOfWork, *, nib: str, version: int) -> None:
    await _update_enterprise(
        uow, nib, lambda current: replica.apply_closure(current, nib=nib, version=version)
    )


async def _update_certificate(
    uow: UnitOfWork,
    certificate_id: str,
    change: Callable[[ReplicaCertificate | None], ReplicaCertificate],
) -> None:
    replicas = ReplicaRepository(uow.session)
    current = await replicas.certificate(certificate_id, lock=True)
    changed = change(current)
    if changed != current:
        await replicas.put_certificate(changed)


async def certificate_in_force(
    uow: UnitOfWork, *, nib: str, version: int, certificate: CertificateFacts
) -> None:
    await _update_certificate(
        uow,
        certificate.certificate_id,
        lambda current: replica.certificate_in_force(
            current, nib=nib, version=version, certificate=certificate
        ),
    )


async def certificate_ended(
    uow: UnitOfWork, *, nib: str, version: int, certificate_id: str, scheme: CertificateScheme
) -> None:
    await _update_certificate(
        uow,
        certificate_id,
        lambda current: replica.certificate_ended(
            current, nib=nib, version=version, certificate_id=certificate_id, scheme=scheme
        ),
    )
