"""Recompute the stored search keys with the Unicode-aware fold.

The first fold kept only a-z and 0-9, so a name in another script ("Анна Петрова") had an
empty key and could never be verified on the web, and Latin letters without a decomposition
("Søren", "Łukasz") lost a letter. `fold_text` now keeps letters of every script and spells
those Latin letters the way an English keyboard types them; this migration recomputes
patients.name_key and pharmacies.search_name with it. Rows whose key does not change are
not written.

It calls the application's fold on purpose: the keys must equal what verification computes
from what a patient types, so they are recomputed with the code that does that.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from actions.practice.matching import fold_text, name_key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_patients = sa.table(
    "patients",
    sa.column("id", sa.Integer),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("name_key", sa.String),
)
_pharmacies = sa.table(
    "pharmacies",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("search_name", sa.String),
)


def upgrade() -> None:
    connection = op.get_bind()
    for row in connection.execute(
        sa.select(_patients.c.id, _patients.c.first_name, _patients.c.last_name, _patients.c.name_key)
    ).all():
        key = name_key(row.first_name, row.last_name)
        if key != row.name_key:
            connection.execute(_patients.update().where(_patients.c.id == row.id).values(name_key=key))
    for row in connection.execute(
        sa.select(_pharmacies.c.id, _pharmacies.c.name, _pharmacies.c.search_name)
    ).all():
        search_name = fold_text(row.name)
        if search_name != row.search_name:
            connection.execute(
                _pharmacies.update().where(_pharmacies.c.id == row.id).values(search_name=search_name)
            )


def downgrade() -> None:
    # The old keys cannot be told apart from the new ones without the old fold; the new keys
    # are a superset in what they match for Latin names, so they are left as they are.
    pass
