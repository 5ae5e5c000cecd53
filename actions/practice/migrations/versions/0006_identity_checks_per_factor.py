"""Identity-check failures are counted per second factor: identity_checks.factor.

Three wrong dates of birth typed on the web with a patient's name locked that record for SMS
too, where the patient's own phone is the factor: anyone who knew a name could lock a patient
out of texting the practice. Failures are now counted and locked per factor ('name' on the
web, 'phone' over SMS).

The table holds only failure counts and locks of at most LOCKOUT_MINUTES, so it is recreated
empty rather than converted: an upgrade forgets at most a quarter of an hour of failures.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _create(per_factor: bool) -> None:
    columns = [
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_identity_checks_patient_id_patients"),
            nullable=False,
        ),
    ]
    if per_factor:
        columns.append(sa.Column("factor", sa.String(8), nullable=False))
    columns += [
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_failed_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint(
            *(["patient_id", "factor"] if per_factor else ["patient_id"]), name="pk_identity_checks"
        ),
    ]
    op.create_table("identity_checks", *columns)


def upgrade() -> None:
    op.drop_table("identity_checks")
    _create(per_factor=True)


def downgrade() -> None:
    op.drop_table("identity_checks")
    _create(per_factor=False)
