"""outbox rows waiting to be published listed apart, not marked in place

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:00:00
"""

from collections.abc import Sequence

from shared.migrations import list_pending_outbox_rows_apart, mark_pending_outbox_rows_in_place

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    list_pending_outbox_rows_apart()


def downgrade() -> None:
    mark_pending_outbox_rows_in_place()
