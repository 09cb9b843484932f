"""Analysis history in a real database: SQLite by default, PostgreSQL from ``DATABASE_URL``.

Usage (the app keeps one :class:`Store` per process, e.g. in ``st.cache_resource``)::

    from signal_core.store import Store, StoreError, database_url

    store = Store.open(database_url(secrets=st.secrets))   # migrates to the newest schema
    key = Store.new_workspace_key()                          # kept in the URL: ?ws=<key>
    aid = store.save_analysis(key, recording_name=name, recording_bytes=data,
                              recipe_json=params.to_json(),
                              results_json=json.dumps([r.to_dict() for r in results]),
                              app_version=signal_core.__version__, label="cell 3")
    rows = store.list_analyses(key, search="cell", order_by="q_on_pC")
    saved = store.get_analysis(key, aid)                      # None if not this workspace's
    data = store.get_recording_bytes(key, saved.sha256)

Modules: :mod:`.config` (URL, password gate), :mod:`.schema` (tables),
:mod:`.engine` (engine per dialect, migrations at start-up, :class:`StoreError`),
:mod:`.history` (:class:`Store`); the migrations are in :mod:`signal_core.migrations`.
"""

from .config import check_password, database_url, password_required
from .engine import StoreError, current_revision, make_engine, upgrade
from .history import ORDER_BY, AnalysisSummary, Store, StoredAnalysis
from .schema import SCALAR_NAMES, scalars_from_results

__all__ = [
    "ORDER_BY",
    "SCALAR_NAMES",
    "AnalysisSummary",
    "Store",
    "StoreError",
    "StoredAnalysis",
    "check_password",
    "current_revision",
    "database_url",
    "make_engine",
    "password_required",
    "scalars_from_results",
    "upgrade",
]
