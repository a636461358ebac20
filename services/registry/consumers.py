"""What the registry does with facts from other services."""

from __future__ import annotations

from services.registry import domain, handlers
from shared.consumer import EventRoutes
from shared.envelope import Envelope
from shared.events.programs import EnrollmentCompleted
from shared.unit_of_work import UnitOfWork

routes = EventRoutes("registry.certificates")


@routes.on(EnrollmentCompleted)
async def enrollment_completed(
    uow: UnitOfWork, event: EnrollmentCompleted, envelope: Envelope
) -> None:
    """An assistance program produced a certificate: record it on the enterprise."""
    outcome = event.certificate
    if outcome is None:
        return
    await handlers.record_certificate_from_enrollment(
        uow,
        event.enrollment.nib,
        event.enrollment_id,
        domain.CertificateDetails(
            scheme=outcome.scheme,
            number=outcome.number,
            issuer=outcome.issuer,
            issued_on=outcome.issued_on,
            expires_on=outcome.expires_on,
            tkdn_pct=outcome.tkdn_pct,
        ),
    )
