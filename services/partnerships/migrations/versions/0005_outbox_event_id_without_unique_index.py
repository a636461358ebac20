"""outbox event_id without its unique index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

from shared.migrations import drop_outbox_event_id_index, restore_outbox_event_id_index

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    drop_outbox_event_id_index()


def downgrade() -> None:
    restore_outbox_event_id_index()
