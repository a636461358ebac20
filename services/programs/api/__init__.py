"""Programs HTTP routes under ``/api/v1``: parse, call a use case, shape the answer."""

from __future__ import annotations

from services.programs.api import budget_lines, enrollments, enterprises, programs

routers = [programs.router, budget_lines.router, enrollments.router, enterprises.router]
