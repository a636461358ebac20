from __future__ import annotations

import pytest
from programs_builders import allocate, open_iso9001, qualified_applicant

from services.programs.domain.budget_lines import BudgetLine
from services.programs.domain.eligibility import Applicant
from services.programs.domain.programs import Program


@pytest.fixture
def program() -> Program:
    return open_iso9001()


@pytest.fixture
def line(program: Program) -> BudgetLine:
    return allocate(program)


@pytest.fixture
def applicant() -> Applicant:
    return qualified_applicant()
