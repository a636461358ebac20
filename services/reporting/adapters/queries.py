"""KPI queries over the live read models (small aggregate tables, never the raw facts).

The queries a dashboard polls are built once and read through ``db.fetch_mappings``.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import BigInteger, Table, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.adapters.tables import ReadModels, reference_figures
from shared import db

ENTERPRISE_DIMENSIONS = ("province_code", "regency_code", "kbli_division", "size_class")


def _total(column: Any) -> Any:
    """SUM as an integer on every backend (PostgreSQL would answer a NUMERIC)."""
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


def _where(table: Table, **filters: Any) -> list[Any]:
    return [table.c[name] == value for name, value in filters.items() if value is not None]


async def enterprise_totals(
    session: AsyncSession, models: ReadModels, group_by: str, **filters: Any
) -> list[dict[str, Any]]:
    given = {name: value for name, value in filters.items() if value is not None}
    query = _enterprise_totals(models.enterprise_totals, group_by, tuple(sorted(given)))
    return await db.fetch_mappings(session, query, given)


@functools.cache
def _enterprise_totals(t: Table, group_by: str, filter_names: tuple[str, ...]) -> Any:
    """Built once per shape: a dashboard polls this, and building the statement (and its
    cache key) again on every request cost more than running it."""
    key = t.c[group_by]
    return (
        select(
            key.label("key"),
            _total(t.c.enterprises).label("enterprises"),
            _total(t.c.workforce).label("workforce"),
            _total(t.c.investment_idr).label("investment_idr"),
            _total(t.c.annual_sales_idr).label("annual_sales_idr"),
        )
        .where(*(t.c[name] == bindparam(name) for name in filter_names))
        .group_by(key)
        .having(func.sum(t.c.enterprises) > 0)
        .order_by(key)
    )


async def national_enterprises(session: AsyncSession, models: ReadModels) -> int:
    rows = await db.fetch_mappings(session, _national_enterprises(models.enterprise_totals))
    return int(rows[0]["enterprises"])


@functools.cache
def _national_enterprises(t: Table) -> Any:
    return select(_total(t.c.enterprises).label("enterprises"))


async def certificate_totals(
    session: AsyncSession, models: ReadModels, province_code: str | None
) -> list[dict[str, Any]]:
    t = models.certificate_totals
    query = (
        select(t.c.scheme, t.c.province_code, t.c.status, t.c.certificates)
        .where(t.c.certificates > 0, *_where(t, province_code=province_code))
        .order_by(t.c.scheme, t.c.province_code, t.c.status)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def budget_lines(
    session: AsyncSession, models: ReadModels, **filters: Any
) -> list[dict[str, Any]]:
    lines, programs = models.budget_lines, models.programs
    pagu = lines.c.allocated_idr + lines.c.refocused_in_idr - lines.c.refocused_out_idr
    query = (
        select(lines, pagu.label("pagu_idr"), programs.c.name.label("program_name"))
        .join(programs, programs.c.program_code == lines.c.program_code, isouter=True)
        .where(*_where(lines, **filters))
        .order_by(lines.c.fiscal_year, lines.c.program_code, lines.c.province_code)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def funnel(session: AsyncSession, models: ReadModels, **filters: Any) -> list[dict[str, Any]]:
    t = models.funnel
    query = select(t).where(*_where(t, **filters)).order_by(t.c.program_code, t.c.fiscal_year)
    return [dict(r._mapping) for r in await session.execute(query)]


async def suspended_enrollments(
    session: AsyncSession, models: ReadModels, budget_line_id: str
) -> list[dict[str, Any]]:
    t = models.enrollments
    query = select(t).where(t.c.budget_line_id == budget_line_id, t.c.status == "suspended")
    return [dict(r._mapping) for r in await session.execute(query)]


async def postponed_lines(session: AsyncSession, models: ReadModels) -> list[dict[str, Any]]:
    t = models.budget_lines
    pagu = t.c.allocated_idr + t.c.refocused_in_idr - t.c.refocused_out_idr
    query = (
        select(t, pagu.label("pagu_idr"))
        .where(t.c.times_postponed > 0)
        .order_by(t.c.fiscal_year, t.c.budget_line_id)
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def partnerships(session: AsyncSession, models: ReadModels) -> list[dict[str, Any]]:
    p, partners = models.partnerships, models.partners
    query = select(p, partners.c.name.label("partner_name")).join(
        partners, partners.c.partner_nib == p.c.partner_nib, isouter=True
    )
    return [dict(r._mapping) for r in await session.execute(query)]


async def targets(session: AsyncSession, models: ReadModels) -> list[dict[str, Any]]:
    t = models.targets
    return [dict(r._mapping) for r in await session.execute(select(t).order_by(t.c.fiscal_year))]


async def sentra(
    session: AsyncSession, models: ReadModels
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    s, o = models.sentra, models.sentra_outcomes
    rows = [dict(r._mapping) for r in await session.execute(select(s).order_by(s.c.name))]
    outcomes = [
        dict(r._mapping)
        for r in await session.execute(select(o).order_by(o.c.sentra_id, o.c.period))
    ]
    return rows, outcomes


async def positions(session: AsyncSession, models: ReadModels) -> list[dict[str, Any]]:
    return await db.fetch_mappings(session, _positions(models.positions))


@functools.cache
def _positions(t: Table) -> Any:
    return select(t).order_by(t.c.topic, t.c.partition)


_REFERENCES = select(reference_figures).order_by(reference_figures.c.key)


async def references(session: AsyncSession) -> list[dict[str, Any]]:
    return await db.fetch_mappings(session, _REFERENCES)
