"""Shared fixtures: a temporary AiiDA profile, Quantum ESPRESSO codes and the generated pseudopotential family."""

import os
import pathlib
import shutil

import pytest

pytest_plugins = ['aiida.tools.pytest_fixtures']

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA_DIR = pathlib.Path(__file__).resolve().parent / 'data'
# compressed copies of the test models, made once per checkout (workers of the CalcJob tests inherit it)
os.environ.setdefault('HYDRIDES_MODEL_CACHE', str(ROOT / 'build' / 'model-cache'))
#: MPI processes of the pw.x / ph.x runs of the tests: 2 when the tests run one at a time; 1 when pytest-xdist runs
#: them in parallel (`make test` runs one test process per core), so that the QE jobs of two test processes do not
#: oversubscribe the cores. ``HYDRIDES_TEST_MPIPROCS`` overrides it.
QE_MPIPROCS = int(os.environ.get('HYDRIDES_TEST_MPIPROCS') or (1 if os.environ.get('PYTEST_XDIST_WORKER') else 2))
# MPI ranks waiting in a collective give their core away (the QE jobs of the other test process may need it)
os.environ.setdefault('OMPI_MCA_mpi_yield_when_idle', '1')


def pytest_collection_modifyitems(config, items):
    """The test files with slow (real QE or training) tests run first, those of the work chains first among them:
    with `make test`'s one test process per core (pytest-xdist, one file at a time per process), the long files then
    run side by side and the many short ones fill the gaps at the end."""
    slow = {item.path for item in items if item.get_closest_marker('slow')}
    workflows = ROOT / 'tests' / 'workflows'
    items.sort(key=lambda item: (item.path not in slow, workflows not in item.path.parents))


@pytest.fixture(scope='session')
def data_dir() -> pathlib.Path:
    """Folder of recorded test data (QE outputs, structures)."""
    return DATA_DIR


@pytest.fixture(scope='session')
def shared_dir() -> pathlib.Path:
    """The ``shared`` reference folder beside the repository (``HYDRIDES_SHARED`` overrides it)."""
    path = pathlib.Path(os.environ.get('HYDRIDES_SHARED', ROOT.parent / 'shared'))
    if not path.is_dir():
        pytest.fail(f'the shared reference folder {path} is missing; set HYDRIDES_SHARED')
    return path


@pytest.fixture(scope='session')
def require_qe():
    """Fail clearly (not skip) when Quantum ESPRESSO is not installed: `make test` installs it."""
    missing = [exe for exe in ('pw.x', 'ph.x', 'q2r.x', 'matdyn.x', 'ld1.x') if shutil.which(exe) is None]
    if missing:
        pytest.fail(f'Quantum ESPRESSO executables missing: {missing}; run `make setup`')


@pytest.fixture
def qe_codes(aiida_localhost, require_qe):
    """The QE codes registered on the test computer, keyed by short name ('pw', 'ph', 'q2r', 'matdyn', ...)."""
    from aiida_hydrides.codes import ensure_codes

    return ensure_codes(computer=aiida_localhost, mpiprocs=QE_MPIPROCS)


@pytest.fixture(scope='session')
def qe_resources() -> dict:
    """The ``resources`` option of the QE jobs of the tests (:data:`QE_MPIPROCS` MPI processes)."""
    return {'num_machines': 1, 'num_mpiprocs_per_machine': QE_MPIPROCS}


@pytest.fixture(scope='session')
def pseudo_family_label(aiida_profile, require_qe) -> str:
    """The label of the offline pslibrary family generated with ld1.x (cached on disk between runs), made once."""
    from aiida_hydrides.pseudos import ensure_pseudo_family

    return ensure_pseudo_family().label


@pytest.fixture
def pseudo_family(pseudo_family_label):
    """The offline pslibrary family, loaded anew for each test: a test that switches profiles (the daemon tests)
    closes the storage a node loaded earlier belongs to."""
    from aiida import orm

    return orm.load_group(pseudo_family_label)


# -------------------------------------------------------------------------------------------- a tiny discovery
TINY_SEARCH = {'budget': 8, 'population': 8, 'max_atoms': 7, 'formula_units': [1], 'max_steps': 150, 'seed': 1}
TINY_EPC = {
    'max_concurrent': 1,
    'run_relax': False,
    'epc': {
        'overrides': {
            'meta_parameters': {
                'kpoints_mesh': [4, 4, 4],
                'kpoints_dense_mesh': [8, 8, 8],
                'qpoints_mesh': [1, 1, 1],  # the zone centre alone: the plumbing, not the physics
                'matdyn_kpoints_mesh': [8, 8, 8],
            },
            'scf': {'pw': {'parameters': {'SYSTEM': {'degauss': 0.05}}}},
        }
    },
}


def _tiny_discovery_builder(codes, pseudo_family, campaign: str, system: str = 'Ca-Y'):
    """A discovery of YH6 alone at tiny settings (about 2 minutes of LAM work and a few minutes of QE on 2 cores)."""
    from aiida import orm

    from aiida_hydrides.workflows.discovery.base import DiscoveryWorkChain

    builder = DiscoveryWorkChain.get_builder_from_protocol(
        codes,
        system,
        pressure=200.0,
        protocol='demo',
        overrides={
            'search': {'overrides': {'parameters': TINY_SEARCH}},
            'screen': {'overrides': {'phonons': {'parameters': {'mesh': [4, 4, 4]}}}},
            'epc': {'protocol': 'fast', 'overrides': TINY_EPC},
        },
        compositions=['YH6'],
        campaign=campaign,
        pseudo_family=pseudo_family.label,
        options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': QE_MPIPROCS}},
    )
    builder.epc.cutoffs = orm.List([30.0, 240.0])
    del builder.screen.dft['code']  # the cascade stops after the LAM phonons
    # the hull references Y and H in cells of two atoms (with the seed model, 1-atom H cells collapse)
    builder.screen.search_parameters = orm.Dict(
        {'budget': 8, 'population': 8, 'max_atoms': 4, 'formula_units': [2], 'max_steps': 100}
    )
    return builder


@pytest.fixture
def tiny_discovery_builder():
    """``builder(codes, pseudo_family, campaign)``: a ``hydrides.discovery`` of YH6 alone at 200 GPa at tiny settings
    (a few LAM relaxations, the LAM stages of the cascade only, one survivor through the EPC at tiny grids and
    cutoffs without relaxation: a few minutes on 2 cores)."""
    return _tiny_discovery_builder
