"""The two-stage selection of :mod:`aiida_hydrides.core.tc_model.selection` on the structures of a group, every choice
recorded on the structure it concerns as ``extras.hydrides.selection``.

What a structure contributes (:func:`candidate_from_node`):

* the hydrogen share of N(E_F): ``extras.hydrides.hydrogen_share_of_dos_ef`` (a cheap SCF with projwfc.x), else the
  ``projected_dos`` output (``fraction_H``) of its EPC work chain (``extras.hydrides.epc.epc_uuid``); else unknown;
* space group and atoms: its ``hydrides`` extra, else spglib on the structure;
* E_hull: the screening's DFT value (``screen.dft_hull.value``), else its LAM value (``screen.lam_hull.value``), else
  ``e_hull_mev``;
* the predicted Tc: ``extras.hydrides.tc_model = {tc_mean_K, tc_spread_K, ...}`` written by
  ``hydrides.tc_model.predict``.

:func:`rank_group` with ``stage=1`` ranks every structure of the group by the rules; with ``stage=2`` it ranks the
structures that stage 1 did not select and that have no EPC result yet by the predicted Tc. With a budget, the first
``budget`` are ``selected``. Each ranked structure gets ``extras.hydrides.selection = {stage, rank, rule, score, kappa,
selected, budget, group, rules, details}`` (``rules``: the stage-1 rules used); a structure left out of stage 2 for want of a prediction or above the E_hull limit
gets ``rank: None``, ``selected: False`` and the reason as its ``rule``.
"""

from __future__ import annotations

import math

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_model.selection import Candidate, Stage1Rules, rank_stage1, rank_stage2

__all__ = ('PREDICTION_KEY', 'SELECTION_KEY', 'SHARE_KEY', 'candidate_from_node', 'group_structures', 'rank_group')

#: ``extras.hydrides`` key of a recorded choice
SELECTION_KEY = 'selection'
#: ``extras.hydrides`` key of the Tc prediction of ``hydrides.tc_model.predict``
PREDICTION_KEY = 'tc_model'
#: ``extras.hydrides`` key of the hydrogen share of N(E_F) from a cheap SCF (projwfc.x)
SHARE_KEY = 'hydrogen_share_of_dos_ef'
#: statuses of the batch's ``epc`` record that mean the structure has an EPC result
_EPC_RESULTS = ('done', 'unstable')


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _epc_share(tags: dict) -> float | None:
    """``fraction_H`` of the ``projected_dos`` output of the EPC work chain recorded on a structure."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    epc_uuid = (tags.get('epc') or {}).get('epc_uuid')
    if not epc_uuid:
        return None
    try:
        node = orm.load_node(epc_uuid)
    except NotExistent:
        return None
    if 'projected_dos' not in node.outputs:
        return None
    return _finite(node.outputs.projected_dos.get_dict().get('fraction_H'))


def _has_epc_result(tags: dict) -> bool:
    record = tags.get('epc') or {}
    status = record.get('reused_status') if record.get('status') == 'skipped' else record.get('status')
    return status in _EPC_RESULTS


def candidate_from_node(node) -> tuple[Candidate, dict]:
    """The :class:`~aiida_hydrides.core.tc_model.selection.Candidate` of a ``StructureData`` (named by its UUID) and
    where its values came from."""
    from aiida_hydrides.core.descriptors import space_group
    from aiida_hydrides.extras import get_tags
    from aiida_hydrides.tc_records import e_hull_from_tags

    tags = get_tags(node)
    atoms = node.get_ase()
    symbols = atoms.get_chemical_symbols()
    origin = {}
    share = _finite(tags.get(SHARE_KEY))
    if share is not None:
        origin['h_dos_share'] = 'cheap_scf'
    else:
        share = _epc_share(tags)
        origin['h_dos_share'] = 'epc' if share is not None else None
    number = tags.get('space_group_number') or (tags.get('screen') or {}).get('symmetry', {}).get('value')
    if not isinstance(number, int) or isinstance(number, bool):
        try:
            number = space_group(atoms)[0]
        except HydridesInputError:
            number = None
    e_hull, origin['e_hull'] = e_hull_from_tags(tags)
    prediction = tags.get(PREDICTION_KEY) or {}
    candidate = Candidate(
        name=node.uuid,
        natoms=len(symbols),
        space_group_number=number,
        hydrogen_share_of_dos_ef=share,
        hydrogen_fraction=symbols.count('H') / len(symbols) if symbols else None,
        e_hull_mev=e_hull,
        tc_mean_k=_finite(prediction.get('tc_mean_K')),
        tc_spread_k=_finite(prediction.get('tc_spread_K')),
    )
    return candidate, origin


def group_structures(group) -> tuple[object, list]:
    """The group (label, PK, UUID or ``Group``) and its ``StructureData``, oldest first."""
    from aiida import orm

    from aiida_hydrides.tc_records import _load_group

    group_node = _load_group(group)
    query = orm.QueryBuilder().append(orm.Group, filters={'id': group_node.pk}, tag='group')
    query.append(orm.StructureData, with_group='group', project='*')
    query.order_by({orm.StructureData: {'ctime': 'asc'}})
    return group_node, [node for (node,) in query.iterall()]


def rank_group(
    group,
    stage: int = 1,
    kappa: float = 0.0,
    budget: int | None = None,
    e_hull_max_mev: float | None = None,
    rules: Stage1Rules | None = None,
    record: bool = True,
) -> dict:
    """Rank the structures of ``group`` with stage ``stage`` and (``record``) store every choice on its structure.

    :param budget: the first ``budget`` ranked are ``selected`` (default: all)
    :return: ``{group, stage, kappa, budget, rules, recorded, rows, left_out}`` (``recorded``: how many structures got
        a record); a row is a choice (``name`` is the structure's UUID)
        with ``pk``, ``formula``, ``selected`` and, for stage 1, where the H share came from
    :raises HydridesInputError: for an unknown or empty group, a bad stage, budget or kappa, or a stage 2 where no
        structure has a Tc prediction
    """
    from aiida_hydrides.extras import get_tags, tag_node

    if stage not in (1, 2):
        raise HydridesInputError(f'the stage must be 1 or 2, got {stage!r}')
    if budget is not None and budget < 1:
        raise HydridesInputError(f'the budget must be at least 1, got {budget}')
    group_node, nodes = group_structures(group)
    if not nodes:
        raise HydridesInputError(f'the group {group_node.label!r} holds no structure (StructureData)')
    by_uuid = {node.uuid: node for node in nodes}
    candidates, origins = {}, {}
    for node in nodes:
        candidates[node.uuid], origins[node.uuid] = candidate_from_node(node)

    left_out = []
    if stage == 1:
        choices = rank_stage1(candidates.values(), rules)
        kappa_used = None
    else:
        exclude = {}
        for uuid, node in by_uuid.items():
            tags = get_tags(node)
            previous = tags.get(SELECTION_KEY) or {}
            if previous.get('stage') == 1 and previous.get('selected'):
                exclude[uuid] = 'selected by stage 1'
            elif _has_epc_result(tags):
                exclude[uuid] = 'has an EPC result'
        pool = [candidate for uuid, candidate in candidates.items() if uuid not in exclude]
        if not pool:
            raise HydridesInputError(
                f'every structure of {group_node.label!r} was selected by stage 1 or has an EPC result: nothing is '
                'left for stage 2'
            )
        if all(candidate.tc_mean_k is None for candidate in pool):
            raise HydridesInputError(
                f'none of the {len(pool)} structures of {group_node.label!r} left for stage 2 has a Tc prediction '
                f'(extras.hydrides.{PREDICTION_KEY}); predict them first with `hydrides.tc_model.predict`'
            )
        choices, left_out = rank_stage2(pool, kappa, e_hull_max_mev)
        left_out += [{'name': uuid, 'reason': reason} for uuid, reason in exclude.items()]
        kappa_used = float(kappa)

    rules_used = (rules or Stage1Rules()).describe() if stage == 1 else None
    rows, recorded = [], 0
    for choice in choices:
        node = by_uuid[choice.name]
        selected = budget is None or choice.rank <= budget
        row = {
            **choice.as_dict(),
            'pk': node.pk,
            'formula': node.get_formula(mode='hill_compact'),
            'selected': selected,
        }
        if stage == 1:
            row['details']['h_dos_share_from'] = origins[choice.name]['h_dos_share']
        elif origins[choice.name]['e_hull']:
            row['details']['e_hull_from'] = origins[choice.name]['e_hull']
        rows.append(row)
        if record:
            tag_node(
                node,
                **{
                    SELECTION_KEY: {
                        'stage': stage,
                        'rank': choice.rank,
                        'rule': choice.rule,
                        'score': choice.score,
                        'kappa': kappa_used,
                        'selected': selected,
                        'budget': budget,
                        'group': group_node.label,
                        'rules': rules_used,
                        'details': row['details'],
                    }
                },
            )
            recorded += 1
    for item in left_out:
        node = by_uuid[item['name']]
        item.update(pk=node.pk, formula=node.get_formula(mode='hill_compact'))
        if record and item['reason'] not in ('selected by stage 1', 'has an EPC result'):
            tag_node(
                node,
                **{
                    SELECTION_KEY: {
                        'stage': stage,
                        'rank': None,
                        'rule': item['reason'],
                        'score': None,
                        'kappa': kappa_used,
                        'selected': False,
                        'budget': budget,
                        'group': group_node.label,
                    }
                },
            )
            recorded += 1
    return {
        'group': group_node.label,
        'stage': stage,
        'kappa': kappa_used,
        'budget': budget,
        'rules': rules_used,
        'recorded': recorded,
        'rows': rows,
        'left_out': left_out,
    }
