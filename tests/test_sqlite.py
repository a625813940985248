"""A writer of a SQLite profile waits for another's commit instead of failing with "database is locked"."""

import pathlib
import subprocess
import sys
import time

import pytest
from aiida import orm

from aiida_hydrides import sqlite

#: longer than the 5 s that Python's sqlite3 waits by default
HOLD_S = 6.5


def _database(profile) -> pathlib.Path:
    if profile.storage_backend != 'core.sqlite_dos':
        pytest.skip(f'the test profile stores in {profile.storage_backend}, not SQLite')
    return pathlib.Path(profile.storage_config['filepath']) / 'database.sqlite'


def test_busy_timeout_setting(monkeypatch):
    monkeypatch.delenv(sqlite.ENVIRONMENT_VARIABLE, raising=False)
    assert sqlite.busy_timeout_s() == sqlite.BUSY_TIMEOUT_S
    monkeypatch.setenv(sqlite.ENVIRONMENT_VARIABLE, '30')
    assert sqlite.busy_timeout_s() == 30.0
    for value in ('soon', '0', '-1'):
        monkeypatch.setenv(sqlite.ENVIRONMENT_VARIABLE, value)
        assert sqlite.busy_timeout_s() == sqlite.BUSY_TIMEOUT_S


def test_connections_get_the_busy_timeout(aiida_profile):
    from aiida.manage import get_manager

    _database(aiida_profile)
    sqlite.install()
    sqlite.install()  # idempotent
    session = get_manager().get_profile_storage().get_session()
    with session.begin_nested():
        value = session.connection().exec_driver_sql('PRAGMA busy_timeout').scalar()
    assert value == int(sqlite.busy_timeout_s() * 1000)


def test_store_waits_for_another_writer(aiida_profile):
    """Another process holds the write lock for longer than sqlite3's default wait: the node is stored once it is
    released, nothing fails."""
    database = _database(aiida_profile)
    sqlite.install()
    orm.Int(0).store()
    holder = subprocess.Popen(
        [
            sys.executable,
            '-c',
            'import sqlite3, sys, time\n'
            f'connection = sqlite3.connect({str(database)!r}, isolation_level=None)\n'
            'connection.execute("BEGIN IMMEDIATE")\n'
            'print("locked", flush=True)\n'
            f'time.sleep({HOLD_S})\n'
            'connection.execute("COMMIT")\n',
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == 'locked'
        start = time.monotonic()
        node = orm.Int(42).store()
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=60)
    assert node.is_stored
    assert orm.load_node(node.pk).value == 42
    assert waited > 5.0  # it did wait past sqlite3's default
