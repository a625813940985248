"""Tests for the convex hull on toy systems whose hull is worked out by hand."""

import json

import pytest

from aiida_hydrides.core.errors import HydridesInputError, MissingReferenceError, UnknownElementError
from aiida_hydrides.core.hull import ConvexHull, HullEntry, build_hull, e_hull_bounds


def by_formula(hull):
    return {point.entry_id or point.formula: point for point in hull.points}


def fractions(point):
    return {part.formula: part.fraction for part in point.decomposition}


def test_binary_hull_by_hand():
    # x = share of H. Elemental references: Ca at -1, H at -2 eV/atom, so the reference line is -1 - x.
    hull = build_hull(
        [
            ('Ca', -1.0, 'Ca'),
            ('H', -2.0, 'H'),
            ('CaH', -2.0, 'CaH'),  # x=1/2, dH = -0.5: on the hull
            ('CaH3', -1.95, 'CaH3'),  # x=3/4, dH = -0.2; hull at 3/4 is -0.25 -> E_hull 0.05
            ('Ca2H', -1.6, 'Ca2H'),  # x=1/3, dH = -0.2667; hull at 1/3 is -0.3333 -> E_hull 0.0667
            ('Ca2H2', -1.9, 'CaH-polymorph'),  # dH = -0.4 -> E_hull 0.1 above CaH
            ('H2', -1.8, 'H-metastable'),  # 0.2 above the elemental H
        ],
        pressure=200,
    )
    points = by_formula(hull)
    assert {point.entry_id for point in hull.stable} == {'Ca', 'H', 'CaH'}
    assert points['CaH'].e_hull == 0.0 and points['CaH'].stable
    assert points['CaH'].formation_enthalpy_per_atom == pytest.approx(-0.5)
    assert points['CaH3'].e_hull == pytest.approx(0.05)
    assert points['CaH3'].formation_enthalpy_per_atom == pytest.approx(-0.2)
    assert fractions(points['CaH3']) == pytest.approx({'CaH': 0.5, 'H': 0.5})
    assert points['Ca2H'].e_hull == pytest.approx(0.2 / 3)
    assert fractions(points['Ca2H']) == pytest.approx({'CaH': 2 / 3, 'Ca': 1 / 3})
    assert points['CaH-polymorph'].e_hull == pytest.approx(0.1)
    assert fractions(points['CaH-polymorph']) == pytest.approx({'CaH': 1.0})
    assert points['H-metastable'].e_hull == pytest.approx(0.2)
    assert not points['H-metastable'].stable
    assert hull.hull_enthalpy('CaH3') == pytest.approx(-1.75 - 0.25)
    # a candidate below the hull has a negative E_hull
    candidate = hull.check('CaH3', -2.1, 'new')
    assert candidate.e_hull == pytest.approx(-0.1) and candidate.index is None and not candidate.stable
    data = json.loads(json.dumps(hull.as_dict()))
    assert data['pressure'] == 200 and len(data['points']) == 7


def test_ternary_hull_by_hand():
    # References at 0 eV/atom, so formation enthalpies equal the enthalpies.
    hull = build_hull(
        [
            ('Ca', 0.0),
            ('Y', 0.0),
            ('H', 0.0),
            ('CaH2', -0.6),
            ('YH3', -0.5),
            ('CaY2H8', -0.6),  # below CaH2 + 2 YH3 (-5.8/11 = -0.527): stable
            ('CaYH5', -0.5),  # = (CaH2 + CaY2H8)/2, on the hull at -0.6: E_hull 0.1
            ('CaYH12', -0.2),  # = CaH2/2 + CaY2H8/2 + 7 H: hull at -4.2/14 = -0.3: E_hull 0.1
        ]
    )
    points = by_formula(hull)
    assert {point.formula for point in hull.stable} == {'Ca', 'Y', 'H', 'CaH2', 'YH3', 'CaY2H8'}
    assert points['CaYH5'].e_hull == pytest.approx(0.1)
    assert fractions(points['CaYH5']) == pytest.approx({'CaH2': 3 / 14, 'CaY2H8': 11 / 14})
    assert points['CaYH12'].e_hull == pytest.approx(0.1)
    assert fractions(points['CaYH12']) == pytest.approx({'CaH2': 1.5 / 14, 'CaY2H8': 5.5 / 14, 'H': 0.5})
    assert points['CaYH12'].formation_enthalpy_per_atom == pytest.approx(-0.2)
    assert hull.check('CaYH12', -0.35).e_hull == pytest.approx(-0.05)
    assert hull.elements == ('Ca', 'Y', 'H')


def test_single_element_hull():
    hull = build_hull([('H', -1.0, 'a'), ('H2', -1.1, 'b'), ('H', -0.9, 'c')])
    assert [round(point.e_hull, 9) for point in hull.points] == [0.1, 0.0, 0.2]
    assert [point.stable for point in hull.points] == [False, True, False]
    assert hull.points[0].formation_enthalpy_per_atom == pytest.approx(0.1)


def test_entry_forms():
    hull = ConvexHull(
        [
            HullEntry('Ca', 0.0),
            {'formula': 'H', 'enthalpy_per_atom': 0.0, 'id': 'h-ref'},
            ('CaH2', -0.4, 7),
        ]
    )
    assert [point.entry_id for point in hull.points] == [None, 'h-ref', '7']
    assert hull.points[2].stable and hull.points[2].index == 2


def test_missing_elemental_reference():
    with pytest.raises(MissingReferenceError, match='no elemental reference for H'):
        build_hull([('Ca', 0.0), ('CaH2', -1.0)])
    with pytest.raises(MissingReferenceError, match='Y'):
        build_hull([('Ca', 0.0), ('H', 0.0), ('CaH2', -1.0)], elements=['Ca', 'Y', 'H'])


@pytest.mark.parametrize(
    'entries, error, message',
    [
        ([], HydridesInputError, 'at least one entry'),
        ([('Xx', 0.0)], UnknownElementError, "'Xx'"),
        ([('Ca', float('nan'))], HydridesInputError, 'not finite'),
        ([('Ca', 'low')], HydridesInputError, 'must be a number'),
        ([('Ca',)], HydridesInputError, 'cannot make a hull entry'),
        ([{'formula': 'Ca'}], HydridesInputError, "needs 'formula' and 'enthalpy_per_atom'"),
    ],
)
def test_bad_entries(entries, error, message):
    with pytest.raises(error, match=message):
        build_hull(entries)


def test_entries_outside_the_elements():
    with pytest.raises(HydridesInputError, match='outside the hull'):
        build_hull([('Ca', 0.0), ('H', 0.0), ('Y', 0.0)], elements=['Ca', 'H'])
    hull = build_hull([('Ca', 0.0), ('H', 0.0)])
    with pytest.raises(HydridesInputError, match='outside the hull'):
        hull.check('YH3', -1.0)


def test_e_hull_bounds_exact_where_referenced_and_monotonic():
    """E_hull of every entry among all (the hull of the lowest entry per composition), exact where every element has
    a reference, otherwise the enthalpy above the lowest entry of its composition; a bound never falls when entries
    are added."""
    entries = [('Ca', 0.0), ('H', 0.0), ('CaH6', -0.3), ('CaH6', -0.25), ('CaH2', -0.1), ('YH6', -0.5), ('YH6', -0.45)]
    bounds = e_hull_bounds(entries)
    assert [bound.exact for bound in bounds] == [True] * 5 + [False] * 2
    # CaH2 at x_H = 2/3 against Ca - CaH6 (x_H = 6/7): hull -0.3 * (2/3) / (6/7) = -0.2333
    assert [round(bound.e_hull, 6) for bound in bounds] == [0.0, 0.0, 0.0, 0.05, 0.133333, 0.0, 0.05]
    full = ConvexHull([*entries, ('Y', 0.0)])
    assert [round(point.e_hull, 6) for point in full.points][:5] == [0.0, 0.0, 0.0, 0.05, 0.133333]
    # with the Y reference (and a low ternary) every value is exact, and none is lower than before
    more = e_hull_bounds([*entries, ('Y', 0.0), ('CaYH12', -0.45)])
    assert all(bound.exact for bound in more)
    assert all(after.e_hull >= before.e_hull - 1e-12 for before, after in zip(bounds, more, strict=False))
    assert [round(bound.e_hull, 6) for bound in more[5:]] == [0.0, 0.05, 0.0, 0.0]
    assert e_hull_bounds([]) == []
