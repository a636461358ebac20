"""What partnerships does with the registry's and programs' facts: keep its replica of
certificates and suspended enrollments, and reassess the readiness of the IKM concerned.

Profile events only keep the replica current: readiness depends on certificates and
suspensions alone, so they reassess nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.partnerships import domain, handlers
from shared.consumer import EventRoutes
from shared.envelope import Envelope
from shared.events.programs import (
    EnrollmentCancelled,
    EnrollmentCompleted,
    EnrollmentResumed,
    EnrollmentSuspended,
)
from shared.events.registry import (
    CertificateExpired,
    CertificateRenewed,
    CertificateRevoked,
    EnterpriseCertified,
    EnterpriseClosed,
    EnterpriseRegistered,
    EnterpriseUpdated,
)
from shared.events.vocabulary import EnterpriseStatus
from shared.unit_of_work import UnitOfWork

routes = EventRoutes("partnerships.readiness")


def _at(envelope: Envelope) -> datetime:
    """When the fact happened upstream, so a replay publishes the same readiness times."""
    return envelope.time or datetime.now(UTC)


@routes.on_batch(EnterpriseRegistered, EnterpriseUpdated)
async def enterprise_profiles(
    uow: UnitOfWork, events: list[tuple[EnterpriseRegistered | EnterpriseUpdated, Envelope]]
) -> None:
    await handlers.replicate_profiles(
        uow, [(event.nib, event.version, event.profile) for event, _ in events]
    )


@routes.on(EnterpriseClosed)
async def enterprise_closed(uow: UnitOfWork, event: EnterpriseClosed, envelope: Envelope) -> None:
    await handlers.replicate_enterprise(
        uow,
        event.nib,
        event.version,
        province_code=event.province_code,
        status=EnterpriseStatus.CLOSED,
    )


@routes.on(EnterpriseCertified, CertificateRenewed)
async def certificate_held(
    uow: UnitOfWork, event: EnterpriseCertified | CertificateRenewed, envelope: Envelope
) -> None:
    await handlers.certificate_held(
        uow, event.nib, event.version, event.province_code, event.certificate, _at(envelope)
    )


@routes.on(CertificateExpired, CertificateRevoked)
async def certificate_withdrawn(
    uow: UnitOfWork, event: CertificateExpired | CertificateRevoked, envelope: Envelope
) -> None:
    await handlers.certificate_withdrawn(
        uow, event.nib, event.version, event.province_code, event.certificate_id, _at(envelope)
    )


@routes.on(EnrollmentSuspended)
async def enrollment_suspended(
    uow: UnitOfWork, event: EnrollmentSuspended, envelope: Envelope
) -> None:
    facts = event.enrollment
    if facts.certificate_scheme is None:
        return  # e.g. machine restructuring: blocks no certificate
    suspension = domain.Suspension(
        enrollment_id=facts.enrollment_id,
        budget_line_id=facts.budget_line_id,
        program_code=facts.program_code,
        certificate_scheme=facts.certificate_scheme,
    )
    await handlers.enrollment_suspended(uow, facts.nib, suspension, _at(envelope))


@routes.on(EnrollmentResumed, EnrollmentCancelled, EnrollmentCompleted)
async def suspension_lifted(
    uow: UnitOfWork,
    event: EnrollmentResumed | EnrollmentCancelled | EnrollmentCompleted,
    envelope: Envelope,
) -> None:
    if event.enrollment.certificate_scheme is None:
        return
    await handlers.suspension_lifted(uow, event.enrollment.nib, event.enrollment_id, _at(envelope))
