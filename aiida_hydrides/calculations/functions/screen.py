"""Calcfunctions of the filter cascade (``hydrides.screen``): the phase diagrams of each method, the LAM-vs-DFT
comparison, the prototypes of the candidates and the funnel."""

from aiida import orm
from aiida.engine import calcfunction

__all__ = (
    'build_phase_diagram',
    'compare_phase_diagrams',
    'classify_prototypes',
    'collect_funnel',
    'symmetrize_structure',
)


@calcfunction
def build_phase_diagram(entries, pressure, method):
    """The convex hull of ``entries`` (a ``Dict``: key -> ``{formula, enthalpy_per_atom, uuid}``, enthalpies in
    eV/atom at ``pressure`` GPa) computed with ``method`` (``lam`` or ``dft``), with pymatgen's phase diagram.

    The result holds ``method``, ``pressure_gpa``, ``elements``, ``points`` (key -> ``formula``, ``reduced_formula``,
    ``uuid``, ``enthalpy_per_atom_ev``, ``formation_enthalpy_per_atom_ev``, ``e_hull_mev``, ``stable``,
    ``decomposition``: the products with their keys and atom fractions) and ``vertices`` (reduced formula -> key of the
    lowest structure of each composition on the hull).
    """
    from aiida_hydrides.core.hull import ConvexHull

    data = entries.get_dict()
    keys = sorted(data)
    hull = ConvexHull(
        [(data[key]['formula'], data[key]['enthalpy_per_atom'], key) for key in keys], pressure=pressure.value
    )
    points, vertices = {}, {}
    for key, point in zip(keys, hull.points, strict=True):
        points[key] = {
            'formula': point.formula,
            'reduced_formula': point.reduced_formula,
            'uuid': data[key].get('uuid'),
            'enthalpy_per_atom_ev': point.enthalpy_per_atom,
            'formation_enthalpy_per_atom_ev': point.formation_enthalpy_per_atom,
            'e_hull_mev': 1000.0 * point.e_hull,
            'stable': point.stable,
            'decomposition': [
                {'key': part.entry_id, 'formula': part.formula, 'fraction': part.fraction}
                for part in point.decomposition
            ],
        }
        if point.stable:
            best = vertices.get(point.reduced_formula)
            if best is None or point.enthalpy_per_atom < points[best]['enthalpy_per_atom_ev']:
                vertices[point.reduced_formula] = key
    return orm.Dict(
        {
            'method': method.value,
            'pressure_gpa': pressure.value,
            'elements': list(hull.elements),
            'n_entries': len(keys),
            'points': points,
            'vertices': vertices,
        }
    )


@calcfunction
def compare_phase_diagrams(lam, dft):
    """LAM against DFT on the structures of the DFT phase diagram: E_hull of each with both methods, each hull built
    over the same structures (the LAM hull is rebuilt over the DFT structures, so that a phase missing from the DFT
    set cannot make the two disagree), and the formation enthalpies; MAE, Spearman rank correlation and the worst
    cases (:func:`aiida_hydrides.core.screening.compare_methods`), meV/atom.

    The figures are over the compounds (the elements are 0 in both by definition). The result holds the E_hull
    comparison at the top level (``n``, ``mae_mev``, ``max_abs_mev``, ``spearman``, ``spearman_pvalue``, ``worst``),
    ``n_on_both_hulls`` (compounds on both hulls), ``formation`` (the same for the formation enthalpies) and ``pairs``
    (key -> formula and the values of both methods, elements included).
    """
    from aiida_hydrides.core.compositions import parse_formula
    from aiida_hydrides.core.hull import ConvexHull
    from aiida_hydrides.core.screening import compare_methods

    lam_points, dft_points = lam.get_dict()['points'], dft.get_dict()['points']
    keys = sorted(key for key in dft_points if key in lam_points)
    hull = ConvexHull([(lam_points[key]['formula'], lam_points[key]['enthalpy_per_atom_ev'], key) for key in keys])
    lam_ehull = {point.entry_id: 1000.0 * point.e_hull for point in hull.points}
    lam_formation = {point.entry_id: 1000.0 * point.formation_enthalpy_per_atom for point in hull.points}
    pairs = {key: (lam_ehull[key], dft_points[key]['e_hull_mev']) for key in keys}
    formation = {key: (lam_formation[key], 1000.0 * dft_points[key]['formation_enthalpy_per_atom_ev']) for key in keys}
    # the elements are 0 in both by definition: the figures are over the compounds only
    compounds = [key for key in keys if len(parse_formula(lam_points[key]['formula']).elements) > 1]
    result = compare_methods({key: pairs[key] for key in compounds})
    result['formation'] = compare_methods({key: formation[key] for key in compounds})
    result['n_on_both_hulls'] = sum(1 for key in compounds if pairs[key][0] == 0.0 and pairs[key][1] == 0.0)
    for case in (*result['worst'], *result['formation']['worst']):
        case['formula'] = lam_points[case['key']]['formula']
        case['uuid'] = lam_points[case['key']]['uuid']
    result['pairs'] = {
        key: {
            'formula': lam_points[key]['formula'],
            'ehull_lam_mev': pairs[key][0],
            'ehull_dft_mev': pairs[key][1],
            'ehull_lam_full_hull_mev': lam_points[key]['e_hull_mev'],
            'formation_lam_mev': formation[key][0],
            'formation_dft_mev': formation[key][1],
        }
        for key in keys
    }
    return orm.Dict(result)


@calcfunction
def classify_prototypes(**structures):
    """Group ``structures`` (keyword = candidate key) by element-agnostic structure matching; each group gets a
    prototype label (e.g. ``MH6-Im-3m``) and is checked against the known hydride prototypes
    (:mod:`aiida_hydrides.core.prototype_match`).

    Returns ``groups`` (list of ``{label, members (keys), representative, known, source, novel}``) and ``candidates``
    (key -> ``{label, group, known, novel}``).
    """
    from aiida_hydrides.core.prototype_match import group_prototypes

    keys = sorted(structures)
    groups = group_prototypes([structures[key].get_ase() for key in keys])
    result_groups, candidates = [], {}
    for number, group in enumerate(groups):
        data = group.as_dict()
        data['members'] = [keys[index] for index in group.members]
        data['representative'] = keys[group.representative]
        result_groups.append(data)
        for key in data['members']:
            candidates[key] = {'label': group.label, 'group': number, 'known': group.known, 'novel': group.novel}
    return orm.Dict({'groups': result_groups, 'candidates': candidates})


@calcfunction
def collect_funnel(funnel):
    """The funnel of a screening run: for every stage the candidates entering and leaving it, its threshold and its
    wall time, plus the totals (the ``funnel`` input as assembled by the work chain, stored as its output)."""
    return orm.Dict(funnel.get_dict())


@calcfunction
def symmetrize_structure(structure, symprec):
    """The standardized primitive cell of ``structure`` with the exact symmetry of the space group spglib finds at
    ``symprec`` (Angstrom): the DFT input of a LAM minimum, which has that symmetry only within the tolerance (pw.x
    then uses every operation, and fewer atoms and k-points)."""
    from aiida_hydrides.core.structures import primitive_cell

    atoms = primitive_cell(structure.get_ase(), symprec.value)
    result = orm.StructureData(ase=atoms)
    result.label = structure.label
    return result
