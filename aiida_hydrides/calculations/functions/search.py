"""Calcfunctions of the system search: chosen structures of search jobs as ``StructureData``
(``hydrides.search.minima``) and the summary of a system search (``hydrides.search.summary``)."""

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('extract_minima', 'collect_search_summary')


@calcfunction
def extract_minima(selection, **batches):
    """``StructureData`` of chosen structures of search jobs: ``batches`` are array outputs of ``SearchCalculation``
    jobs (their ``minima`` or ``samples``), each under a key of ``selection`` (a ``Dict``: key -> list of indices in
    that array node); the structure at index ``k`` of ``batches[key]`` is returned as ``<key>_<k>``.

    The system search promotes the minima that can pass the LAM hull with it, and
    :func:`aiida_hydrides.workflows.search.minima.promote` any other structure on request: in both cases the
    provenance leads from each structure to the array node of its job.
    """
    from aiida_hydrides.data.structure_batch import structures_at

    results = {}
    for key, indices in selection.get_dict().items():
        node = batches[key]
        arrays = {name: node.get_array(name) for name in node.get_arraynames()}
        pressure = node.base.attributes.get('pressure_gpa', None)
        indices = [int(index) for index in indices]
        for index, atoms in zip(indices, structures_at(arrays, indices), strict=True):
            structure = orm.StructureData(ase=atoms)
            formula = str(arrays['formula'][index]) if 'formula' in arrays else atoms.get_chemical_formula()
            symbol = str(arrays['space_group_symbol'][index]) if 'space_group_symbol' in arrays else None
            structure.label = f'{formula} {symbol}' if symbol else formula
            above = (
                f', {float(arrays["relative_mev"][index]):.1f} meV/atom above the best of the search'
                if ('relative_mev' in arrays)
                else ''
            )
            structure.description = (
                f'{formula} ({symbol + ", " if symbol else ""}{len(atoms)} atoms): H = '
                f'{float(arrays["enthalpy_per_atom"][index]):.6f} eV/atom{above} at {pressure} GPa'
            )
            results[f'{key}_{index}'] = structure
    return results


@calcfunction
def collect_search_summary(info, **summaries):
    """The summary of a system search: per composition the best enthalpy, space group, relaxations and minima,
    taken from the ``summary`` outputs of the jobs (``summaries``, keyed ``job_<pk>``) that searched it.

    ``info`` holds ``system``, ``pressure_gpa``, ``group``, ``group_uuid``, ``model``, ``compositions`` (the formulas
    of the search), ``skipped`` (found finished in the group), ``excluded``, ``failed_jobs``, ``window_mev``,
    ``promote_ehull_mev``, ``promoted`` (formula -> minima of it in the group as ``StructureData``) and ``sources``
    (formula -> uuid of the job whose result counts, for the compositions recorded as finished).
    """
    info = info.get_dict()
    sources = info.pop('sources', {})
    promoted = info.pop('promoted', {})
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
                'n_promoted': promoted.get(formula, 0),
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
        n_promoted=sum(entry.get('n_promoted') or 0 for entry in compositions.values()),
    )
    return orm.Dict(summary)
