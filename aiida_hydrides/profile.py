"""The AiiDA profile and the local computer that aiida-hydrides runs on.

:func:`ensure_profile` loads the profile in use (an already loaded one, ``$AIIDA_PROFILE``, or the default one) and,
only when none is configured, creates one like ``verdi presto --use-zeromq``: SQLite storage and the built-in ZeroMQ
broker, so that the daemon and ``submit`` work with no external service. ``AIIDA_PATH`` chooses the configuration
folder, as for ``verdi``.
"""

from __future__ import annotations

import os
import pathlib

__all__ = ('DEFAULT_PROFILE_NAME', 'ProfileSetupError', 'ensure_localhost', 'ensure_profile')

DEFAULT_PROFILE_NAME = 'hydrides'
LOCALHOST = 'localhost'


class ProfileSetupError(RuntimeError):
    """No usable AiiDA profile."""


def _create_profile(config, name: str, email: str):
    from aiida.manage.configuration import create_profile
    from aiida.plugins import BrokerFactory

    broker = 'core.zeromq'
    profile = create_profile(
        config,
        name=name,
        email=email,
        storage_backend='core.sqlite_dos',
        storage_config={},
        broker_backend=broker,
        broker_config=BrokerFactory(broker).get_default_config(),
    )
    config.set_option('runner.poll.interval', 1, scope=profile.name)
    config.set_default_profile(profile.name, overwrite=True)
    config.store()
    return profile


def ensure_profile(
    name: str = DEFAULT_PROFILE_NAME,
    create: bool = True,
    email: str | None = None,
    report: list | None = None,
):
    """Load the AiiDA profile to use and return it, creating ``name`` if no profile is configured.

    The profile is, in order: the one already loaded in this interpreter, ``$AIIDA_PROFILE``, the default profile.
    With ``create=False`` a missing profile raises :class:`ProfileSetupError` naming the fix.
    """
    from aiida import get_profile, load_profile
    from aiida.manage.configuration import get_config

    from aiida_hydrides import sqlite

    sqlite.install()  # runners of one SQLite profile wait for each other's commits instead of failing
    report = report if report is not None else []
    loaded = get_profile()
    if loaded is not None:
        report.append(f'profile {loaded.name}: in use')
        return loaded

    config = get_config(create=True)
    requested = os.environ.get('AIIDA_PROFILE')
    if requested:
        if requested not in config.profile_names:
            raise ProfileSetupError(
                f'AIIDA_PROFILE={requested!r} names no profile of {config.dirpath}; known: {config.profile_names}'
            )
        report.append(f'profile {requested}: exists (AIIDA_PROFILE)')
        return load_profile(requested, allow_switch=True)
    if config.profile_names:
        default = config.default_profile_name or config.profile_names[0]
        report.append(f'profile {default}: exists (default)')
        return load_profile(default, allow_switch=True)
    if not create:
        raise ProfileSetupError(
            f'no AiiDA profile is configured in {config.dirpath}; run `aiida-hydrides setup --create-profile` '
            '(SQLite + ZeroMQ, no services needed) or `verdi presto`'
        )
    from aiida.manage.configuration import get_config_option

    email = email or get_config_option('autofill.user.email') or 'aiida@localhost'
    profile = _create_profile(config, name, email)
    report.append(f'profile {profile.name}: created (SQLite storage, ZeroMQ broker) and set as default')
    return load_profile(profile.name, allow_switch=True)


def ensure_localhost(label: str = LOCALHOST, mpiprocs: int | None = None, report: list | None = None):
    """Return the computer ``label``, creating the local computer (``core.local`` + ``core.direct``) if missing."""
    from aiida import get_profile, orm
    from aiida.common.exceptions import NotExistent
    from aiida.manage.configuration import get_config

    report = report if report is not None else []
    try:
        computer = orm.load_computer(label)
        report.append(f'computer {label}: exists ({computer.transport_type}, {computer.scheduler_type})')
    except NotExistent:
        workdir = pathlib.Path(get_config().dirpath) / 'scratch' / get_profile().name
        computer = orm.Computer(
            label=label,
            hostname='localhost',
            description='The local machine (created by aiida-hydrides setup)',
            transport_type='core.local',
            scheduler_type='core.direct',
            workdir=str(workdir),
        ).store()
        computer.set_minimum_job_poll_interval(1)
        computer.set_default_mpiprocs_per_machine(mpiprocs or 1)
        report.append(f'computer {label}: created (core.local, core.direct, work dir {workdir})')
    if not computer.is_configured:
        computer.configure(safe_interval=0)
        report.append(f'computer {label}: configured for the current user')
    return computer
