"""Label and note per analysis; V2, Q_on, Q_off and C_m copied out of the results into columns.

The four numbers are filled for the rows already there from their results JSON,
so an upgraded History lists and sorts old analyses like new ones.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import json
import math

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# column -> name in the results JSON (frozen copy: later code changes must not change this revision)
SCALARS = {"v_test_mv": "v_test_mV", "q_on_pc": "q_on_pC", "q_off_pc": "q_off_pC", "c_m_nf": "c_m_nF"}


def _first_result(value):
    if isinstance(value, dict):
        for key in ("results", "sweeps"):
            if isinstance(value.get(key), list):
                return _first_result(value[key])
        return value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                return item
    return None


def _scalars(results_json: str) -> dict:
    try:
        first = _first_result(json.loads(results_json))
    except (TypeError, ValueError):
        first = None
    out = {}
    for column, name in SCALARS.items():
        value = first.get(name) if first else None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        out[column] = float(value) if ok else None
    return out


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("label", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))
        for column in SCALARS:
            batch.add_column(sa.Column(column, sa.Float, nullable=True))

    analyses = sa.table("analyses", sa.column("id", sa.Integer), sa.column("results_json", sa.Text),
                        *(sa.column(c, sa.Float) for c in SCALARS))
    conn = op.get_bind()
    rows = conn.execute(sa.select(analyses.c.id, analyses.c.results_json)).all()
    updates = [{"row_id": row_id, **_scalars(text)} for row_id, text in rows]
    if updates:
        stmt = (analyses.update().where(analyses.c.id == sa.bindparam("row_id"))
                .values({c: sa.bindparam(c) for c in SCALARS}))
        conn.execute(stmt, updates)


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        for column in ("label", "note", *SCALARS):
            batch.drop_column(column)
