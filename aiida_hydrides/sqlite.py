"""Patience for SQLite profiles: a writer waits for the write lock instead of failing after five seconds.

The default profile keeps its database in one SQLite file (``core.sqlite_dos``). SQLite lets one connection write at a
time; the others wait for the lock up to a *busy timeout*, which Python's ``sqlite3`` sets to 5 s. Several runners of
one profile (a command running a work chain in its process, the daemon's workers, a script under ``verdi run``) all
write to that file, and on a loaded machine a commit can wait longer than that: it then fails with ``database is
locked``, and the runner that hit it is left unable to go on. :func:`install` makes every connection of this interpreter
to a SQLite database wait up to :data:`BUSY_TIMEOUT_S` (``$HYDRIDES_SQLITE_BUSY_TIMEOUT_S`` overrides it): a pool event
sets ``PRAGMA busy_timeout`` whenever a connection is handed out, so connections opened before the call get it as well,
and the connection that the profile's session holds at the call gets it at once. Storage backends other than SQLite are
left alone.

Campaigns with many concurrent jobs belong on PostgreSQL with RabbitMQ and the daemon (docs/scale-out.md).
"""

from __future__ import annotations

import os
import sqlite3

__all__ = ('BUSY_TIMEOUT_S', 'busy_timeout_s', 'install')

#: seconds a connection to a SQLite database waits for the write lock before "database is locked"
BUSY_TIMEOUT_S = 120.0
#: environment variable that overrides :data:`BUSY_TIMEOUT_S`
ENVIRONMENT_VARIABLE = 'HYDRIDES_SQLITE_BUSY_TIMEOUT_S'


def busy_timeout_s() -> float:
    """The busy timeout in seconds: ``$HYDRIDES_SQLITE_BUSY_TIMEOUT_S`` when it is a positive number, else
    :data:`BUSY_TIMEOUT_S`."""
    try:
        value = float(os.environ.get(ENVIRONMENT_VARIABLE, ''))
    except ValueError:
        return BUSY_TIMEOUT_S
    return value if value > 0 else BUSY_TIMEOUT_S


def _set_busy_timeout(dbapi_connection):
    """A SQLite DB-API connection waits for the write lock up to :func:`busy_timeout_s`; others are left alone."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f'PRAGMA busy_timeout = {int(busy_timeout_s() * 1000)}')


def _on_checkout(dbapi_connection, connection_record, connection_proxy):
    """Pool event: every connection handed out gets the busy timeout."""
    _set_busy_timeout(dbapi_connection)


def _apply_to_open_session():
    """The connection that the loaded profile's session holds now (a transaction begun before :func:`install`)
    gets the busy timeout too; nothing when no storage is loaded or the session holds no connection."""
    from aiida.manage import get_manager

    manager = get_manager()
    if not manager.profile_storage_loaded:
        return
    try:
        session = manager.get_profile_storage().get_session()
    except Exception:  # noqa: BLE001 - a storage without an SQLAlchemy session: nothing to set
        return
    if not session.in_transaction():
        return  # its next connection is handed out by the pool, which sets it
    _set_busy_timeout(session.connection().connection.dbapi_connection)


def install():
    """Set the busy timeout on every SQLite connection of this interpreter: those handed out from now on and the
    one the loaded profile's session holds (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if not event.contains(Pool, 'checkout', _on_checkout):
        event.listen(Pool, 'checkout', _on_checkout)
    _apply_to_open_session()
