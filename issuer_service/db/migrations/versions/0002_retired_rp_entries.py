"""retired RP certificate status entries: an update revokes the certificate it replaces

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retired_rp_entries",
        sa.Column("status_list_id", sa.Integer(), nullable=False),
        sa.Column("status_idx", sa.Integer(), nullable=False),
        sa.Column("rp_id", sa.String(length=128), nullable=False),
        sa.Column("certificate_exp", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rp_id"], ["relying_parties.rp_id"], name=op.f("fk_retired_rp_entries_rp_id_relying_parties")
        ),
        sa.ForeignKeyConstraint(
            ["status_list_id"],
            ["status_lists.id"],
            name=op.f("fk_retired_rp_entries_status_list_id_status_lists"),
        ),
        sa.PrimaryKeyConstraint("status_list_id", "status_idx", name=op.f("pk_retired_rp_entries")),
    )
    with op.batch_alter_table("retired_rp_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retired_rp_entries_rp_id"), ["rp_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("retired_rp_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retired_rp_entries_rp_id"))
    op.drop_table("retired_rp_entries")
