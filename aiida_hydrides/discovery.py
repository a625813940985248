"""Where a discovery campaign stands (``aiida-hydrides status``): its stages, their counts, running and failed jobs,
elapsed and estimated remaining time, read from the campaign group and the provenance of its work chain."""

from __future__ import annotations

from aiida import orm

__all__ = ('STAGES', 'CampaignNotFound', 'campaign_status', 'demo_builder', 'find_campaign')

#: the stages of ``hydrides.discovery`` as (call link label, share of a campaign's time, roughly)
STAGES = (('learn', 0.0), ('search', 0.2), ('screen', 0.2), ('epc_round1', 0.3), ('epc_round2', 0.3))


class CampaignNotFound(LookupError):
    """No campaign group of that label, or no campaign at all."""


def find_campaign(label: str | None = None) -> orm.Group:
    """The campaign group ``label``, or the latest campaign."""
    from aiida_hydrides.extras import HYDRIDES_EXTRA

    query = orm.QueryBuilder().append(
        orm.Group, filters={f'extras.{HYDRIDES_EXTRA}.kind': 'campaign', **({'label': label} if label else {})}
    )
    query.order_by({orm.Group: {'time': 'desc'}}).limit(1)
    found = query.first(flat=True)
    if found is None:
        if label:
            raise CampaignNotFound(f'no campaign group {label!r}; `verdi group list -a` lists the groups')
        raise CampaignNotFound('no discovery campaign in this profile; start one with `aiida-hydrides discover A-B`')
    return found


def _called(workchain, label):
    nodes = [
        node
        for node in workchain.called
        if node.base.attributes.get('metadata_inputs', {}) is not None and _link_label(workchain, node) == label
    ]
    return nodes[-1] if nodes else None


def _link_label(parent, child) -> str | None:
    for link in parent.base.links.get_outgoing().all():
        if link.node.pk == child.pk:
            return link.link_label
    return None


def _state(node) -> str:
    if node is None:
        return 'waiting'
    if not node.is_terminated:
        return 'running'
    if node.is_finished_ok:
        return 'done'
    return f'failed [{node.exit_status}]' if node.is_finished else str(node.process_state.value)


def _counts(label, node) -> dict:
    if node is None or not node.is_terminated:
        if node is None:
            return {}
        children = [child for child in node.called_descendants if isinstance(child, orm.CalcJobNode)]
        return {'jobs': len(children), 'jobs finished': sum(child.is_terminated for child in children)}
    outputs = node.outputs
    if label == 'search' and 'summary' in outputs:
        compositions = outputs.summary.get_dict().get('compositions') or {}
        return {
            'compositions': len(compositions),
            'relaxations': sum(int(entry.get('n_relaxations') or 0) for entry in compositions.values()),
            'minima': sum(int(entry.get('n_minima') or 0) for entry in compositions.values()),
        }
    if label == 'screen' and 'funnel' in outputs:
        funnel = outputs.funnel.get_dict()
        counts = {'structures': funnel.get('n_structures')}
        stages = funnel.get('stages') or []
        if stages:
            counts['candidates'] = stages[0].get('entering')
        counts.update({stage['stage']: stage.get('leaving') for stage in stages})
        counts['survivors'] = len(funnel.get('survivors') or [])
        return counts
    if label.startswith('epc') and 'summary' in outputs:
        return dict(outputs.summary.get_dict().get('counts') or {})
    return {}


def campaign_status(label: str | None = None) -> dict:
    """The status of the campaign ``label`` (default: the latest one): ``{campaign, system, pressure_gpa, state,
    elapsed_s, remaining_s, stages: [{name, state, counts}], running: [...], failed: [...]}``."""
    from aiida.common import timezone

    from aiida_hydrides.extras import get_tags

    group = find_campaign(label)
    tags = get_tags(group)
    query = orm.QueryBuilder().append(orm.Group, filters={'id': group.pk}, tag='g')
    query.append(
        orm.WorkChainNode,
        with_group='g',
        filters={'attributes.process_label': 'DiscoveryWorkChain'},
    )
    query.order_by({orm.WorkChainNode: {'ctime': 'desc'}}).limit(1)
    workchain = query.first(flat=True)
    data = {
        'campaign': group.label,
        'system': tags.get('system'),
        'pressure_gpa': tags.get('pressure_gpa'),
        'workchain': workchain.pk if workchain else None,
        'state': _state(workchain) if workchain else 'not started',
        'stages': [],
        'running': [],
        'failed': [],
        'elapsed_s': 0.0,
        'remaining_s': None,
    }
    if workchain is None:
        return data
    end = workchain.mtime if workchain.is_terminated else timezone.now()
    data['elapsed_s'] = (end - workchain.ctime).total_seconds()
    done_share = 0.0
    total_share = 0.0
    for name, share in STAGES:
        node = _called(workchain, name)
        if name == 'learn' and node is None:
            continue
        state = _state(node)
        data['stages'].append(
            {'name': name, 'state': state, 'pk': node.pk if node else None, 'counts': _counts(name, node)}
        )
        total_share += share
        if state == 'done' or state.startswith('failed'):
            done_share += share
    for node in workchain.called_descendants:
        if isinstance(node, orm.CalcJobNode) and not node.is_terminated:
            data['running'].append(f'{node.process_label}<{node.pk}> {node.label or ""}'.strip())
        elif isinstance(node, orm.ProcessNode) and node.is_finished and not node.is_finished_ok:
            data['failed'].append(
                f'{node.process_label}<{node.pk}> exit {node.exit_status}: {node.exit_message or ""}'.strip()
            )
    if not workchain.is_terminated and 0 < done_share < total_share:
        data['remaining_s'] = data['elapsed_s'] * (total_share - done_share) / done_share
    return data


#: the slice of Ca-Y-H that ``make demo`` (and ``benchmarks/discovery_demo.py``) discovers at 200 GPa
DEMO_SYSTEM = 'Ca-Y'
DEMO_COMPOSITIONS = ('CaH6', 'YH6')
DEMO_PRESSURE_GPA = 200.0


def demo_builder(computer='localhost', campaign: str | None = None, mpiprocs: int | None = None):
    """The builder of the demonstration discovery: CaH6 and YH6 of Ca-Y-H at 200 GPa with the ``demo`` protocol of
    ``hydrides.discovery`` (codes and the offline pseudopotential family are created when missing)."""
    from aiida_hydrides.codes import ensure_codes, ensure_lam_code
    from aiida_hydrides.pseudos import ensure_pseudo_family
    from aiida_hydrides.workflows.discovery.base import DiscoveryWorkChain

    codes = ensure_codes(computer, shorts=['pw', 'ph', 'q2r', 'matdyn'])
    codes['lam'] = ensure_lam_code(computer)
    family = ensure_pseudo_family()
    mpiprocs = mpiprocs or codes['pw'].computer.get_default_mpiprocs_per_machine() or 1
    return DiscoveryWorkChain.get_builder_from_protocol(
        codes,
        DEMO_SYSTEM,
        pressure=DEMO_PRESSURE_GPA,
        protocol='demo',
        compositions=list(DEMO_COMPOSITIONS),
        campaign=campaign,
        pseudo_family=family.label,
        options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}},
    )
