"""``aiida-hydrides export``: the archive of a finished small campaign, imported into an empty profile, holds the same
nodes (count and UUIDs) with their provenance, and ``candidates`` gives the same table there.

The campaign is that of ``tests/test_candidates.py``: made-up Ca-Y-H minima with their screen records, DFT relaxations,
Tc model and selection, plus the real H3S EPC batch of ``data/tc_dataset/archives/piece-000.aiida``."""

import pandas as pd
import pytest
from aiida import orm
from test_candidates import H3S_EPC_UUID, make_campaign


def _archive_uuids(path) -> set:
    from aiida.tools.archive.abstract import get_format

    with get_format().open(path, 'r') as reader:
        return set(reader.querybuilder().append(orm.Node, project='uuid').all(flat=True))


def test_export_refuses_to_overwrite_and_bad_groups(invoke, tmp_path):
    group, _ = make_campaign(with_h3s=False)
    path = tmp_path / 'campaign.aiida'
    result = invoke('export', group.label, '-o', path)
    assert result.exit_code == 0, result.output
    assert path.is_file() and not (tmp_path / '.campaign.aiida.tmp').exists()
    size = path.stat().st_size

    result = invoke('export', group.label, '-o', path)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '-o' / '--output'" in result.output and 'give --force to overwrite' in result.output
    assert path.stat().st_size == size

    result = invoke('export', group.label, '-o', path, '--force')
    assert result.exit_code == 0, result.output

    for args, message in (
        (['test/campaign/no-such-group', '-o', tmp_path / 'x.aiida'], "no group 'test/campaign/no-such-group'"),
        ([group.label, '-o', tmp_path / 'missing' / 'x.aiida'], 'does not exist'),
        ([group.label, '-o', tmp_path, '--force'], 'is a directory'),
    ):
        result = invoke('export', *args)
        assert result.exit_code == 2, result.output
        assert message in result.output and 'Traceback' not in result.output


def test_archive_round_trip_into_an_empty_profile(invoke, tmp_path, aiida_config, aiida_profile_factory):
    from aiida.tools.archive import import_archive

    from aiida_hydrides.candidates import candidates

    group, nodes = make_campaign()
    label = group.label
    path = tmp_path / 'campaign.aiida'
    result = invoke('export', label, '-o', path)
    assert result.exit_code == 0, result.output

    # what the source profile says, before the profile is switched (its nodes cannot be used after)
    table = candidates(label)
    members = {node.uuid for node in group.nodes}
    exported = _archive_uuids(path)
    assert members <= exported
    # full provenance: the EPC work chain, its calculations and the α²F it made, the codes, the relaxation
    epc = orm.load_node(uuid=H3S_EPC_UUID)
    provenance = {epc.uuid, epc.outputs.a2f.uuid, *(called.uuid for called in epc.called_descendants)}
    provenance |= {epc.inputs.structure.uuid, epc.inputs.structure.creator.uuid}
    assert provenance <= exported
    count = len(exported)
    assert f'{count} with their provenance' in result.output
    assert len(table) == 6

    with aiida_profile_factory(aiida_config):
        assert orm.QueryBuilder().append(orm.Node).count() == 0  # an empty profile
        import_archive(path, create_group=False)
        imported = set(orm.QueryBuilder().append(orm.Node, project='uuid').all(flat=True))
        assert len(imported) == count
        assert imported == exported
        copy = orm.load_group(label)
        assert {node.uuid for node in copy.nodes} == members
        assert orm.load_node(uuid=H3S_EPC_UUID).outputs.a2f.get_x()[1].size > 10
        pd.testing.assert_frame_equal(candidates(label), table)

        result = invoke('candidates', label, '--format', 'csv')
        assert result.exit_code == 0, result.output
        assert len(result.output.strip().splitlines()) == 1 + len(table)
    # back in the source profile: the campaign is there as it was
    assert orm.load_group(label).count() == len(members)


@pytest.fixture(autouse=True)
def _quiet_archive_logs():
    """The archive tools report their progress on the console: keep the test output short."""
    import logging

    logger = logging.getLogger('aiida.export')
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)
