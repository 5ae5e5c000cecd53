"""Who asked for a refill: refill_requests.requested_by_id.

A guardian asks for a dependant's refill; the decision is texted to the person who asked,
not to the dependant's own phone (a teenager with a phone of their own would otherwise get
the answer to a request they never made, and the guardian nothing). Existing rows are
filled with the patient, which is what the texting did before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refill_requests") as batch:
        batch.add_column(sa.Column("requested_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_refill_requests_requested_by_id_patients", "patients", ["requested_by_id"], ["id"]
        )
    op.execute("UPDATE refill_requests SET requested_by_id = patient_id WHERE requested_by_id IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("refill_requests") as batch:
        batch.drop_constraint("fk_refill_requests_requested_by_id_patients", type_="foreignkey")
        batch.drop_column("requested_by_id")
