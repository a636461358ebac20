"""Reporting read models, in two generations: one serves while the other can be rebuilt.

Every read-model table exists as ``a_<name>`` and ``b_<name>``; ``read_model_generation`` says
which one is live. A rebuild empties the other generation, replays every topic into it and then
flips the pointer, so readers never see a half-built model. Both generations come from the same
definition below and are created by migrations, never at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.db import UtcDateTime, service_registry
from shared.inbox import inbox_table
from shared.runtime import ServiceTables

GENERATIONS = ("a", "b")
metadata: MetaData = service_registry().metadata

generation_pointer = Table(
    "read_model_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("live", String(1), nullable=False),
    Column("switched_at", UtcDateTime(), nullable=True),
)


# Figures from outside the event streams (e.g. the national IKM count of 2022, seed S1) that the
# KPIs are compared against. Written through the API, not rebuilt from topics: one plain table.
reference_figures = Table(
    "reference_figures",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Float, nullable=False),
    Column("unit", String(60), nullable=False),
    Column("year", Integer, nullable=True),
    Column("source", Text, nullable=False),
    Column("measure", String(40), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)


def _idr(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, default=0)


@dataclass(frozen=True)
class ReadModels:
    generation: str
    enterprises: Table
    enterprise_totals: Table
    certificates: Table
    certificate_totals: Table
    programs: Table
    budget_lines: Table
    enrollments: Table
    funnel: Table
    partners: Table
    partnerships: Table
    targets: Table
    sentra: Table
    sentra_outcomes: Table
    positions: Table
    inbox: Table

    def tables(self) -> list[Table]:
        return [getattr(self, name) for name in self.__dataclass_fields__ if name != "generation"]


def _define(g: str) -> ReadModels:
    def table(name: str, *columns: Column[object]) -> Table:
        return Table(f"{g}_{name}", metadata, *columns)

    return ReadModels(
        generation=g,
        enterprises=table(
            "enterprises",
            Column("nib", String(13), primary_key=True),
            Column("province_code", String(2), nullable=False),
            Column("regency_code", String(4), nullable=False, default=""),
            Column("kbli_division", String(2), nullable=False),
            Column("size_class", String(10), nullable=False, default=""),
            Column("workforce", BigInteger, nullable=False, default=0),
            _idr("investment_idr"),
            _idr("annual_sales_idr"),
            Column("status", String(10), nullable=False),
            Column("version", Integer, nullable=False),
        ),
        # One row per combination of dimensions: queries group this small table, never the
        # millions of enterprises.
        enterprise_totals=table(
            "enterprise_totals",
            Column("province_code", String(2), primary_key=True),
            Column("regency_code", String(4), primary_key=True),
            Column("kbli_division", String(2), primary_key=True),
            Column("size_class", String(10), primary_key=True),
            Column("enterprises", BigInteger, nullable=False, default=0),
            Column("workforce", BigInteger, nullable=False, default=0),
            _idr("investment_idr"),
            _idr("annual_sales_idr"),
        ),
        certificates=table(
            "certificates",
            Column("certificate_id", String(100), primary_key=True),
            Column("nib", String(13), nullable=False),
            Column("scheme", String(20), nullable=False),
            Column("province_code", String(2), nullable=False),
            Column("status", String(10), nullable=False),
        ),
        certificate_totals=table(
            "certificate_totals",
            Column("scheme", String(20), primary_key=True),
            Column("province_code", String(2), primary_key=True),
            Column("status", String(10), primary_key=True),
            Column("certificates", BigInteger, nullable=False, default=0),
        ),
        programs=table(
            "programs",
            Column("program_code", String(40), primary_key=True),
            Column("name", String(300), nullable=False),
            Column("program_type", String(40), nullable=False),
            Column("certificate_scheme", String(20), nullable=True),
            Column("status", String(20), nullable=False),
        ),
        budget_lines=table(
            "budget_lines",
            Column("budget_line_id", String(40), primary_key=True),
            Column("program_code", String(40), nullable=False, index=True),
            Column("fiscal_year", Integer, nullable=False, index=True),
            Column("mechanism", String(20), nullable=False),
            Column("province_code", String(2), nullable=False, default=""),
            Column("status", String(20), nullable=False),
            # pagu = allocated + refocused in − refocused out: each part is added on its own, so
            # the events of two lines (on two partitions) may arrive in any order
            _idr("allocated_idr"),
            _idr("reserved_idr"),
            _idr("realised_idr"),
            _idr("refocused_in_idr"),
            _idr("refocused_out_idr"),
            Column("quota_enterprises", Integer, nullable=False, default=0),
            Column("status_reason", Text, nullable=True),
            Column("status_changed_at", UtcDateTime(), nullable=True),
            Column("postponement_deadline", Date, nullable=True),
            Column("times_postponed", Integer, nullable=False, default=0),
        ),
        enrollments=table(
            "enrollments",
            Column("enrollment_id", String(40), primary_key=True),
            Column("nib", String(13), nullable=False),
            Column("province_code", String(2), nullable=False),
            Column("program_code", String(40), nullable=False),
            Column("fiscal_year", Integer, nullable=False),
            Column("budget_line_id", String(40), nullable=False, index=True),
            Column("status", String(20), nullable=False),
            _idr("reserved_idr"),
            _idr("realised_idr"),
        ),
        # How many enrollments ever reached each stage, per program and year.
        funnel=table(
            "funnel",
            Column("program_code", String(40), primary_key=True),
            Column("fiscal_year", Integer, primary_key=True),
            Column("stage", String(20), primary_key=True),
            Column("enrollments", BigInteger, nullable=False, default=0),
        ),
        partners=table(
            "partners",
            Column("partner_nib", String(13), primary_key=True),
            Column("name", String(300), nullable=False),
            Column("sector", String(100), nullable=False),
            Column("tier", Integer, nullable=False),
        ),
        partnerships=table(
            "partnerships",
            Column("partnership_id", String(40), primary_key=True),
            Column("partner_nib", String(13), nullable=False),
            Column("stage", String(20), nullable=False),
            Column("component", String(300), nullable=False, default=""),
            Column("ikm_nibs", Text, nullable=False, default=""),
            Column("signed_year", Integer, nullable=True, index=True),
        ),
        targets=table(
            "targets",
            Column("fiscal_year", Integer, primary_key=True),
            Column("unit", String(20), primary_key=True),
            Column("target", Integer, nullable=False),
            Column("source", Text, nullable=True),
        ),
        sentra=table(
            "sentra",
            Column("sentra_id", String(40), primary_key=True),
            Column("name", String(300), nullable=False),
            Column("province_code", String(2), nullable=False),
            Column("regency_code", String(4), nullable=False),
            Column("village", String(200), nullable=True),
            Column("commodity", String(200), nullable=False),
            Column("members", Integer, nullable=False, default=0),
            Column("designated_on", Date, nullable=False),
        ),
        sentra_outcomes=table(
            "sentra_outcomes",
            Column("sentra_id", String(40), primary_key=True),
            Column("period", String(40), primary_key=True),
            Column("members", Integer, nullable=True),
            Column("workforce_min", Float, nullable=True),
            Column("workforce_max", Float, nullable=True),
            Column("revenue_min_idr", Float, nullable=True),
            Column("revenue_max_idr", Float, nullable=True),
            Column("production_min", Float, nullable=True),
            Column("production_max", Float, nullable=True),
            Column("production_unit", String(40), nullable=True),
            Column("source", Text, nullable=True),
        ),
        # Freshness: the last offset and event time applied per partition.
        positions=table(
            "positions",
            Column("topic", String(200), primary_key=True),
            Column("partition", Integer, primary_key=True),
            Column("next_offset", BigInteger, nullable=False),
            Column("last_event_at", UtcDateTime(), nullable=True),
        ),
        inbox=inbox_table(metadata, name=f"{g}_inbox"),
    )


MODELS: dict[str, ReadModels] = {g: _define(g) for g in GENERATIONS}
TABLES = ServiceTables(metadata=metadata, outbox=None, inbox=None)
