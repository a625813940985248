"""From a LAM search minimum to its DFT enthalpy without leaving the provenance graph: a real search stores the
minimum, ``aiida-hydrides dft-enthalpy <PK>`` relaxes that very node with pw.x, and the relaxed structure is linked to
it in the graph and tagged with ``method = 'dft'`` beside the minimum's ``method = 'lam'``."""

import pytest
from aiida import orm
from aiida.engine import run_get_node
from click.testing import CliRunner


@pytest.mark.slow
@pytest.mark.qe
def test_dft_enthalpy_of_a_stored_search_minimum(aiida_profile, aiida_localhost, qe_codes, pseudo_family):
    from aiida_hydrides.cli import cli
    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.models import seed_model_path
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    builder = SystemSearchWorkChain.get_builder_from_protocol(
        ensure_lam_code(aiida_localhost),
        'Ca-Y',
        seed_model_path(),
        pressure=200,
        protocol='fast',
        compositions=['Y'],
        group_label='test/search-to-dft',
        overrides={'parameters': {'budget': 4, 'population': 4, 'max_atoms': 2, 'max_steps': 60}},
    )
    _, search = run_get_node(builder)
    assert search.is_finished_ok, search.exit_message
    query = orm.QueryBuilder().append(orm.Group, filters={'label': 'test/search-to-dft'}, tag='group')
    query.append(orm.StructureData, with_group='group', filters={'extras.hydrides.method': 'lam'})
    minimum = query.first(flat=True)
    assert minimum is not None and minimum.base.extras.get('hydrides')['formula'] == 'Y'

    result = CliRunner().invoke(
        cli,
        [
            'dft-enthalpy',
            str(minimum.pk),
            '--pressure',
            '200',
            '--protocol',
            'fast',
            '--computer',
            aiida_localhost.label,
        ],
    )
    assert result.exit_code == 0, result.output

    # the work chain took the stored minimum itself as its input, and its relaxed structure points back to it
    workchain = (
        orm.QueryBuilder()
        .append(DftEnthalpyWorkChain, filters={'attributes.exit_status': 0}, tag='wc', project='*')
        .append(orm.StructureData, with_outgoing='wc', filters={'uuid': minimum.uuid})
        .first(flat=True)
    )
    assert workchain is not None
    relaxed = workchain.outputs.relaxed_structure
    tags = relaxed.base.extras.get('hydrides')
    assert tags['method'] == 'dft' and tags['kind'] == 'dft_relaxed' and tags['source_uuid'] == minimum.uuid
    assert tags['formula'] == 'Y' and tags['system'] == 'Ca-Y' and tags['pressure_gpa'] == 200.0
    assert 'enthalpy_dft_ev' in tags and 'enthalpy_lam_ev' not in tags, (tags, relaxed.uuid, minimum.uuid)
    linked = (
        orm.QueryBuilder()
        .append(orm.StructureData, filters={'uuid': minimum.uuid}, tag='minimum')
        .append(DftEnthalpyWorkChain, with_incoming='minimum', tag='wc')
        .append(orm.StructureData, with_incoming='wc', project='uuid')
        .all(flat=True)
    )
    assert relaxed.uuid in linked
