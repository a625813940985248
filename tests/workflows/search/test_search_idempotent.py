"""A search group never holds a structure twice: two system searches of the same composition into the same group at
the same time (as a resumed run beside a revived one), one of which inspects its jobs and promotes its minima twice
(as a repaired run that goes through the same steps again), leave the minima of exactly one job in the group, the one
its record names."""

import pathlib

from aiida import orm
from aiida.engine import WorkChain, run_get_node

from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

TINY_MODEL = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'lam' / 'tiny_se_e2_a.pth'
GROUP = 'test/search/idempotent/Ca-Y/200GPa'
PARAMETERS = {'budget': 4, 'population': 4, 'max_atoms': 14, 'max_steps': 10, 'seed': 0}


class InspectingTwice(SystemSearchWorkChain):
    """A system search that goes through the results of its jobs twice, and promotes twice."""

    def inspect_jobs(self):
        super().inspect_jobs()
        super().inspect_jobs()

    def promote(self):
        super().promote()
        super().promote()


class TwoSearches(WorkChain):
    """Runs two system searches with the same inputs side by side."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(SystemSearchWorkChain)
        spec.outline(cls.run_both, cls.done)

    def run_both(self):
        inputs = self.exposed_inputs(SystemSearchWorkChain)
        return self.to_context(
            first=self.submit(InspectingTwice, **inputs), second=self.submit(SystemSearchWorkChain, **inputs)
        )

    def done(self):
        for name in ('first', 'second'):
            if not self.ctx[name].is_finished_ok:
                return self.exit_codes.ERROR_UNSPECIFIED  # noqa: RET503 - checked by the test
        return None


def test_concurrent_and_repeated_inspection_add_each_minimum_once(aiida_localhost):
    from aiida_hydrides.codes import ensure_lam_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    _, node = run_get_node(
        TwoSearches,
        system=orm.Str('Ca-Y'),
        pressure=orm.Float(200.0),
        model=orm.SinglefileData(TINY_MODEL),
        code=ensure_lam_code(aiida_localhost),
        parameters=orm.Dict(PARAMETERS),
        compositions=orm.List(['YH6']),
        group_label=orm.Str(GROUP),
    )
    searches = [child for child in node.called if isinstance(child, orm.WorkflowNode)]
    assert len(searches) == 2 and all(search.is_finished_ok for search in searches), [s.exit_message for s in searches]
    calcs = [
        descendant.uuid
        for search in searches
        for descendant in search.called_descendants
        if descendant.process_type == 'aiida.calculations:hydrides.search' and descendant.is_finished_ok
    ]
    assert len(calcs) == 2  # both searched YH6: they started before either had finished

    group = orm.load_group(GROUP)
    record = group.base.extras.get('hydrides')['finished']['YH6']
    tags = [structure.base.extras.get('hydrides') for structure in group.nodes]
    assert tags and {tag['calc_uuid'] for tag in tags} == {record['calc_uuid']}
    # YH6 without Y or H: the minima within the threshold of the best YH6 (a lower bound of their E_hull)
    relative = orm.load_node(record['calc_uuid']).outputs.minima.get_array('relative_mev')
    assert len(tags) == int((relative <= 50.0).sum()) and record['n_minima'] == len(relative)
    assert len({(tag['formula'], tag['sample_index']) for tag in tags}) == len(tags)
    for search in searches:  # both summaries name the job whose minima are in the group
        assert search.outputs.summary['compositions']['YH6']['calc_uuid'] == record['calc_uuid']

    def search_again():
        _, node = run_get_node(
            SystemSearchWorkChain,
            system=orm.Str('Ca-Y'),
            pressure=orm.Float(200.0),
            model=orm.SinglefileData(TINY_MODEL),
            code=ensure_lam_code(aiida_localhost),
            parameters=orm.Dict(PARAMETERS),
            compositions=orm.List(['YH6']),
            group_label=orm.Str(GROUP),
        )
        assert node.is_finished_ok and node.outputs.summary['n_skipped'] == 1
        assert not [n for n in node.called_descendants if n.process_type == 'aiida.calculations:hydrides.search']
        return {structure.base.extras.get('hydrides')['calc_uuid'] for structure in orm.load_group(GROUP).nodes}

    # once more: the composition is finished, nothing is searched or added
    assert search_again() == {record['calc_uuid']} and len(orm.load_group(GROUP).nodes) == len(tags)

    # a run stopped after recording the job and before adding its minima: the next run restores them from the job
    group.remove_nodes(list(group.nodes))
    assert search_again() == {record['calc_uuid']} and len(orm.load_group(GROUP).nodes) == len(tags)
