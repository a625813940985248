"""Calcfunctions of the system search: the minima of a search job as ``StructureData`` (``hydrides.search.minima``)
and the summary of a system search (``hydrides.search.summary``)."""

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('extract_minima', 'collect_search_summary')


@calcfunction
def extract_minima(minima):
    """One ``StructureData`` per structure of a search job's ``minima`` output (``minimum_<k>``, in file order)."""
    from aiida_hydrides.data.structure_batch import array_to_structures, batch_arrays

    arrays = batch_arrays(minima)
    results = {}
    for k, atoms in enumerate(array_to_structures(minima)):
        structure = orm.StructureData(ase=atoms)
        formula = str(arrays['formula'][k])
        symbol = str(arrays['space_group_symbol'][k])
        structure.label = f'{formula} {symbol}'
        structure.description = (
            f'{formula} ({symbol}, {int(arrays["natoms"][k])} atoms): H = {float(arrays["enthalpy_per_atom"][k]):.6f} '
            f'eV/atom, {float(arrays["relative_mev"][k]):.1f} meV/atom above the best of the search '
            f'at {minima.base.attributes.get("pressure_gpa", None)} GPa'
        )
        results[f'minimum_{k}'] = structure
    return results


@calcfunction
def collect_search_summary(info, **summaries):
    """The summary of a system search: per composition the best enthalpy, space group, relaxations and minima,
    taken from the ``summary`` outputs of the jobs (``summaries``, keyed ``job_<pk>``) that searched it.

    ``info`` holds ``system``, ``pressure_gpa``, ``group``, ``group_uuid``, ``model``, ``compositions`` (the formulas
    of the search), ``skipped`` (found finished in the group), ``excluded``, ``failed_jobs`` and ``sources`` (formula
    -> uuid of the job whose result counts, for the compositions recorded as finished).
    """
    info = info.get_dict()
    sources = info.pop('sources', {})
    entries = {}
    for node in summaries.values():
        calc_uuid = node.creator.uuid if node.creator is not None else None
        for entry in node.get_dict().get('compositions', []):
            formula = entry['formula']
            if formula not in info['compositions'] or sources.get(formula, calc_uuid) != calc_uuid:
                continue
            entries[formula] = {
                'status': 'skipped' if formula in info['skipped'] else entry.get('status'),
                'error': entry.get('error'),
                'best_enthalpy_per_atom': entry.get('best_enthalpy_per_atom'),
                'best_space_group_number': entry.get('best_space_group_number'),
                'best_space_group_symbol': entry.get('best_space_group_symbol'),
                'best_natoms': entry.get('best_natoms'),
                'n_relaxations': entry.get('n_relaxations'),
                'n_minima': entry.get('n_minima'),
                'wall_s': entry.get('wall_s'),
                'calc_uuid': calc_uuid,
            }
    compositions = {formula: entries.get(formula, {'status': 'missing'}) for formula in info['compositions']}
    statuses = [entry['status'] for entry in compositions.values()]
    summary = dict(info)
    summary.update(
        compositions=compositions,
        n_compositions=len(compositions),
        n_searched=statuses.count('finished'),
        n_skipped=statuses.count('skipped'),
        n_failed=statuses.count('failed'),
        n_missing=statuses.count('missing'),
        n_minima=sum(entry.get('n_minima') or 0 for entry in compositions.values()),
    )
    return orm.Dict(summary)
