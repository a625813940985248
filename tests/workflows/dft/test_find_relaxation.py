"""Which earlier DFT relaxation counts as the relaxation of a structure (reused by the screen and the EPC batch): the
same pressure, protocol, family and overrides, nothing looser."""

import uuid

import pytest
from aiida import orm

from aiida_hydrides.extras import tag_node
from aiida_hydrides.workflows.dft.enthalpy import find_dft_relaxation, protocol_tag


def _structure():
    node = orm.StructureData(cell=[[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]])
    node.append_atom(position=(0, 0, 0), symbols='Y')
    node.label = f'test-find-relaxation-{uuid.uuid4().hex[:8]}'
    return node.store()


def _relaxed(source, protocol='fast', family='family', overrides=None, pressure=200.0):
    node = _structure()
    tag_node(
        node,
        kind='dft_relaxed',
        method='dft',
        pressure_gpa=pressure,
        enthalpy_dft_ev=-1.0,
        protocol=protocol_tag(protocol, family, overrides),
        source_uuid=source.uuid,
    )
    return node


def test_protocol_tag_records_overrides_only_where_there_are_some():
    assert protocol_tag('fast', 'f') == {'name': 'fast', 'pseudo_family': 'f'}
    assert protocol_tag('fast', 'f', {}) == {'name': 'fast', 'pseudo_family': 'f'}
    assert protocol_tag('fast', 'f', {'kpoints_distance': 0.4})['overrides'] == {'kpoints_distance': 0.4}


@pytest.mark.usefixtures('aiida_profile')
def test_a_relaxation_is_found_only_with_the_same_settings():
    source = _structure()
    plain = _relaxed(source)
    coarse = _relaxed(source, overrides={'kpoints_distance': 0.4})
    assert find_dft_relaxation(source.uuid, 200.0, 'fast', 'family')[0].uuid == plain.uuid
    found, tags = find_dft_relaxation(source.uuid, 200.0, 'fast', 'family', {'kpoints_distance': 0.4})
    assert found.uuid == coarse.uuid and tags['enthalpy_dft_ev'] == -1.0
    for args in (
        (200.0, 'fast', 'family', {'kpoints_distance': 0.3}),
        (200.0, 'moderate', 'family', None),
        (200.0, 'fast', 'other-family', None),
        (150.0, 'fast', 'family', None),
    ):
        assert find_dft_relaxation(source.uuid, *args) is None, args
    assert find_dft_relaxation(_structure().uuid, 200.0, 'fast', 'family') is None
