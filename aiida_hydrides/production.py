"""A production AiiDA profile: PostgreSQL storage, the RabbitMQ broker and a daemon with several workers.

:func:`setup_production_profile` (``aiida-hydrides setup --production``) does, idempotently:

1. PostgreSQL and RabbitMQ: found running, else started (``service ... start`` or ``pg_ctlcluster``), else installed
   with ``apt-get`` and started (root or password-less ``sudo`` needed for that);
2. RabbitMQ's ``consumer_timeout`` disabled (RabbitMQ >= 3.8.15 closes the channel of a task held longer than 30
   minutes, i.e. of every long work chain): in ``/etc/rabbitmq/advanced.config`` and in the running server, when this
   function started RabbitMQ or with ``configure_rabbitmq``; a server found running is otherwise only checked;
3. the database user and the database (``CREATE USER``, ``CREATE DATABASE``), as the PostgreSQL superuser;
4. the AiiDA profile (``core.psql_dos`` storage, ``core.rabbitmq`` broker) with ``daemon.worker_process_slots``;
5. in that profile: the computer, the Quantum ESPRESSO codes, the ``hydrides-lam`` and ``dp`` codes and the
   pseudopotential family;
6. the daemon with ``workers`` workers (``verdi -p PROFILE daemon start N``).

Whatever cannot be done raises :class:`ProductionSetupError` with what to do instead; the command line prints it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import time

__all__ = (
    'ADVANCED_CONFIG',
    'CONSUMER_TIMEOUT_CONFIG',
    'DEFAULT_PRODUCTION_PROFILE',
    'ProductionSetupError',
    'disable_consumer_timeout',
    'ensure_daemon',
    'ensure_database',
    'ensure_postgresql',
    'ensure_rabbitmq',
    'consumer_timeout_ms',
    'drop_database',
    'setup_production_profile',
    'write_advanced_config',
)

DEFAULT_PRODUCTION_PROFILE = 'hydrides-prod'
#: RabbitMQ's Erlang-terms configuration file, read at server start
ADVANCED_CONFIG = pathlib.Path('/etc/rabbitmq/advanced.config')
#: its content when aiida-hydrides writes it: no consumer timeout (AiiDA holds a task as long as its process runs)
CONSUMER_TIMEOUT_CONFIG = '[\n  {rabbit, [\n    {consumer_timeout, undefined}\n  ]}\n].\n'
#: how long a started service may take to accept connections (seconds)
START_TIMEOUT = 90
_IDENTIFIER = re.compile(r'^[a-z_][a-z0-9_]{0,62}$')
_LOCAL_HOSTS = frozenset({'localhost', '127.0.0.1', '::1', ''})


class ProductionSetupError(RuntimeError):
    """A step of the production set-up that cannot be done here; the message says what to do instead."""


# ---------------------------------------------------------------------------------------------------- system services
def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host or 'localhost', int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_port(host: str, port: int, timeout: float = START_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return True
        time.sleep(1.0)
    return _port_open(host, port)


def _privileged() -> list[str] | None:
    """The prefix that runs a command as root: ``[]`` for root, ``['sudo', '-n']`` with sudo, ``None`` without."""
    if os.geteuid() == 0:
        return []
    if shutil.which('sudo'):
        return ['sudo', '-n']
    return None


def _run(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 1, '', str(exc))


def _tail(result: subprocess.CompletedProcess, lines: int = 5) -> str:
    text = (result.stderr or result.stdout or '').strip().splitlines()
    return ' | '.join(text[-lines:]) or f'exit status {result.returncode}'


def _apt_install(packages: list[str], report: list) -> None:
    what = ' '.join(packages)
    if shutil.which('apt-get') is None:
        raise ProductionSetupError(f'{what} is not installed and this machine has no apt-get; install {what} yourself')
    prefix = _privileged()
    if prefix is None:
        raise ProductionSetupError(f'{what} is not installed; installing it needs root: run `apt-get install {what}`')
    report.append(f'installing {what} with apt-get (a minute or two)')
    for command in (['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', *packages]):
        result = _run(prefix + command, timeout=1800)
        if result.returncode != 0:
            hint = '; run it as root (sudo asks for a password)' if prefix and 'password' in _tail(result) else ''
            raise ProductionSetupError(f'`{" ".join(prefix + command)}` failed: {_tail(result)}{hint}')


def _start_service(service: str, fallbacks: list[list[str]], report: list) -> None:
    prefix = _privileged()
    if prefix is None:
        raise ProductionSetupError(
            f'{service} is installed but not running; start it as root: `service {service} start`'
        )
    commands = ([['service', service, 'start']] if shutil.which('service') else []) + fallbacks
    errors = []
    for command in commands:
        result = _run(prefix + command, timeout=180)
        if result.returncode == 0:
            report.append(f'{service}: started (`{" ".join(command)}`)')
            return
        errors.append(f'`{" ".join(command)}`: {_tail(result)}')
    raise ProductionSetupError(f'{service} could not be started: ' + '; '.join(errors or ['no way to start it found']))


def _postgresql_installed() -> bool:
    return bool(
        shutil.which('pg_ctlcluster')
        or shutil.which('postgres')
        or list(pathlib.Path('/usr/lib/postgresql').glob('*/bin/postgres'))
    )


def ensure_postgresql(host: str = 'localhost', port: int = 5432, install: bool = True, report: list | None = None):
    """PostgreSQL accepting connections at ``host:port``: found running, else started, else installed and started."""
    report = report if report is not None else []
    if _port_open(host, port):
        report.append(f'postgresql: running ({host}:{port})')
        return
    if host not in _LOCAL_HOSTS:
        raise ProductionSetupError(f'PostgreSQL at {host}:{port} does not answer; start it on that machine')
    if not _postgresql_installed():
        if not install:
            raise ProductionSetupError('PostgreSQL is not installed; install it (`apt-get install postgresql`)')
        _apt_install(['postgresql'], report)
    fallbacks = []
    if shutil.which('pg_lsclusters') and shutil.which('pg_ctlcluster'):
        for line in _run(['pg_lsclusters', '--no-header']).stdout.splitlines():
            fields = line.split()
            if len(fields) >= 2:
                fallbacks.append(['pg_ctlcluster', fields[0], fields[1], 'start'])
    _start_service('postgresql', fallbacks, report)
    if not _wait_for_port(host, port):
        raise ProductionSetupError(f'PostgreSQL was started but does not accept connections on {host}:{port}')


def write_advanced_config(path: str | pathlib.Path = ADVANCED_CONFIG) -> str:
    """Disable RabbitMQ's ``consumer_timeout`` in its ``advanced.config`` at ``path``; return what was done:
    ``'written'`` (no file before), ``'present'`` (the file already sets ``consumer_timeout``) or ``'foreign'`` (a file
    of someone else's without it: left as it is, since merging Erlang terms by hand is the administrator's call)."""
    path = pathlib.Path(path)
    if path.exists():
        text = path.read_text(encoding='utf-8', errors='replace')
        return 'present' if 'consumer_timeout' in text else 'foreign'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONSUMER_TIMEOUT_CONFIG, encoding='utf-8')
    return 'written'


def disable_consumer_timeout(report: list | None = None, path: str | pathlib.Path = ADVANCED_CONFIG) -> None:
    """No ``consumer_timeout`` in RabbitMQ: in ``advanced.config`` (from its next start on) and in the running server
    (``rabbitmqctl eval``). Without the rights to do so, one line says what to do."""
    report = report if report is not None else []
    advice = f'set `{{consumer_timeout, undefined}}` for `rabbit` in {path} (docs/scale-out.md)'
    try:
        state = write_advanced_config(path)
    except OSError as exc:
        report.append(f'rabbitmq: cannot write {path} ({exc.strerror}); as root, {advice}')
    else:
        report.append(
            {
                'written': f'rabbitmq: consumer_timeout disabled in {path} (read at the next start)',
                'present': f'rabbitmq: {path} sets consumer_timeout already',
                'foreign': f'rabbitmq: {path} exists without consumer_timeout; left as it is: {advice}',
            }[state]
        )
    prefix = _privileged()
    if prefix is None or shutil.which('rabbitmqctl') is None:
        return
    result = _run(prefix + ['rabbitmqctl', 'eval', 'application:set_env(rabbit, consumer_timeout, undefined).'], 60)
    if result.returncode == 0:
        report.append('rabbitmq: consumer_timeout disabled in the running server')
    else:
        report.append(f'rabbitmq: could not disable consumer_timeout in the running server ({_tail(result, 1)})')


def consumer_timeout_ms() -> int | None | bool:
    """The ``consumer_timeout`` of the running local RabbitMQ in ms (``None``: disabled; ``False``: unknown, e.g.
    ``rabbitmqctl`` missing or not allowed)."""
    prefix = _privileged()
    if prefix is None or shutil.which('rabbitmqctl') is None:
        return False
    result = _run(prefix + ['rabbitmqctl', 'eval', 'application:get_env(rabbit, consumer_timeout).'], 60)
    if result.returncode != 0:
        return False
    match = re.search(r'\{ok,\s*(\d+)\}', result.stdout)
    if match:
        return int(match.group(1))
    return None if ('undefined' in result.stdout or result.stdout.strip() == 'undefined') else False


def ensure_rabbitmq(
    host: str = '127.0.0.1',
    port: int = 5672,
    install: bool = True,
    configure: bool = False,
    report: list | None = None,
    advanced_config: str | pathlib.Path = ADVANCED_CONFIG,
):
    """RabbitMQ accepting connections at ``host:port``: found running, else started, else installed and started.

    A server this function starts (it manages it) gets ``consumer_timeout`` disabled (:func:`disable_consumer_timeout`);
    one found running is only checked, and changed too with ``configure``.
    """
    report = report if report is not None else []
    local = host in _LOCAL_HOSTS
    if _port_open(host, port):
        report.append(f'rabbitmq: running ({host}:{port})')
        managed = False
    else:
        if not local:
            raise ProductionSetupError(f'RabbitMQ at {host}:{port} does not answer; start it on that machine')
        if not (shutil.which('rabbitmq-server') or os.path.exists('/usr/sbin/rabbitmq-server')):
            if not install:
                raise ProductionSetupError('RabbitMQ is not installed; install it (`apt-get install rabbitmq-server`)')
            _apt_install(['rabbitmq-server'], report)
        with contextlib.suppress(OSError):  # before the start, so that the server reads it
            write_advanced_config(advanced_config)
        _start_service('rabbitmq-server', [], report)
        if not _wait_for_port(host, port):
            raise ProductionSetupError(f'RabbitMQ was started but does not accept connections on {host}:{port}')
        managed = True
    if not local:
        return
    if managed or configure:
        disable_consumer_timeout(report, advanced_config)
        return
    timeout = consumer_timeout_ms()
    if timeout is None:
        report.append('rabbitmq: consumer_timeout disabled')
    elif timeout is not False:
        report.append(
            f'rabbitmq: consumer_timeout is {timeout} ms: a work chain running longer loses its task; disable it '
            '(run this again with --configure-rabbitmq, or see docs/scale-out.md)'
        )


# ---------------------------------------------------------------------------------------------------------- database
@contextlib.contextmanager
def _quiet_pgsu():
    """pgsu logs 'Unable to autodetect postgres setup' to the root logger; the error raised here says it better."""
    logger = logging.getLogger('pgsu')
    propagate = logger.propagate
    logger.propagate = False
    try:
        yield
    finally:
        logger.propagate = propagate


def _superuser(host: str, port: int):
    from aiida.manage.external.postgres import Postgres

    with _quiet_pgsu():
        postgres = Postgres(dbinfo={'host': host, 'port': int(port)}, interactive=False, quiet=True, try_sudo=True)
    if not postgres.is_connected:
        raise ProductionSetupError(
            f'cannot connect to PostgreSQL at {host}:{port} as its superuser (user postgres over the socket or TCP, '
            'or `sudo -u postgres psql`); create the database user and the database yourself (docs/scale-out.md) '
            'and name them with --database-user and --database-name'
        )
    return postgres


def _check_identifier(kind: str, value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ProductionSetupError(
            f'{kind} {value!r}: use lower-case letters, digits and underscores, starting with a letter (63 at most)'
        )
    return value


def ensure_database(
    name: str,
    user: str,
    password: str,
    host: str = 'localhost',
    port: int = 5432,
    new_profile: bool = True,
    report: list | None = None,
) -> None:
    """The PostgreSQL user ``user`` (password ``password``) and the database ``name`` it owns.

    For a new profile (``new_profile``) an existing user gets ``password`` and an existing database is refused (it
    may hold another profile's data); for an existing profile both must exist already (its data is there).
    """
    report = report if report is not None else []
    _check_identifier('database name', name)
    _check_identifier('database user', user)
    try:
        postgres = _superuser(host, port)
        user_exists = postgres.dbuser_exists(user)
        database_exists = postgres.db_exists(name)
        if not new_profile:
            if not database_exists:
                raise ProductionSetupError(
                    f'the database {name!r} of the profile does not exist any more; delete the profile '
                    '(`verdi profile delete`) and run the set-up again'
                )
            report.append(f'database {name}: exists (owner {user})')
            return
        if database_exists:
            raise ProductionSetupError(
                f'the database {name!r} exists already and no profile of this configuration uses it; pass another '
                f'--database-name, or drop it (`DROP DATABASE "{name}"`) if its data is not needed'
            )
        if user_exists:
            postgres.execute(f'ALTER USER "{user}" WITH PASSWORD \'{password}\'')
            report.append(f'database user {user}: exists (password set for the new profile)')
        else:
            postgres.create_dbuser(user, password)
            report.append(f'database user {user}: created')
        postgres.execute(f'CREATE DATABASE "{name}" OWNER "{user}" ENCODING \'UTF8\' TEMPLATE template0')
        report.append(f'database {name}: created (owner {user})')
    except ProductionSetupError:
        raise
    except Exception as exc:  # psycopg and psql errors, of which there are many kinds
        raise ProductionSetupError(f'PostgreSQL refused the set-up of database {name!r}: {exc}') from exc


def drop_database(name: str, user: str | None = None, host: str = 'localhost', port: int = 5432) -> None:
    """Drop the database ``name`` (and the user ``user``) if they exist: the inverse of :func:`ensure_database`."""
    postgres = _superuser(host, port)
    if postgres.db_exists(_check_identifier('database name', name)):
        postgres.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    if user and postgres.dbuser_exists(_check_identifier('database user', user)):
        postgres.drop_dbuser(user)


# ----------------------------------------------------------------------------------------------------------- profile
def _default_database_name(profile_name: str) -> str:
    return 'aiida_' + re.sub(r'[^a-z0-9_]', '_', profile_name.lower())[:56]


def _ensure_profile(
    config,
    name: str,
    *,
    database: dict,
    broker: dict,
    email: str,
    repository: str | None,
    report: list,
):
    from aiida.manage.configuration import create_profile

    if name in config.profile_names:
        profile = config.get_profile(name)
        if profile.storage_backend != 'core.psql_dos' or profile.process_control_backend != 'core.rabbitmq':
            raise ProductionSetupError(
                f'the profile {name!r} exists with {profile.storage_backend} storage and the '
                f'{profile.process_control_backend} broker; name another one with --profile-name'
            )
        storage = profile.storage_config
        ensure_database(
            storage['database_name'],
            storage['database_username'],
            storage['database_password'],
            storage['database_hostname'],
            storage['database_port'],
            new_profile=False,
            report=report,
        )
        report.append(f'profile {name}: exists (PostgreSQL database {storage["database_name"]}, RabbitMQ)')
        return profile

    password = secrets.token_hex(16)
    ensure_database(
        database['name'],
        database['user'],
        password,
        database['host'],
        database['port'],
        new_profile=True,
        report=report,
    )
    repository = pathlib.Path(repository or pathlib.Path(config.dirpath) / 'repository' / name).resolve()
    try:
        profile = create_profile(
            config,
            name=name,
            email=email,
            storage_backend='core.psql_dos',
            storage_config={
                'database_engine': 'postgresql_psycopg',
                'database_hostname': database['host'],
                'database_port': int(database['port']),
                'database_name': database['name'],
                'database_username': database['user'],
                'database_password': password,
                'repository_uri': repository.as_uri(),
            },
            broker_backend='core.rabbitmq',
            broker_config={
                'broker_protocol': 'amqp',
                'broker_username': broker['username'],
                'broker_password': broker['password'],
                'broker_host': broker['host'],
                'broker_port': int(broker['port']),
                'broker_virtual_host': broker['virtual_host'],
            },
        )
    except Exception as exc:
        with contextlib.suppress(Exception):
            drop_database(database['name'], None, database['host'], database['port'])
        raise ProductionSetupError(f'the profile {name!r} could not be created: {exc}') from exc
    report.append(f'profile {name}: created (core.psql_dos database {database["name"]}, core.rabbitmq, {repository})')
    return profile


@contextlib.contextmanager
def _loaded(name: str):
    """Load the profile ``name`` for the block; the profile loaded before (or none) is loaded again after it."""
    from aiida.manage import get_manager

    manager = get_manager()
    previous = manager.get_profile()
    manager.load_profile(name, allow_switch=True)
    try:
        yield manager.get_profile()
    finally:
        if previous is None:
            manager.unload_profile()
        else:
            manager.load_profile(previous.name, allow_switch=True)


def _running_workers(client) -> int | None:
    """The number of workers of a running daemon; ``None`` when none runs (a PID file left by a daemon killed
    outright, e.g. by SIGKILL or a crash of the machine, counts as none)."""
    from aiida.engine.daemon.client import DaemonNotRunningException, DaemonStalePidException

    if not client.is_daemon_running:
        return None
    try:
        return client.get_number_of_workers()
    except (DaemonStalePidException, DaemonNotRunningException):
        return None


def ensure_daemon(name: str, workers: int, report: list | None = None, timeout: float = 60):
    """The daemon of profile ``name`` running with at least ``workers`` workers; return its client."""
    import sys

    from aiida.engine.daemon import client as daemon_client
    from aiida.engine.daemon.client import get_daemon_client

    report = report if report is not None else []
    if daemon_client.VERDI_BIN is None:  # the environment is not activated: the verdi beside this interpreter
        beside = pathlib.Path(sys.executable).parent / 'verdi'
        if not os.access(beside, os.X_OK):
            raise ProductionSetupError('`verdi` (aiida-core) is not on the PATH; activate the virtual environment')
        daemon_client.VERDI_BIN = str(beside)
    client = get_daemon_client(name)
    try:
        running = _running_workers(client)
        if running is not None:
            if running < workers:
                client.increase_workers(workers - running, wait=True)
                report.append(f'daemon of {name}: running, {running} -> {workers} workers')
            else:
                report.append(f'daemon of {name}: running ({running} workers)')
            return client
        client.start_daemon(number_workers=workers)  # removes the PID file a killed daemon left
    except Exception as exc:  # DaemonException, ConfigurationError, OSError, circus' errors
        raise ProductionSetupError(f'the daemon of {name!r} could not be started: {exc}') from exc
    deadline = time.monotonic() + timeout
    while not client.is_daemon_running and time.monotonic() < deadline:
        time.sleep(0.5)
    if not client.is_daemon_running:
        raise ProductionSetupError(f'the daemon of {name!r} did not start; see {client.daemon_log_file}')
    report.append(f'daemon of {name}: started with {workers} workers (`verdi -p {name} daemon status`)')
    return client


def setup_production_profile(
    name: str = DEFAULT_PRODUCTION_PROFILE,
    *,
    workers: int = 4,
    process_slots: int = 500,
    database_name: str | None = None,
    database_user: str | None = None,
    database_host: str = 'localhost',
    database_port: int = 5432,
    broker_host: str = '127.0.0.1',
    broker_port: int = 5672,
    broker_username: str = 'guest',
    broker_password: str = 'guest',
    broker_virtual_host: str = '',
    repository: str | None = None,
    email: str | None = None,
    install: bool = True,
    configure_rabbitmq: bool = False,
    set_default: bool = True,
    computer: str = 'localhost',
    mpiprocs: int | None = 2,
    pools: int | None = None,
    executables_dir: str | None = None,
    family: str | None = None,
    elements=None,
    kind: str = 'us',
    report=None,
):
    """Set up (or find) the production profile ``name`` and start its daemon; return the profile.

    ``report`` is a list to append one line per step to, or a callable called with each line as it happens.
    ``workers=0`` starts no daemon. The profile loaded before the call is loaded again after it.
    """
    from aiida.manage.configuration import get_config, get_config_option

    lines = []
    echo = report if callable(report) else None

    def flush():
        if echo is not None:
            for line in lines:
                echo(line)
            lines.clear()
        elif report is not None:
            report.extend(lines)
            lines.clear()

    try:
        ensure_postgresql(database_host, database_port, install=install, report=lines)
        flush()
        ensure_rabbitmq(broker_host, broker_port, install=install, configure=configure_rabbitmq, report=lines)
        flush()
        config = get_config(create=True)
        email = email or get_config_option('autofill.user.email') or 'aiida@localhost'
        database_name = database_name or _default_database_name(name)
        profile = _ensure_profile(
            config,
            name,
            database={
                'name': database_name,
                'user': database_user or database_name,
                'host': database_host,
                'port': database_port,
            },
            broker={
                'host': broker_host,
                'port': broker_port,
                'username': broker_username,
                'password': broker_password,
                'virtual_host': broker_virtual_host,
            },
            email=email,
            repository=repository,
            report=lines,
        )
        config.set_option('daemon.worker_process_slots', int(process_slots), scope=profile.name)
        lines.append(f'profile {name}: daemon.worker_process_slots = {process_slots}')
        if set_default and config.default_profile_name != name:
            config.set_default_profile(name, overwrite=True)
            lines.append(f'profile {name}: set as the default profile')
        config.store()
        flush()
        with _loaded(name):
            _ensure_codes_and_family(computer, mpiprocs, pools, executables_dir, family, elements, kind, lines, flush)
            if workers > 0:
                ensure_daemon(name, workers, report=lines)
            else:
                lines.append(f'daemon of {name}: not started (start it with `verdi -p {name} daemon start 4`)')
            flush()
    finally:
        flush()
    return profile


def _ensure_codes_and_family(computer, mpiprocs, pools, executables_dir, family, elements, kind, lines, flush):
    from aiida_hydrides.codes import CodeSetupError, ensure_codes, ensure_dp_code, ensure_lam_code
    from aiida_hydrides.core.elements import DEFAULT_ELEMENTS
    from aiida_hydrides.profile import ensure_localhost
    from aiida_hydrides.pseudos import PseudoFamilyError, default_family_label, ensure_pseudo_family

    try:
        target = ensure_localhost(computer, mpiprocs, report=lines) if computer == 'localhost' else computer
        ensure_codes(target, mpiprocs=mpiprocs, executables_dir=executables_dir, pools=pools or mpiprocs, report=lines)
    except CodeSetupError as exc:
        raise ProductionSetupError(str(exc)) from exc
    for short, ensure in (('hydrides-lam', ensure_lam_code), ('dp', ensure_dp_code)):
        try:
            ensure(target, report=lines)
        except CodeSetupError as exc:  # a remote computer needs the path (docs/scale-out.md), dp may be missing
            lines.append(f'code {short}: not created ({exc})')
    flush()
    label = family or default_family_label(kind)
    element_list = list(elements or DEFAULT_ELEMENTS)
    try:
        pseudo_family = ensure_pseudo_family(label, elements=element_list, kind=kind)
    except (PseudoFamilyError, FileNotFoundError) as exc:
        raise ProductionSetupError(str(exc)) from exc
    lines.append(f'family {pseudo_family.label}: {len(pseudo_family.elements)} elements')
    flush()
