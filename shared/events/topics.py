"""The topic registry: every topic of the platform, its single writer and its key.

One topic per aggregate stream, named ``ikm.<service>.<aggregate>``; dead letters go to
``<topic>.dlq``. Topics are created from this list before services start, never auto-created.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    owner: str
    key: str
    description: str
    public: bool = True

    @property
    def dead_letter(self) -> str:
        return f"{self.name}.dlq"


ENTERPRISES = Topic(
    "ikm.registry.enterprises",
    owner="registry",
    key="nib",
    description="Lifecycle, profile, size class and certificates of each IKM enterprise.",
)
SENTRA = Topic(
    "ikm.registry.sentra",
    owner="registry",
    key="sentra_id",
    description="Sentra IKM designations, memberships and outcome figures (key: sentra id).",
)
PROGRAMS = Topic(
    "ikm.programs.programs",
    owner="programs",
    key="program_code",
    description="Assistance programs opened and closed (key: program code).",
)
BUDGET_LINES = Topic(
    "ikm.programs.budget-lines",
    owner="programs",
    key="budget_line_id",
    description="Budget lines per fiscal year, mechanism and province and their transitions.",
)
ENROLLMENTS = Topic(
    "ikm.programs.enrollments",
    owner="programs",
    key="enrollment_id",
    description="Enrollments of enterprises in assistance programs (key: enrollment id).",
)
PARTNERS = Topic(
    "ikm.partnerships.partners",
    owner="partnerships",
    key="partner_nib",
    description="Large-industry partner firms and their supplier requirements.",
)
PARTNERSHIPS = Topic(
    "ikm.partnerships.partnerships",
    owner="partnerships",
    key="partnership_id",
    description="Link and Match partnerships and their stages.",
)
SUPPLIER_READINESS = Topic(
    "ikm.partnerships.supplier-readiness",
    owner="partnerships",
    key="nib",
    description="Changes in an IKM's readiness to supply a partner firm (key: NIB).",
)
PARTNERSHIP_TARGETS = Topic(
    "ikm.partnerships.targets",
    owner="partnerships",
    key="target_id",
    description="Yearly Link and Match targets with their counting unit.",
)

ALL_TOPICS: tuple[Topic, ...] = (
    ENTERPRISES,
    SENTRA,
    PROGRAMS,
    BUDGET_LINES,
    ENROLLMENTS,
    PARTNERS,
    PARTNERSHIPS,
    SUPPLIER_READINESS,
    PARTNERSHIP_TARGETS,
)


def topics_owned_by(service: str) -> tuple[Topic, ...]:
    return tuple(t for t in ALL_TOPICS if t.owner == service)


def all_topic_names(*, with_dead_letters: bool = True) -> list[str]:
    names = [t.name for t in ALL_TOPICS]
    if with_dead_letters:
        names += [t.dead_letter for t in ALL_TOPICS]
    return names
