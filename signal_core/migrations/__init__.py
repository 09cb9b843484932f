"""Alembic migrations of the history database (see :mod:`signal_core.store`).

Run programmatically: :func:`signal_core.store.upgrade` (and ``Store.open``, which
upgrades to the newest revision at start-up).  From a shell, with the URL in
``DATABASE_URL``::

    alembic -c signal_core/migrations/alembic.ini upgrade head

New revision: ``alembic -c signal_core/migrations/alembic.ini revision --rev-id 0003 -m "what"``,
then write ``upgrade()`` by hand (and update :mod:`signal_core.store.schema`).
Revisions are frozen once released: never edit one, add the next.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
