"""Identity-check lockouts, refill request kinds and channels, and handoffs to staff.

- identity_checks: failed identity checks per patient record, so three wrong dates of birth
  lock the record for every conversation and channel, not just the one that guessed.
- refill_requests.kind: 'refill' (a repeat of a prescription with refills left) or 'renewal'
  (no refills left: the prescriber decides, and may want a visit).
- refill_requests.channel: 'web' or 'sms', so a decision can be texted to an SMS patient;
  patient_notified_at records that it was.
- handoffs: a patient asked for a person. In office hours the conversation waits for staff
  (status 'waiting' until staff close it); outside hours it is a callback request with the
  patient's preferred time. The conversation id is the channel's sender id (a random id on
  the web, a keyed hash by SMS), never a phone number.
- ai_opt_outs: a verified patient said they do not want AI involved in their care; which
  disclosure version they had been shown, and when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_checks",
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_identity_checks_patient_id_patients"),
            nullable=False,
        ),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_failed_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("patient_id", name="pk_identity_checks"),
    )
    op.add_column(
        "refill_requests",
        sa.Column("kind", sa.String(10), nullable=False, server_default="refill"),
    )
    op.add_column(
        "refill_requests",
        sa.Column("channel", sa.String(10), nullable=False, server_default="web"),
    )
    op.add_column("refill_requests", sa.Column("patient_notified_at", sa.DateTime(), nullable=True))
    op.create_index("ix_refill_requests_status", "refill_requests", ["status"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_handoffs_patient_id_patients"),
            nullable=True,
        ),
        sa.Column("callback_phone", sa.String(20), nullable=True),
        sa.Column("callback_time", sa.String(120), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('live', 'callback')", name="ck_handoffs_kind"),
        sa.CheckConstraint("status IN ('waiting', 'closed')", name="ck_handoffs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
        sa.UniqueConstraint("reference", name="uq_handoffs_reference"),
    )
    op.create_index("ix_handoffs_conversation_id", "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_status", "handoffs", ["status"])
    op.create_table(
        "ai_opt_outs",
        sa.Column(
            "patient_id",
            sa.Integer(),
            sa.ForeignKey("patients.id", name="fk_ai_opt_outs_patient_id_patients"),
            nullable=False,
        ),
        sa.Column("disclosure_version", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", name="pk_ai_opt_outs"),
    )


def downgrade() -> None:
    op.drop_table("ai_opt_outs")
    op.drop_table("handoffs")
    op.drop_index("ix_refill_requests_status", table_name="refill_requests")
    with op.batch_alter_table("refill_requests") as batch:
        batch.drop_column("patient_notified_at")
        batch.drop_column("channel")
        batch.drop_column("kind")
    op.drop_table("identity_checks")
