"""``aiida-hydrides setup --production``: a profile on this machine's PostgreSQL + RabbitMQ with its daemon, and a
discovery that survives its daemon workers killed outright (SIGKILL) and the daemon started again.

The profile is made once for the module by the command itself, in the temporary configuration of the tests, on a
database of a unique name; profile, database, database user and repository are deleted at the end. Without PostgreSQL
or RabbitMQ the tests are skipped, unless the variable ``CI`` is set: then they fail.
"""

import contextlib
import os
import pathlib
import secrets
import shutil
import signal
import sys
import time

import psutil
import pytest
from click.testing import CliRunner

from aiida_hydrides import production

PG = ('localhost', 5432)
MQ = ('127.0.0.1', 5672)
#: how long the daemon may take to finish the tiny discovery after its restart (seconds)
TIMEOUT = 1200
#: how long the discovery may take to reach a LAM job of its search or cascade (seconds)
KILL_WINDOW = 600
#: the LAM jobs of the search and cascade stages, during which the workers are killed
STAGE_JOBS = ('aiida.calculations:hydrides.search', 'aiida.calculations:hydrides.lam.phonons')
#: the calculations that must not run twice for one structure and stage
CHECKED_JOBS = (
    'aiida.calculations:hydrides.search',
    'aiida.calculations:hydrides.lam.relax',
    'aiida.calculations:hydrides.lam.phonons',
    'aiida.calculations:quantumespresso.pw',
    'aiida.calculations:quantumespresso.ph',
    'aiida.calculations:quantumespresso.q2r',
    'aiida.calculations:quantumespresso.matdyn',
)


def _services_or_skip():
    missing = [
        f'{what} at {host}:{port}'
        for what, (host, port) in (('PostgreSQL', PG), ('RabbitMQ', MQ))
        if not production._port_open(host, port)
    ]
    if not missing:
        return
    message = f'{" and ".join(missing)} cannot be reached (run `aiida-hydrides setup --production` to start them)'
    if os.environ.get('CI'):
        pytest.fail(message)
    pytest.skip(message)


def _invoke(*args):
    from aiida_hydrides.cli import cli

    return CliRunner().invoke(cli, [str(arg) for arg in args])


def _verdi():
    """The daemon starts `verdi` by the path found when aiida was imported: make it the one of this environment."""
    bin_dir = pathlib.Path(sys.executable).parent
    verdi = bin_dir / 'verdi' if (bin_dir / 'verdi').exists() else shutil.which('verdi')
    if verdi is None:
        pytest.fail('the `verdi` executable of aiida-core is not installed')
    return bin_dir, str(verdi)


@pytest.fixture(scope='module')
def production_profile(aiida_config):
    """``{'name', 'database', 'result'}``: the production profile made by ``aiida-hydrides setup --production`` (no
    daemon yet), with the output of the command."""
    _services_or_skip()
    token = secrets.token_hex(4)
    name, database = f'test-prod-{token}', f'test_hydrides_{token}'
    default = aiida_config.default_profile_name
    args = ['setup', '--production', '--profile-name', name, '--database-name', database, '--workers', 0]
    args += ['--elements', 'H,Ca,Y', '--no-install']
    try:
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
        aiida_config.set_option('runner.poll.interval', 5, scope=name)  # a child missed while no daemon ran
        aiida_config.store()
        yield {'name': name, 'database': database, 'args': args, 'result': result}
    finally:
        if name in aiida_config.profile_names:
            with contextlib.suppress(Exception):
                aiida_config.delete_profile(name, delete_storage=True)
        production.drop_database(database, database, *PG)
        if default and default in aiida_config.profile_names:
            aiida_config.set_default_profile(default, overwrite=True)
        aiida_config.store()


@contextlib.contextmanager
def _loaded(name):
    from aiida.manage import get_manager

    manager = get_manager()
    previous = manager.get_profile()
    profile = manager.load_profile(name, allow_switch=True)
    try:
        yield profile
    finally:
        manager.load_profile(previous.name, allow_switch=True)


def test_setup_production_creates_the_profile_and_is_idempotent(production_profile, aiida_config):
    from aiida import orm
    from aiida.manage.external.postgres import Postgres

    from aiida_hydrides.pseudos import default_family_label

    name, database = production_profile['name'], production_profile['database']
    output = production_profile['result'].output
    assert 'Traceback' not in output
    for line in (
        f'postgresql: running ({PG[0]}:{PG[1]})',
        f'rabbitmq: running ({MQ[0]}:{MQ[1]})',
        f'database user {database}: created',
        f'database {database}: created (owner {database})',
        f'profile {name}: created (core.psql_dos database {database}, core.rabbitmq',
        f'profile {name}: daemon.worker_process_slots = 500',
        f'profile {name}: set as the default profile',
        f'daemon of {name}: not started',
        f'setup --production: done; profile {name}',
    ):
        assert line in output, output
    assert 'code pw@localhost created' in output and 'code hydrides-lam@localhost created' in output
    timeout = production.consumer_timeout_ms()
    if timeout not in (None, False):  # a RabbitMQ found running is checked, not changed
        assert f'rabbitmq: consumer_timeout is {timeout} ms' in output and '--configure-rabbitmq' in output

    profile = aiida_config.get_profile(name)
    assert profile.storage_backend == 'core.psql_dos' and profile.process_control_backend == 'core.rabbitmq'
    assert profile.storage_config['database_name'] == database
    assert profile.process_control_config['broker_host'] == MQ[0]
    assert aiida_config.get_option('daemon.worker_process_slots', scope=name) == 500
    assert Postgres(dbinfo={'host': PG[0], 'port': PG[1]}, interactive=False).db_exists(database)

    with _loaded(name):
        labels = {code.full_label for code in orm.QueryBuilder().append(orm.InstalledCode).all(flat=True)}
        assert {'pw@localhost', 'ph@localhost', 'q2r@localhost', 'matdyn@localhost', 'hydrides-lam@localhost'} <= labels
        family = orm.load_group(default_family_label())
        assert {'H', 'Ca', 'Y'} <= set(family.elements)

    again = _invoke(*production_profile['args'])  # idempotent: everything found, nothing made again
    assert again.exit_code == 0, again.output
    assert f'profile {name}: exists (PostgreSQL database {database}, RabbitMQ)' in again.output
    assert f'database {database}: exists' in again.output
    assert 'created' not in again.output and 'Traceback' not in again.output


def test_setup_production_refuses_bad_names_and_taken_databases(production_profile):
    """Clear one-line errors, no traceback, nothing created."""
    bad = _invoke(
        'setup', '--production', '--profile-name', 'test-prod-bad', '--database-name', 'Bad-Name', '--no-install'
    )
    assert bad.exit_code == 1 and 'Error: database name' in bad.stderr and 'Traceback' not in bad.output
    taken = _invoke(
        'setup', '--production', '--profile-name', 'test-prod-taken', '--database-name', production_profile['database']
    )
    assert taken.exit_code == 1, taken.output
    assert 'exists already and no profile of this configuration uses it' in taken.stderr
    assert 'Traceback' not in taken.output


def test_advanced_config_and_missing_rights(tmp_path, monkeypatch):
    path = tmp_path / 'rabbitmq' / 'advanced.config'
    assert production.write_advanced_config(path) == 'written'
    assert '{consumer_timeout, undefined}' in path.read_text()
    assert production.write_advanced_config(path) == 'present'
    path.write_text('[{rabbit, [{tcp_listeners, [5672]}]}].\n')
    assert production.write_advanced_config(path) == 'foreign'
    assert 'consumer_timeout' not in path.read_text()  # someone else's file is left as it is

    monkeypatch.setattr(production, '_privileged', lambda: None)
    with pytest.raises(production.ProductionSetupError, match='needs root: run `apt-get install postgresql`'):
        production._apt_install(['postgresql'], [])
    with pytest.raises(production.ProductionSetupError, match='start it as root: `service postgresql start`'):
        production._start_service('postgresql', [], [])
    with pytest.raises(production.ProductionSetupError, match='does not answer; start it on that machine'):
        production.ensure_postgresql('db.invalid', 5432)


# ---------------------------------------------------------------------------------------------- kill and restart
def _refresh():
    from aiida.manage import get_manager

    session = get_manager().get_profile_storage().get_session()
    session.expire_all()
    session.commit()


def _daemon_log(client, lines=80):
    try:
        with open(client.daemon_log_file, encoding='utf-8', errors='replace') as handle:
            return ''.join(handle.readlines()[-lines:])
    except OSError as exception:
        return f'(no daemon log: {exception})'


def _stage_job(root):
    """A LAM job of the search or the cascade that was submitted (it runs) and is not done."""
    from aiida import orm

    for node in root.called_descendants:
        if isinstance(node, orm.CalcJobNode) and node.process_type in STAGE_JOBS and not node.is_terminated:
            if node.get_job_id() is not None:
                return node
    return None


def _kill_daemon(client):
    """SIGKILL the circus arbiter (so that it restarts nothing), its workers and its stats process, as a crash
    would; return the workers' PIDs. The jobs the workers submitted are not their children and keep running."""
    arbiter = psutil.Process(client.get_daemon_pid())
    children = arbiter.children()
    workers = [child for child in children if 'worker' in ' '.join(child.cmdline())]
    assert len(workers) == 2, [child.cmdline() for child in children]
    for process in [arbiter, *children]:
        process.send_signal(signal.SIGKILL)
    _, alive = psutil.wait_procs([arbiter, *children], timeout=30)
    assert not alive, alive
    return [worker.pid for worker in workers]


def _call_path(node):
    """The CALL link labels from the discovery down to ``node``: the stage and step it ran for."""
    from aiida.common.links import LinkType

    labels = []
    while True:
        links = node.base.links.get_incoming(link_type=(LinkType.CALL_CALC, LinkType.CALL_WORK)).all()
        if not links:
            return '/'.join(reversed(labels))
        labels.append(links[0].link_label)
        node = links[0].node


def _what_it_ran_on(calc):
    """The inputs that say which structure or compositions a job was for (uuids; a parent folder by its creator)."""
    from aiida import orm

    keys = []
    for link in calc.base.links.get_incoming().all():
        node = link.node
        if isinstance(node, orm.RemoteData):
            keys.append((link.link_label, node.creator.uuid if node.creator else node.uuid))
        elif isinstance(node, (orm.StructureData, orm.List, orm.ArrayData)):
            keys.append((link.link_label, node.uuid))
    return tuple(sorted(keys))


@pytest.mark.slow
def test_discovery_survives_sigkilled_daemon_workers(production_profile, tiny_discovery_builder, monkeypatch):
    from aiida import orm
    from aiida.engine import submit
    from aiida.engine.daemon.client import DaemonException

    from aiida_hydrides.codes import ensure_codes, ensure_lam_code
    from aiida_hydrides.pseudos import default_family_label

    name = production_profile['name']
    bin_dir, verdi = _verdi()
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}')
    monkeypatch.setattr('aiida.engine.daemon.client.VERDI_BIN', verdi)
    campaign = f'test/production/kill-restart/{secrets.token_hex(3)}'

    with _loaded(name):
        client = production.ensure_daemon(name, 2)
        try:
            codes = {**ensure_codes('localhost', mpiprocs=2), 'lam': ensure_lam_code('localhost')}
            builder = tiny_discovery_builder(codes, orm.load_group(default_family_label()), campaign)
            builder.round1_size = orm.Int(0)  # the LAM stages only: the EPC stage is tested in-process
            root = submit(builder)

            deadline = time.monotonic() + KILL_WINDOW
            job = None
            while job is None:
                _refresh()
                assert not root.is_terminated, f'the discovery ended before a LAM job ran:\n{_daemon_log(client)}'
                assert time.monotonic() < deadline, f'no search or cascade job ran:\n{_daemon_log(client)}'
                job = _stage_job(root)
                time.sleep(0.5)

            killed = _kill_daemon(client)
            assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != 'zombie' for pid in killed)
            assert client._is_pid_file_stale  # the daemon is dead; only its PID file is left
            _refresh()
            assert not root.is_terminated and not job.is_terminated  # both were mid-run

            production.ensure_daemon(name, 2)  # `verdi daemon start 2` again, over the stale PID file
            deadline = time.monotonic() + TIMEOUT
            while not root.is_terminated:
                assert time.monotonic() < deadline, (
                    f'the discovery did not finish in {TIMEOUT} s:\n{_daemon_log(client)}'
                )
                time.sleep(3)
                _refresh()
        finally:
            with contextlib.suppress(DaemonException):
                client.stop_daemon(wait=True)

        # the job the workers were killed in was followed to its end by the new workers, nothing is left running,
        # and no calculation ran twice for one structure and stage
        assert job.is_finished_ok, f'the job killed mid-run: [{job.exit_status}] {job.exit_message}'
        active = [
            node for node in root.called_descendants if isinstance(node, orm.ProcessNode) and not node.is_terminated
        ]
        assert active == []
        done = {}
        hashes = {}
        for calc in root.called_descendants:
            if not isinstance(calc, orm.CalcJobNode) or calc.process_type not in CHECKED_JOBS:
                continue
            if calc.is_finished_ok:
                key = (calc.process_type, _call_path(calc), _what_it_ran_on(calc))
                done.setdefault(key, []).append(calc.pk)
                hashes.setdefault(calc.base.caching.get_hash(), []).append(calc.pk)
        assert any(key[0] == job.process_type for key in done)
        twice = {key: pks for key, pks in done.items() if len(pks) > 1}
        assert not twice, twice
        assert all(len(pks) == 1 for pks in hashes.values()), hashes

        # the discovery finished, and lost no candidate: every survivor of the cascade is ranked, YH6 among them
        state = root.process_state.value
        assert root.is_finished_ok, f'{state} [{root.exit_status}] {root.exit_message}\n{_daemon_log(client)}'
        rows = root.outputs.candidates.get_dict()['candidates']
        survivors = orm.load_group(f'{campaign}/survivors').nodes
        assert survivors and len(rows) == len(survivors), rows
        assert {row['uuid'] for row in rows} == {node.uuid for node in survivors}
        assert any(row['formula'] == 'YH6' for row in rows)
        funnel = root.outputs.funnel.get_dict()
        assert funnel['search']['relaxations'] >= 8 and 'epc_round1' not in funnel, funnel


# ---------------------------------------------------------------------------------------------- the docs, run
def _python_block(marker):
    """The ```python block of docs/scale-out.md that contains ``marker``."""
    text = (pathlib.Path(__file__).resolve().parents[2] / 'docs' / 'scale-out.md').read_text(encoding='utf-8')
    blocks = [block.split('```', 1)[0] for block in text.split('```python\n')[1:]]
    found = [block for block in blocks if marker in block]
    assert len(found) == 1, f'{len(found)} python blocks of docs/scale-out.md hold {marker!r}'
    return found[0]


def test_scale_out_docs_discovery_on_two_slurm_computers(pseudo_family, monkeypatch, capsys):
    """The discovery of docs/scale-out.md, run as written against the two SLURM computers it describes (set up as its
    YAML files say, not contacted): its inputs are valid, QE goes to the CPU computer, the LAM jobs to the GPU one
    with their own options."""
    from aiida import engine, orm

    from aiida_hydrides.codes import ensure_codes, ensure_lam_code
    from aiida_hydrides.workflows.discovery.base import DiscoveryWorkChain

    for label, mpiprocs in (('cluster', 64), ('gpu-cluster', 1)):
        try:
            orm.load_computer(label)
        except Exception:
            computer = orm.Computer(
                label=label,
                hostname='login.cluster.example',
                transport_type='core.ssh_async',
                scheduler_type='core.slurm',
                workdir='/scratch/{username}/aiida',
            ).store()
            computer.set_mpirun_command(['srun'])
            computer.set_default_mpiprocs_per_machine(mpiprocs)
    ensure_codes('cluster', mpiprocs=None, executables_dir='/opt/qe-7.3/bin', pools=8)
    ensure_lam_code('gpu-cluster', executable='/path/to/venv/bin/hydrides-lam')

    submitted = []

    def fake_submit(builder):
        error = DiscoveryWorkChain.spec().inputs.validate(builder._inputs(prune=True))
        assert error is None, error
        submitted.append(builder)
        return orm.Int(0).store()  # anything with a pk

    monkeypatch.setattr(engine, 'submit', fake_submit)
    exec(compile(_python_block('builder.search.options'), 'docs/scale-out.md', 'exec'), {})
    assert 'submitted DiscoveryWorkChain<' in capsys.readouterr().out

    (builder,) = submitted
    assert builder.lam_code.computer.label == 'gpu-cluster'
    assert builder.screen.dft.code.computer.label == 'cluster'
    assert {code.computer.label for code in builder.epc.codes.values()} == {'cluster'}
    assert builder.epc.options['queue_name'] == 'cpu'
    for options in (builder.search.options, builder.screen.phonons.options):
        assert options['custom_scheduler_commands'] == '#SBATCH --gres=gpu:1' and options['queue_name'] == 'gpu'
    assert builder.screen.dft.options['queue_name'] == 'cpu'
