"""The ``verdi run`` examples in ``examples/``: all compile; the cheap ones run with ``verdi -p <test profile> run``
and print their results; the QE ones build their work chain's inputs, and the DFT one (about 1 minute) also runs.

The examples run in a subprocess, exactly as a user runs them: ``verdi`` finds the temporary test profile through
``AIIDA_PATH``, which the ``aiida_profile`` fixture sets for the session (the subprocess inherits it).
"""

import pathlib
import py_compile
import re
import runpy
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / 'examples'
SCRIPTS = sorted(EXAMPLES.glob('*.py'))
WORK_CHAIN_EXAMPLES = {
    'run_dft_enthalpy.py': 'hydrides.dft.enthalpy',
    'run_epc.py': 'hydrides.epc',
    'run_epc_batch.py': 'hydrides.epc.batch',
    'run_concurrent.py': 'hydrides.lam.concurrent',
    'run_search_system.py': 'hydrides.search.system',
    'run_search_base.py': 'hydrides.search.base',
    'run_screen.py': 'hydrides.screen',
    'run_discovery.py': 'hydrides.discovery',
}


def verdi_run(profile, script: str, timeout: float = 600) -> str:
    """``verdi -p <profile> run examples/<script>``; its stdout, after checking it exits with 0."""
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    result = subprocess.run(
        [str(verdi), '-p', profile.name, 'run', str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=EXAMPLES.parent,
        check=False,
    )
    assert result.returncode == 0, f'{script} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}'
    return result.stdout


class Launched(Exception):
    """Raised instead of running the work chain: carries the builder the script made."""

    def __init__(self, builder):
        super().__init__('launched')
        self.builder = builder


def build_only(script: str, monkeypatch):
    """Execute ``script`` in this process (profile loaded, ``__name__ == '__main__'`` as under ``verdi run``) up to
    its ``run_get_node(builder)`` call, and return that builder without running anything."""
    import aiida.engine

    def fake_run_get_node(builder, **_):
        raise Launched(builder)

    monkeypatch.setattr(aiida.engine, 'run_get_node', fake_run_get_node)
    with pytest.raises(Launched) as launched:
        runpy.run_path(str(EXAMPLES / script), run_name='__main__')
    return launched.value.builder


@pytest.mark.parametrize('script', SCRIPTS, ids=lambda path: path.name)
def test_examples_compile(script, tmp_path):
    py_compile.compile(str(script), cfile=str(tmp_path / 'compiled.pyc'), doraise=True)
    docstring = script.read_text().split('"""')[1]
    if script.name in WORK_CHAIN_EXAMPLES:
        assert f'verdi run examples/{script.name}' in docstring


def test_every_work_chain_example_exists():
    assert set(WORK_CHAIN_EXAMPLES) <= {script.name for script in SCRIPTS}


def test_screen_prototypes_runs():
    """The AiiDA-free example: compositions of Ca-Y and the filters on three prototypes."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / 'screen_prototypes.py')],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert 'Ca-Y: 576 compositions' in result.stdout
    assert re.search(r'CaH6 +sg 229 .* kept', result.stdout)


def test_search_system_example(aiida_profile, aiida_localhost):
    """A real search of CaH6 and YH6 with the seed model (about 40 s); a second run skips both compositions."""
    from aiida import orm

    output = verdi_run(aiida_profile, 'run_search_system.py')
    match = re.search(
        r'SystemSearchWorkChain<(\d+)> finished \[0\]: 2 searched, 0 skipped, \d+ minima, (\d+) of them in group',
        output,
    )
    assert match, output
    node = orm.load_node(int(match.group(1)))
    assert node.is_finished_ok and node.process_type == 'aiida.workflows:hydrides.search.system'
    for formula in ('CaH6', 'YH6'):
        assert re.search(rf'{formula} +finished +best \S+ +H = -\d+\.\d{{4}} eV/atom, [1-9]\d* minima', output), output
    group = orm.load_group('hydrides/examples/search/Ca-Y/200GPa')
    assert len(group.nodes) == int(match.group(2)) >= 2
    assert re.search(r'minimum <\d+> CaH6 \S+ \+0 meV/atom above the best', output), output

    again = verdi_run(aiida_profile, 'run_search_system.py')
    assert re.search(r'finished \[0\]: 0 searched, 2 skipped', again), again
    assert len(orm.load_group('hydrides/examples/search/Ca-Y/200GPa').nodes) == len(group.nodes)


@pytest.mark.qe
def test_dft_enthalpy_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    builder = build_only('run_dft_enthalpy.py', monkeypatch)
    assert builder.pressure.value == 200.0
    assert builder.protocol.value == 'fast'
    assert builder.relax.base_relax.pw.code.label == 'pw' and builder.scf.pw.code.label == 'pw'
    assert sorted(builder.structure.get_ase().get_chemical_symbols()) == ['H', 'H', 'H', 'S']


@pytest.mark.qe
def test_epc_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    """The EPC example runs about 2 minutes of QE, more than a test affords: only its builder is checked (the same
    Al calculation runs for real in tests/workflows/epc/test_epc.py)."""
    builder = build_only('run_epc.py', monkeypatch)
    assert builder.structure.get_formula() == 'Al'
    assert builder.scf_dense.kpoints.get_kpoints_mesh()[0] == [16, 16, 16]
    assert builder.scf.kpoints.get_kpoints_mesh()[0] == [8, 8, 8]
    assert builder.ph.qpoints.get_kpoints_mesh()[0] == [4, 4, 4]
    assert builder.scf.pw.parameters['SYSTEM']['ecutwfc'] == 30.0
    assert 'projwfc' in builder


@pytest.mark.qe
def test_concurrent_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    """The concurrent-learning example runs about 30 minutes (training, pw.x at the seed labels' settings; one
    iteration runs for real at test size in tests/workflows/lam/test_concurrent.py): only its builder is checked."""
    builder = build_only('run_concurrent.py', monkeypatch)
    assert builder.system.value == 'Ca-Y' and builder.pressures.get_list() == [150.0, 250.0]
    assert list(builder.models) == ['m0'] and builder.models['m0'].filename == 'seed_se_e2_a.pth'
    assert builder.ensemble_size.value == 4 and builder.max_iterations.value == 1
    assert builder.training_set.label_set == 'seed-v1' and builder.label.settings['label_set'] == 'seed-v1'
    assert builder.select.parameters['max_candidates'] == 4 and builder.train.parameters['steps'] == 500
    assert builder.dp_code.label == 'dp' and builder.pw_code.label == 'pw'


@pytest.mark.qe
def test_concurrent_from_scratch_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    """The from-scratch example runs about an hour: its builder starts without models and without a training set."""
    builder = build_only('run_concurrent_from_scratch.py', monkeypatch)
    assert builder.system.value == 'Li-Mg' and builder.pressures.get_list() == [150.0, 250.0]
    assert not builder.get('models') and builder.get('training_set') is None
    assert builder.initial.parameters['max_frames'] == 24 and builder.train.scratch_parameters['steps'] == 2000
    assert builder.train.scratch_parameters['model']['descriptor']['sel'] == 'auto:1.5'


@pytest.mark.qe
def test_epc_batch_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    """The EPC batch example runs minutes of QE (the batch runs for real at a tiny protocol in
    tests/workflows/epc/test_batch.py): only its group and builder are checked."""
    from aiida import orm

    builder = build_only('run_epc_batch.py', monkeypatch)
    group = orm.load_group(builder.group.value)
    assert sorted(node.label for node in group.nodes) == ['fcc Al', 'simple-cubic Al']
    assert builder.pressure.value == 0.0 and builder.max_concurrent.value == 2
    assert builder.epc.overrides['meta_parameters']['qpoints_mesh'] == [4, 4, 4]
    assert builder.cutoffs.get_list() == [30.0, 240.0]
    build_only('run_epc_batch.py', monkeypatch)  # run again: the group keeps its two structures
    assert len(orm.load_group(builder.group.value).nodes) == 2


@pytest.mark.qe
def test_screen_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    """The screening example runs a search and minutes of pw.x (the cascade runs for real in
    tests/workflows/screen/test_screen.py): its search is skipped and the builder of the cascade checked."""
    import aiida.engine

    def fake_run_get_node(builder, **_):
        if builder.process_class.__name__ == 'SystemSearchWorkChain':
            assert builder.group_label.value == 'hydrides/examples/screen/Ca-Y/200GPa'
            return {'summary': None}, None
        raise Launched(builder)

    monkeypatch.setattr(aiida.engine, 'run_get_node', fake_run_get_node)
    with pytest.raises(Launched) as launched:
        runpy.run_path(str(EXAMPLES / 'run_screen.py'), run_name='__main__')
    builder = launched.value.builder
    assert builder.group.value == 'hydrides/examples/screen/Ca-Y/200GPa'
    assert builder.dft.code.label == 'pw' and builder.dft.protocol.value == 'fast'
    assert builder.phonons.parameters['supercell'] == 'auto'


@pytest.mark.qe
def test_discovery_example_builder(aiida_localhost, pseudo_family, monkeypatch):
    builder = build_only('run_discovery.py', monkeypatch)
    assert builder.system.value == 'Ca-Y' and builder.pressure.value == 200.0
    assert builder.search.compositions.get_list() == ['CaH6', 'YH6']
    assert builder.campaign.value == 'hydrides/examples/discovery/Ca-Y/200GPa'
    assert builder.round1_size.value == 1 and builder.epc.epc.protocol.value == 'fast'
