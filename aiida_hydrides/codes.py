"""Quantum ESPRESSO codes on an AiiDA computer: create them once, find them later.

Codes are labelled by their short name (``pw``, ``ph``, ...) on their computer, so ``pw@localhost`` is the pw.x
code of the local machine. :func:`ensure_codes` is idempotent: codes that exist are reused as they are.
"""

from __future__ import annotations

import os
import pathlib
import shutil

from aiida import orm
from aiida.common.exceptions import MultipleObjectsError, NotExistent
from aiida.manage import get_manager

__all__ = (
    'QE_EXECUTABLES',
    'CodeSetupError',
    'MissingCodeError',
    'MissingExecutableError',
    'ensure_codes',
    'ensure_dp_code',
    'ensure_lam_code',
    'get_code',
    'get_computer',
    'default_pools',
    'qe_parallelization',
    'qe_pool_settings',
    'set_default_pools',
)

#: short name -> (executable, default calculation plugin)
QE_EXECUTABLES = {
    'pw': ('pw.x', 'quantumespresso.pw'),
    'ph': ('ph.x', 'quantumespresso.ph'),
    'q2r': ('q2r.x', 'quantumespresso.q2r'),
    'matdyn': ('matdyn.x', 'quantumespresso.matdyn'),
    'projwfc': ('projwfc.x', 'quantumespresso.projwfc'),
    'ld1': ('ld1.x', None),
}
#: codes that run under MPI (ld1.x is a serial atomic code)
MPI_CODES = frozenset({'pw', 'ph', 'q2r', 'matdyn', 'projwfc'})
#: exported on a local computer when AiiDA runs as root, so that OpenMPI's mpirun accepts to start
ROOT_MPI_PREPEND = 'export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1'
#: extra of a code holding its default number of k-point pools, and the codes that take ``-nk``
POOLS_EXTRA = 'hydrides_npool'
POOL_CODES = frozenset({'pw', 'ph', 'projwfc'})
INSTALL_HINT = 'install Quantum ESPRESSO with `apt-get install quantum-espresso` (Debian/Ubuntu)'


class CodeSetupError(RuntimeError):
    """A computer or a code that cannot be set up."""


class MissingExecutableError(CodeSetupError, FileNotFoundError):
    """A Quantum ESPRESSO executable that is not installed."""


class MissingCodeError(CodeSetupError, LookupError):
    """A code that is not configured in the AiiDA profile."""


def get_computer(computer: str | orm.Computer = 'localhost') -> orm.Computer:
    """Load a computer by label (or return it), with a clear error when it does not exist."""
    if isinstance(computer, orm.Computer):
        return computer
    try:
        return orm.load_computer(computer)
    except NotExistent:
        raise CodeSetupError(
            f'the computer {computer!r} is not configured in this AiiDA profile; run `aiida-hydrides setup` (creates '
            '`localhost`) or `verdi computer setup`'
        ) from None


def _find_existing(short: str, computer: orm.Computer) -> orm.InstalledCode | None:
    query = orm.QueryBuilder()
    query.append(orm.Computer, filters={'id': computer.pk}, tag='computer')
    query.append(orm.InstalledCode, with_computer='computer', filters={'label': short}, project='*')
    codes = [row[0] for row in query.all()]
    if not codes:
        return None
    return sorted(codes, key=lambda code: code.pk)[0]


def _resolve_executable(executable: str, computer: orm.Computer, executables_dir) -> str | None:
    if executables_dir is not None:
        path = pathlib.PurePosixPath(executables_dir) / executable
        if computer.transport_type == 'core.local' and not os.access(path, os.X_OK):
            return None
        return str(path)
    if computer.transport_type != 'core.local':
        raise CodeSetupError(
            f'the computer {computer.label!r} is remote ({computer.transport_type}); pass the folder of the Quantum '
            'ESPRESSO executables on it (`--executables-dir` / `executables_dir=`)'
        )
    return shutil.which(executable)


def _prepare_local_computer(computer: orm.Computer, mpiprocs: int | None) -> list[str]:
    """Make a local computer able to run MPI codes: root permission for OpenMPI, default MPI processes."""
    changes = []
    if computer.transport_type != 'core.local':
        return changes
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        prepend = computer.get_prepend_text() or ''
        if 'OMPI_ALLOW_RUN_AS_ROOT' not in prepend:
            computer.set_prepend_text('\n'.join(filter(None, (prepend.rstrip(), ROOT_MPI_PREPEND))))
            changes.append('allowed OpenMPI to run as root (prepend text)')
    if mpiprocs is not None and computer.get_default_mpiprocs_per_machine() != mpiprocs:
        computer.set_default_mpiprocs_per_machine(mpiprocs)
        changes.append(f'set the default MPI processes per machine to {mpiprocs}')
    return changes


def ensure_codes(
    computer: str | orm.Computer = 'localhost',
    mpiprocs: int | None = 2,
    executables_dir: str | pathlib.Path | None = None,
    shorts=None,
    pools: int | None = None,
    report: list | None = None,
) -> dict[str, orm.InstalledCode]:
    """Return the Quantum ESPRESSO codes on ``computer``, creating the missing ones; keyed by short name.

    :param computer: computer label or instance.
    :param mpiprocs: default MPI processes per machine for a local computer (``None`` leaves it unchanged).
    :param executables_dir: folder of the executables (default: the ``PATH`` of a local computer).
    :param shorts: the codes to ensure (default: every key of :data:`QE_EXECUTABLES`).
    :param pools: if given, stored as the default number of k-point pools of pw, ph and projwfc
        (see :func:`default_pools`).
    :param report: if a list, one line per action is appended to it.
    :raises MissingExecutableError: an executable needed for a new code is not installed (no code is created).
    """
    computer = get_computer(computer)
    shorts = list(shorts or QE_EXECUTABLES)
    unknown = sorted(set(shorts) - set(QE_EXECUTABLES))
    if unknown:
        raise CodeSetupError(f'unknown code(s) {unknown}; choose from {sorted(QE_EXECUTABLES)}')
    report = report if report is not None else []
    report.extend(f'computer {computer.label}: {change}' for change in _prepare_local_computer(computer, mpiprocs))

    codes, to_create, missing = {}, {}, []
    for short in shorts:
        existing = _find_existing(short, computer)
        if existing is not None:
            codes[short] = existing
            report.append(f'code {short}@{computer.label} exists (pk {existing.pk}, {existing.filepath_executable})')
            continue
        executable = QE_EXECUTABLES[short][0]
        path = _resolve_executable(executable, computer, executables_dir)
        if path is None:
            missing.append(executable)
        else:
            to_create[short] = path
    if missing:
        where = f'in {executables_dir}' if executables_dir else 'on the PATH'
        raise MissingExecutableError(
            f'Quantum ESPRESSO executable(s) {", ".join(missing)} not found {where}; {INSTALL_HINT}, or pass '
            'the folder that holds them (`--executables-dir`)'
        )

    with get_manager().get_profile_storage().transaction():  # all new codes or none, in one commit
        for short, path in to_create.items():
            executable, plugin = QE_EXECUTABLES[short]
            codes[short] = orm.InstalledCode(
                label=short,
                computer=computer,
                filepath_executable=path,
                default_calc_job_plugin=plugin,
                with_mpi=short in MPI_CODES,
                description=f'Quantum ESPRESSO {executable}',
            ).store()
    report.extend(
        f'code {short}@{computer.label} created (pk {codes[short].pk}, {path})' for short, path in to_create.items()
    )
    codes = {short: codes[short] for short in shorts}
    if pools is not None:
        changed = set_default_pools(codes, pools)
        if changed:
            report.append(f'default k-point pools set to {pools} for {", ".join(changed)}')
    return codes


def set_default_pools(codes: dict, pools: int) -> list[str]:
    """Store ``pools`` as the default k-point pools of the pool-aware codes in ``codes``; return those changed."""
    if int(pools) < 1:
        raise ValueError(f'the number of pools must be positive, not {pools}')
    changed = []
    for short, code in codes.items():
        if short in POOL_CODES and code.base.extras.get(POOLS_EXTRA, None) != int(pools):
            code.base.extras.set(POOLS_EXTRA, int(pools))
            changed.append(short)
    return changed


def default_pools(code: orm.InstalledCode) -> int:
    """Default k-point pools of ``code``: its ``hydrides_npool`` extra (set by ``aiida-hydrides setup --pools``),
    else the default MPI processes per machine of its computer, else 1."""
    pools = code.base.extras.get(POOLS_EXTRA, None)
    if pools is None:
        pools = code.computer.get_default_mpiprocs_per_machine() if code.computer else None
    return max(1, int(pools or 1))


def get_code(short: str, computer: str | orm.Computer | None = None) -> orm.InstalledCode:
    """Load the code ``short`` (e.g. ``'pw'``) on ``computer``, or on the only computer that has one."""
    query = orm.QueryBuilder()
    filters = {}
    if computer is not None:
        filters = {'id': computer.pk} if isinstance(computer, orm.Computer) else {'label': computer}
    query.append(orm.Computer, filters=filters, tag='computer', project='label')
    query.append(orm.InstalledCode, with_computer='computer', filters={'label': short}, project='*')
    rows = query.all()
    where = f' on computer {getattr(computer, "label", computer)!r}' if computer is not None else ''
    if not rows:
        raise MissingCodeError(
            f'no code {short!r}{where} in this AiiDA profile; run `aiida-hydrides setup` to create the Quantum '
            'ESPRESSO codes'
        )
    labels = sorted({label for label, _ in rows})
    if len(labels) > 1:
        if 'localhost' in labels:
            rows = [row for row in rows if row[0] == 'localhost']
        else:
            raise MultipleObjectsError(f'code {short!r} exists on several computers {labels}; name the computer')
    return sorted((row[1] for row in rows), key=lambda code: code.pk)[0]


def _pools(mpiprocs: int, pools: int | None) -> int:
    pools = int(pools or mpiprocs)
    if pools < 1 or mpiprocs < 1 or mpiprocs % pools:
        raise ValueError(f'{pools} pools do not divide {mpiprocs} MPI processes')
    return pools


def qe_parallelization(mpiprocs: int, pools: int | None = None) -> dict:
    """The ``parallelization`` input of a ``PwCalculation`` with k-point pools: ``{'npool': n}``.

    By default one pool per MPI process, the fastest choice for small cells; ``{}`` for a single pool.
    """
    pools = _pools(mpiprocs, pools)
    return {'npool': pools} if pools > 1 else {}


def qe_pool_settings(mpiprocs: int, pools: int | None = None) -> dict:
    """``settings`` with ``CMDLINE: ['-nk', n]`` for codes without a ``parallelization`` input (ph.x, projwfc.x).

    For pw.x use :func:`qe_parallelization` (aiida-quantumespresso deprecates ``-nk`` in ``CMDLINE`` there).
    """
    pools = _pools(mpiprocs, pools)
    return {'CMDLINE': ['-nk', str(pools)]} if pools > 1 else {}


#: label of the code of the LAM worker (``hydrides-lam``: relaxations, phonons and structure searches)
LAM_CODE_LABEL = 'hydrides-lam'


def _ensure_python_script_code(
    label: str, computer, executable, report, *, plugin: str, description: str, remote_hint: str, missing: str
) -> orm.InstalledCode:
    """The code ``label`` on ``computer`` for a script installed with the Python environment (created if needed).

    Without ``executable`` on a local computer, the script beside the running interpreter is used, else the one on the
    ``PATH``; on a remote computer its path must be given (``remote_hint`` names what to pass).
    """
    import sys

    computer = get_computer(computer)
    existing = _find_existing(label, computer)
    if existing is not None:
        if report is not None:
            report.append(f'code {label}@{computer.label} exists (pk {existing.pk})')
        return existing
    if executable is None:
        if computer.transport_type != 'core.local':
            raise CodeSetupError(f'the computer {computer.label!r} is remote; pass the path of {remote_hint} on it')
        beside = pathlib.Path(sys.executable).parent / label
        executable = str(beside) if os.access(beside, os.X_OK) else shutil.which(label)
        if executable is None:
            raise MissingExecutableError(missing)
    code = orm.InstalledCode(
        label=label,
        computer=computer,
        filepath_executable=str(executable),
        default_calc_job_plugin=plugin,
        with_mpi=False,
        description=description,
    ).store()
    if report is not None:
        report.append(f'code {label}@{computer.label} created (pk {code.pk}, {executable})')
    return code


def ensure_lam_code(
    computer: str | orm.Computer = 'localhost', executable: str | pathlib.Path | None = None, report: list | None = None
) -> orm.InstalledCode:
    """Return the ``hydrides-lam`` code on ``computer``, creating it if needed (idempotent: an existing code with
    that label is reused as it is).

    :param computer: computer label or instance.
    :param executable: path of the ``hydrides-lam`` script on the computer (default on a local computer: the one
        installed beside the running Python interpreter, else the one on the ``PATH``).
    :param report: if a list, one line per action is appended to it.
    :raises MissingExecutableError: the script cannot be found.
    """
    return _ensure_python_script_code(
        LAM_CODE_LABEL,
        computer,
        executable,
        report,
        plugin='hydrides.lam.relax',
        description='The aiida-hydrides LAM worker (hydrides-lam relax / phonons / search)',
        remote_hint='hydrides-lam',
        missing='the hydrides-lam script is not installed; run `pip install -e .` in the aiida-hydrides checkout',
    )


#: label of the code of DeePMD's command line (``dp``: training, freezing, compression, tests)
DP_CODE_LABEL = 'dp'


def ensure_dp_code(
    computer: str | orm.Computer = 'localhost', executable: str | pathlib.Path | None = None, report: list | None = None
) -> orm.InstalledCode:
    """Return the ``dp`` code (deepmd-kit's command line) on ``computer``, creating it if needed (idempotent: an
    existing code with that label is reused as it is). The ``hydrides.lam.train`` jobs run it.

    :param computer: computer label or instance.
    :param executable: path of ``dp`` on the computer (default on a local computer: the one installed beside the
        running Python interpreter, else the one on the ``PATH``); on a cluster, the ``dp`` of an environment with
        deepmd-kit 3 and a CUDA build of torch for a GPU node.
    :param report: if a list, one line per action is appended to it.
    :raises MissingExecutableError: ``dp`` cannot be found.
    """
    return _ensure_python_script_code(
        DP_CODE_LABEL,
        computer,
        executable,
        report,
        plugin='hydrides.lam.train',
        description='deepmd-kit command line (dp --pt train / freeze / compress / test)',
        remote_hint='dp (deepmd-kit)',
        missing='the DeePMD command `dp` is not installed; install deepmd-kit 3 (`pip install -e .` in the '
        'aiida-hydrides checkout installs it)',
    )
