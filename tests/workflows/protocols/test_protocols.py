"""Regression tests of the protocol builders: what ``get_builder_from_protocol`` produces for every protocol.

The builders' inputs are reduced to plain data (codes by plugin, pseudopotentials by element and file, k-point meshes,
structures by formula) and compared with the files in ``test_protocols/``. A change of a protocol file or of a builder
shows up here as a readable diff; regenerate with ``pytest --force-regen`` after checking it is intended.
"""

import pathlib

import pytest
from aiida import orm
from aiida.engine.processes.builder import ProcessBuilderNamespace

from aiida_hydrides.core.prototypes import h3s_primitive
from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain
from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain
from aiida_hydrides.workflows.protocols import UnknownOverrideError
from aiida_hydrides.workflows.screen.base import ScreenWorkChain
from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

PROTOCOLS = ('fast', 'moderate', 'precise')
#: the EPC work chain has a checked screening protocol besides the three common ones
EPC_PROTOCOLS = (*PROTOCOLS, 'screening')
TINY_MODEL = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'lam' / 'tiny_se_e2_a.pth'


def serialize(value):
    """Plain data of a builder, or of one of its inputs."""
    from aiida_pseudo.data.pseudo import PseudoPotentialData

    if isinstance(value, (ProcessBuilderNamespace, dict)):
        items = {key: serialize(item) for key, item in value.items()}
        return {key: item for key, item in items.items() if item not in (None, {})}
    if isinstance(value, orm.AbstractCode):
        return f'code:{value.default_calc_job_plugin}'
    if isinstance(value, PseudoPotentialData):
        return f'{value.element}:{value.filename}'
    if isinstance(value, orm.KpointsData):
        try:
            mesh, offset = value.get_kpoints_mesh()
            return {'mesh': list(mesh), 'offset': list(offset)}
        except AttributeError:
            return {'kpoints': len(value.get_kpoints())}
    if isinstance(value, orm.StructureData):
        return f'structure:{value.get_formula()}'
    if isinstance(value, orm.SinglefileData):
        return f'file:{value.filename}'
    if isinstance(value, orm.Dict):
        return value.get_dict()
    if isinstance(value, orm.List):
        return value.get_list()
    if isinstance(value, (orm.Float, orm.Int, orm.Str, orm.Bool)):
        return value.value
    if isinstance(value, (list, tuple)):
        return [serialize(item) for item in value]
    return value


@pytest.fixture
def pw_code(aiida_code_installed):
    return aiida_code_installed(label='protocol-pw', default_calc_job_plugin='quantumespresso.pw', with_mpi=True)


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_dft_enthalpy_builder(protocol, pw_code, pseudo_family, data_regression):
    structure = orm.StructureData(ase=h3s_primitive())
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        pw_code,
        structure,
        pressure='2000 kbar',
        protocol=protocol,
        pseudo_family=pseudo_family.label,
        options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 2}},
    )
    data_regression.check(serialize(builder))


@pytest.mark.parametrize('protocol', EPC_PROTOCOLS)
def test_epc_builder(protocol, fake_codes, pseudo_family, data_regression):
    structure = orm.StructureData(ase=h3s_primitive())
    builder = ElectronPhononWorkChain.get_builder_from_protocol(
        fake_codes, structure, protocol=protocol, pseudo_family=pseudo_family.label, npool=2
    )
    data_regression.check(serialize(builder))


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_search_system_builder(protocol, aiida_localhost, data_regression):
    from aiida_hydrides.codes import ensure_lam_code

    builder = SystemSearchWorkChain.get_builder_from_protocol(
        ensure_lam_code(aiida_localhost), 'Ca-Y', TINY_MODEL, pressure=200, protocol=protocol
    )
    data_regression.check(serialize(builder))


@pytest.mark.parametrize('protocol', PROTOCOLS)
def test_screen_builder(protocol, aiida_localhost, pw_code, data_regression):
    from aiida_hydrides.codes import ensure_lam_code

    builder = ScreenWorkChain.get_builder_from_protocol(
        ensure_lam_code(aiida_localhost), 'hydrides/search/Ca-Y/200GPa', pw_code=pw_code, protocol=protocol
    )
    data_regression.check(serialize(builder))


@pytest.mark.parametrize(
    ('workchain', 'overrides', 'key'),
    [
        (DftEnthalpyWorkChain, {'kpoint_distance': 0.3}, 'kpoint_distance'),
        (DftEnthalpyWorkChain, {'bfgs': {'CEL': {}}}, 'bfgs.CEL'),
        (ElectronPhononWorkChain, {'meta_parameters': {'qpoint_distance': 0.5}}, 'meta_parameters.qpoint_distance'),
        (SystemSearchWorkChain, {'window': 50.0}, 'window'),
        (ScreenWorkChain, {'phonon': {}}, 'phonon'),
    ],
)
def test_unknown_override_key_refused(workchain, overrides, key):
    """A misspelt override key is refused with a message naming it (never silently dropped)."""
    with pytest.raises(UnknownOverrideError, match=f'unknown override key `{key}`'):
        workchain.get_protocol_inputs('fast', overrides)


@pytest.mark.parametrize(
    ('workchain', 'overrides'),
    [
        (DftEnthalpyWorkChain, {'kpoints_distance': 0.3, 'relax': {'base_relax': {'pw': {'parameters': {}}}}}),
        (DftEnthalpyWorkChain, {'bfgs': {'CELL': {'cell_dofree': 'ibrav'}}}),
        (
            ElectronPhononWorkChain,
            {'meta_parameters': {'kpoints_mesh': [4, 4, 4]}, 'scf': {'pw': {'parameters': {'SYSTEM': {'nbnd': 12}}}}},
        ),
        (SystemSearchWorkChain, {'parameters': {'budget': 4}, 'window_mev': 50.0}),
    ],
)
def test_known_override_keys_accepted(workchain, overrides):
    workchain.get_protocol_inputs('fast', overrides)
