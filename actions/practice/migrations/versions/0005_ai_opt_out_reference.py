"""The reference staff were given for an AI opt-out: ai_opt_outs.reference.

The Slack notice says "AI opt-out recorded · ref AO-..." and asks staff to flag the care
record, but the reference was stored nowhere, so staff could not tell whose record. It is now
kept with the opt-out and listed on a staff workstation (`make staff-refills ARGS=opt-outs`).
Earlier opt-outs have no reference.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ai_opt_outs") as batch:
        batch.add_column(sa.Column("reference", sa.String(16), nullable=True))
        batch.create_unique_constraint("uq_ai_opt_outs_reference", ["reference"])


def downgrade() -> None:
    with op.batch_alter_table("ai_opt_outs") as batch:
        batch.drop_constraint("uq_ai_opt_outs_reference", type_="unique")
        batch.drop_column("reference")
