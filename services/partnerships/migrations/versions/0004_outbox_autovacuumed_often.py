"""outbox autovacuumed often

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 15:30:00
"""

from collections.abc import Sequence

from shared.migrations import vacuum_outbox_by_default, vacuum_outbox_often

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    vacuum_outbox_often()


def downgrade() -> None:
    vacuum_outbox_by_default()
