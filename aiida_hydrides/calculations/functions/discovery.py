"""Calcfunction of the discovery (``hydrides.discovery``): its ranked candidates, from the cascade's survivors and the
summaries of its EPC rounds."""

from aiida import orm
from aiida.engine import calcfunction

from aiida_hydrides.core.discovery import rank_candidates
from aiida_hydrides.extras import get_tags

__all__ = ('collect_discovery',)


@calcfunction
def collect_discovery(**kwargs):
    """The candidates of a discovery, ranked (:func:`aiida_hydrides.core.discovery.rank_candidates`).

    Inputs: ``survivor_<i>`` (the survivors of the cascade, StructureData), ``round<r>`` (the summaries of the EPC
    batches, Dict) and ``stages`` (the counts of the stages before, Dict); outputs ``candidates`` and ``funnel`` (the
    stages' counts with those of the EPC rounds). A survivor's screening values, predicted Tc and selection are read from its ``hydrides`` extra;
    its EPC result from the latest batch summary that computed it.
    """
    results = {}
    for name in sorted(key for key in kwargs if key.startswith('round')):
        for record in kwargs[name].get_dict().get('structures') or []:
            results[record['uuid']] = {**record, 'round': int(name[len('round') :])}
    rows = []
    for name in sorted(key for key in kwargs if key.startswith('survivor_')):
        node = kwargs[name]
        tags = get_tags(node)
        screen = tags.get('screen') or {}
        row = {
            'uuid': node.uuid,
            'formula': tags.get('formula') or node.get_formula(mode='hill_compact'),
            'cell_formula': node.get_formula(mode='hill_compact'),
            'space_group': tags.get('space_group_symbol'),
            'space_group_number': tags.get('space_group_number'),
            'natoms': len(node.sites),
            'ehull_lam_mev': (screen.get('lam_hull') or {}).get('value'),
            'ehull_dft_mev': (screen.get('dft_hull') or {}).get('value'),
            'tc_predicted_K': (tags.get('tc_model') or {}).get('tc_mean_K'),
            'tc_spread_K': (tags.get('tc_model') or {}).get('tc_spread_K'),
            'selection': tags.get('selection'),
        }
        result = results.get(node.uuid)
        if result is not None:
            row.update(
                {
                    'status': result.get('status'),
                    'round': result['round'],
                    'lambda': result.get('lambda'),
                    'omega_log_K': result.get('omega_log_K'),
                    'tc_allen_dynes_K_mu0_10': result.get('tc_allen_dynes_K_mu0_10'),
                    'tc_allen_dynes_K_mu0_13': result.get('tc_allen_dynes_K_mu0_13'),
                    'tc_eliashberg_K_mu0_10': result.get('tc_eliashberg_K_mu0_10'),
                    'min_frequency_cm': result.get('min_frequency_cm'),
                    'epc_uuid': result.get('epc_uuid'),
                    'relaxed_structure_uuid': result.get('relaxed_structure_uuid'),
                }
            )
        else:
            row['status'] = 'not computed'
        rows.append(row)
    ranked = rank_candidates(rows)
    funnel = dict(kwargs['stages'].get_dict()) if 'stages' in kwargs else {}
    funnel.update(
        survivors=len(ranked),
        epc_done=sum(row['status'] == 'done' for row in ranked),
        epc_unstable=sum(row['status'] == 'unstable' for row in ranked),
        epc_failed=sum(row['status'] == 'failed' for row in ranked),
    )
    return {'candidates': orm.Dict({'candidates': ranked}), 'funnel': orm.Dict(funnel)}
