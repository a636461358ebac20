"""What programs does with the registry's facts: keep the replica eligibility reads from."""

from __future__ import annotations

from services.programs.handlers import replica as handlers
from shared.consumer import EventRoutes
from shared.envelope import Envelope
from shared.events.registry import (
    CertificateExpired,
    CertificateRenewed,
    CertificateRevoked,
    EnterpriseCertified,
    EnterpriseClosed,
    EnterpriseReclassified,
    EnterpriseRegistered,
    EnterpriseUpdated,
)
from shared.unit_of_work import UnitOfWork

routes = EventRoutes("programs.enterprise-replica")


@routes.on_batch(EnterpriseRegistered, EnterpriseUpdated)
async def profiles_changed(
    uow: UnitOfWork, events: list[tuple[EnterpriseRegistered | EnterpriseUpdated, Envelope]]
) -> None:
    await handlers.profiles_changed(
        uow, [(event.nib, event.version, event.profile) for event, _ in events]
    )


@routes.on(EnterpriseReclassified)
async def reclassified(uow: UnitOfWork, event: EnterpriseReclassified, envelope: Envelope) -> None:
    await handlers.reclassified(
        uow, nib=event.nib, version=event.version, size_class=event.size_class
    )


@routes.on(EnterpriseClosed)
async def closed(uow: UnitOfWork, event: EnterpriseClosed, envelope: Envelope) -> None:
    await handlers.closed(uow, nib=event.nib, version=event.version)


@routes.on(EnterpriseCertified, CertificateRenewed)
async def certificate_in_force(
    uow: UnitOfWork, event: EnterpriseCertified | CertificateRenewed, envelope: Envelope
) -> None:
    await handlers.certificate_in_force(
        uow, nib=event.nib, version=event.version, certificate=event.certificate
    )


@routes.on(CertificateExpired, CertificateRevoked)
async def certificate_ended(
    uow: UnitOfWork, event: CertificateExpired | CertificateRevoked, envelope: Envelope
) -> None:
    await handlers.certificate_ended(
        uow,
        nib=event.nib,
        version=event.version,
        certificate_id=event.certificate_id,
        scheme=event.scheme,
    )
