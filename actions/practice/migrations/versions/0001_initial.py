"""Initial practice schema: providers, schedule, appointments with occupied cells, holds,
patients, medications, pharmacies and refill requests.

Self-contained on purpose (no imports from models.py): a migration must keep meaning what it
meant when it was written. Datetimes are naive UTC `DateTime` columns on both databases.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _fk(column: str, target: str, table: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}"),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "locations",
        _id(),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("parking", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_locations"),
        sa.UniqueConstraint("name", name="uq_locations_name"),
    )
    op.create_table(
        "pharmacies",
        _id(),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("search_name", sa.String(120), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("zip", sa.String(10), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pharmacies"),
    )
    op.create_index("ix_pharmacies_zip", "pharmacies", ["zip"])
    op.create_table(
        "practice_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_practice_meta"),
    )
    op.create_table(
        "providers",
        _id(),
        sa.Column("display_name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_providers"),
    )
    op.create_table(
        "visit_types",
        _id(),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("prep_notes", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "duration_minutes > 0 AND duration_minutes % 15 = 0",
            name="ck_visit_types_whole_cells",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_visit_types"),
        sa.UniqueConstraint("code", name="uq_visit_types_code"),
    )
    op.create_table(
        "closures",
        _id(),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        _fk("location_id", "locations", "closures", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_closures"),
    )
    op.create_index("ix_closures_date", "closures", ["date"])
    op.create_table(
        "patients",
        _id(),
        sa.Column("first_name", sa.String(80), nullable=False),
        sa.Column("last_name", sa.String(80), nullable=False),
        sa.Column("name_key", sa.String(170), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        _fk("guardian_id", "patients", "patients", nullable=True),
        _fk("preferred_pharmacy_id", "pharmacies", "patients", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_patients"),
    )
    op.create_index("ix_patients_guardian_id", "patients", ["guardian_id"])
    op.create_index("ix_patients_name_key_dob", "patients", ["name_key", "date_of_birth"])
    op.create_index("ix_patients_phone", "patients", ["phone"])
    op.create_table(
        "provider_locations",
        _fk("provider_id", "providers", "provider_locations"),
        _fk("location_id", "locations", "provider_locations"),
        sa.PrimaryKeyConstraint("provider_id", "location_id", name="pk_provider_locations"),
    )
    op.create_table(
        "provider_visit_types",
        _fk("provider_id", "providers", "provider_visit_types"),
        _fk("visit_type_id", "visit_types", "provider_visit_types"),
        sa.PrimaryKeyConstraint("provider_id", "visit_type_id", name="pk_provider_visit_types"),
    )
    op.create_table(
        "schedule_blocks",
        _id(),
        _fk("provider_id", "providers", "schedule_blocks"),
        _fk("location_id", "locations", "schedule_blocks"),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_schedule_blocks_positive_length"),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_blocks"),
    )
    op.create_index(
        "ix_schedule_blocks_provider_start", "schedule_blocks", ["provider_id", "starts_at"]
    )
    op.create_index("ix_schedule_blocks_starts_at", "schedule_blocks", ["starts_at"])
    op.create_table(
        "appointments",
        _id(),
        sa.Column("reference", sa.String(16), nullable=False),
        _fk("patient_id", "patients", "appointments"),
        _fk("booked_by_patient_id", "patients", "appointments", nullable=True),
        _fk("provider_id", "providers", "appointments"),
        _fk("location_id", "locations", "appointments"),
        _fk("visit_type_id", "visit_types", "appointments"),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('booked', 'cancelled')", name="ck_appointments_known_status"
        ),
        sa.CheckConstraint("ends_at > starts_at", name="ck_appointments_positive_length"),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
        sa.UniqueConstraint("reference", name="uq_appointments_reference"),
    )
    op.create_index("ix_appointments_patient_id", "appointments", ["patient_id"])
    op.create_table(
        "holds",
        _id(),
        sa.Column("holder_key", sa.String(128), nullable=False),
        _fk("patient_id", "patients", "holds"),
        _fk("provider_id", "providers", "holds"),
        _fk("location_id", "locations", "holds"),
        _fk("visit_type_id", "visit_types", "holds"),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
    )
    op.create_index("ix_holds_expires_at", "holds", ["expires_at"])
    op.create_index("ix_holds_holder_key", "holds", ["holder_key"])
    op.create_table(
        "medications",
        _id(),
        _fk("patient_id", "patients", "medications"),
        sa.Column("generic_name", sa.String(120), nullable=False),
        sa.Column("brand_names", sa.JSON(), nullable=False),
        sa.Column("strength", sa.String(40), nullable=False),
        sa.Column("directions", sa.Text(), nullable=False),
        sa.Column("controlled_schedule", sa.String(3), nullable=True),
        sa.Column("refills_remaining", sa.Integer(), nullable=False),
        sa.Column("days_supply", sa.Integer(), nullable=False),
        sa.Column("last_filled", sa.Date(), nullable=False),
        _fk("prescriber_id", "providers", "medications"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "controlled_schedule IS NULL OR controlled_schedule IN ('II', 'III', 'IV', 'V')",
            name="ck_medications_dea_schedule",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_medications"),
    )
    op.create_index("ix_medications_patient_id", "medications", ["patient_id"])
    # One row per provider per 15-minute cell taken by an appointment or a live hold; the
    # unique constraint is what makes a double booking impossible.
    op.create_table(
        "occupied_cells",
        _id(),
        _fk("provider_id", "providers", "occupied_cells"),
        sa.Column("cell_start", sa.DateTime(), nullable=False),
        _fk("appointment_id", "appointments", "occupied_cells", nullable=True),
        _fk("hold_id", "holds", "occupied_cells", nullable=True),
        sa.Column("hold_expires_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "(appointment_id IS NULL) <> (hold_id IS NULL)",
            name="ck_occupied_cells_appointment_xor_hold",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_occupied_cells"),
        sa.UniqueConstraint("provider_id", "cell_start", name="uq_occupied_cells_provider_cell"),
    )
    op.create_index("ix_occupied_cells_appointment_id", "occupied_cells", ["appointment_id"])
    op.create_index("ix_occupied_cells_hold_id", "occupied_cells", ["hold_id"])
    op.create_index("ix_occupied_cells_hold_expires_at", "occupied_cells", ["hold_expires_at"])
    op.create_table(
        "refill_requests",
        _id(),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        _fk("patient_id", "patients", "refill_requests"),
        _fk("medication_id", "medications", "refill_requests"),
        _fk("pharmacy_id", "pharmacies", "refill_requests"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'needs_appointment')",
            name="ck_refill_requests_known_status",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refill_requests"),
        sa.UniqueConstraint("idempotency_key", name="uq_refill_requests_idempotency_key"),
        sa.UniqueConstraint("reference", name="uq_refill_requests_reference"),
    )
    op.create_index("ix_refill_requests_patient_id", "refill_requests", ["patient_id"])
    # One pending request per medication: a second ask is the same request.
    op.create_index(
        "uq_refill_requests_one_pending",
        "refill_requests",
        ["patient_id", "medication_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    for table in (
        "refill_requests",
        "occupied_cells",
        "medications",
        "holds",
        "appointments",
        "schedule_blocks",
        "provider_visit_types",
        "provider_locations",
        "patients",
        "closures",
        "visit_types",
        "providers",
        "practice_meta",
        "pharmacies",
        "locations",
    ):
        op.drop_table(table)  # drops the table's indexes with it
