"""The history's tables (SQLAlchemy Core) at the newest migration, and the scalars kept in columns.

The tables are created and changed only by the Alembic migrations in
:mod:`signal_core.migrations`; these definitions are what the code queries and
must match the head revision (a test compares them).

- ``workspaces``: one row per workspace key (a browser's unguessable key).
- ``recordings``: the uploaded files, once per SHA-256 of their bytes,
  zlib-compressed, with the name of the first upload.
- ``analyses``: one saved analysis: which workspace, which recording, the recipe
  and the results as JSON, the app version, a label and a note, and four numbers
  copied out of the results so the History table lists and sorts cheaply.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)

from signal_core.quantities import QUANTITIES
from signal_core.values import finite_or_none

__all__ = ["KEY_LENGTH_MAX", "LABEL_LENGTH_MAX", "SCALAR_NAMES", "analyses", "metadata", "recordings",
           "scalars_from_results", "workspaces"]

KEY_LENGTH_MAX = 128
LABEL_LENGTH_MAX = 200

#: Result numbers copied into columns of ``analyses`` (the quantities marked ``stored``; each is a column
#: key below, made by a migration).
SCALAR_NAMES: tuple[str, ...] = tuple(q.key for q in QUANTITIES if q.stored)

metadata = MetaData()

workspaces = Table(
    "workspaces", metadata,
    Column("key", String(KEY_LENGTH_MAX), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
)

recordings = Table(
    "recordings", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
)

analyses = Table(
    "analyses", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace_key", String(KEY_LENGTH_MAX), ForeignKey("workspaces.key"), nullable=False, index=True),
    Column("recording_sha256", String(64), ForeignKey("recordings.sha256"), nullable=False, index=True),
    Column("file_name", String(255), nullable=False),
    Column("recipe_json", Text, nullable=False),
    Column("results_json", Text, nullable=False),
    Column("app_version", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.current_timestamp()),
    # revision 0002:
    Column("label", String(LABEL_LENGTH_MAX), nullable=False, server_default=""),
    Column("note", Text, nullable=False, server_default=""),
    # lower-case column names (no quoting in psql); the keys carry the units' case
    Column("v_test_mv", Float, key="v_test_mV"),
    Column("q_on_pc", Float, key="q_on_pC"),
    Column("q_off_pc", Float, key="q_off_pC"),
    Column("c_m_nf", Float, key="c_m_nF"),
)


def _first_result(value: Any) -> dict | None:
    """The result whose numbers represent an analysis (the first sweep's)."""
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


def scalars_from_results(results_json: str) -> dict[str, float | None]:
    """The numbers of :data:`SCALAR_NAMES` from a results JSON, None where missing or not finite.

    The results may be one :meth:`ChargeResult.to_dict` object, a list of them
    (one per sweep), or an object with such a list under ``"results"`` or
    ``"sweeps"``; the first result gives the numbers.  Invalid JSON gives all None.
    """
    try:
        first = _first_result(json.loads(results_json))
    except (TypeError, ValueError):
        first = None
    out: dict[str, float | None] = {}
    for name in SCALAR_NAMES:
        out[name] = finite_or_none(first.get(name) if first else None)
    return out
