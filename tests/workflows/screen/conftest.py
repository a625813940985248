"""A small Ca-Y-H group of LAM minima for the screening tests, made for real with the shipped seed model.

The structures are relaxed in this process at 200 GPa (about 10 s) and tagged as a system search tags its minima.
With the seed model the group holds, besides the elements Ca, Y and H:

- ``YH6-Im-3m``: sodalite YH6, on the hull and dynamically stable: it survives every stage;
- ``CaH6-Im-3m``: sodalite CaH6, on the hull, but the seed model gives it an imaginary mode of about 13 THz;
- ``CaH6-mol``: CaH6 with H2 units, far above the hull (and mostly molecular hydrogen);
- ``CaYH12-P1``: a rattled, barely relaxed CaYH12 cell without symmetry, about 25 meV/atom above the hull.

The DFT stage then computes YH6 and the Y-H phases of the hull, H and Y (three small cells).
"""

import numpy as np
import pytest

PRESSURE = 200.0


def relaxed_cells():
    """``name -> (ase.Atoms, enthalpy per atom in eV)`` of the test group, relaxed with the seed model."""
    from ase import Atoms

    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.relax import relax_structures
    from aiida_hydrides.core.prototypes import ordered_sodalite_abh12, sodalite_mh6_primitive
    from aiida_hydrides.models import seed_model_path

    evaluator = load_model(str(seed_model_path()))
    rng = np.random.default_rng(3)
    a = 2.9
    molecular = Atoms(
        ['Ca'] + ['H'] * 6,
        scaled_positions=[
            (0, 0, 0),
            (0.5, 0.5, 0.37),
            (0.5, 0.5, 0.63),
            (0.37, 0.5, 0),
            (0.63, 0.5, 0),
            (0, 0.37, 0.5),
            (0, 0.63, 0.5),
        ],
        cell=[a, a, 1.05 * a],
        pbc=True,
    )
    cells = {
        # molecular hcp H2 (P6_3/mmc, molecules along c), 2 A^3/atom; taken as built (see below)
        'H': Atoms(
            ['H'] * 4,
            scaled_positions=[
                (1 / 3, 2 / 3, 0.1224),
                (1 / 3, 2 / 3, 0.3776),
                (2 / 3, 1 / 3, 0.6224),
                (2 / 3, 1 / 3, 0.8776),
            ],
            cell=[[1.78, 0, 0], [-0.89, 1.5415, 0], [0, 0, 2.90]],
            pbc=True,
        ),
        'Ca': Atoms(['Ca'], positions=[(0, 0, 0)], cell=[2.3, 2.3, 2.3], pbc=True),
        'Y': Atoms(['Y'], positions=[(0, 0, 0)], cell=1.8 * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]), pbc=True),
        'YH6-Im-3m': sodalite_mh6_primitive('Y', 3.5),
        'CaH6-Im-3m': sodalite_mh6_primitive('Ca', 3.5),
        'CaH6-mol': molecular,
    }
    settings = {'pressure_gpa': PRESSURE, 'fmax': 0.05, 'stress_tol_gpa': 0.5}
    # the seed model knows little of pure hydrogen: relaxed, its H2 cell collapses into an atomic chain that pw.x does
    # not relax; the molecular cell is kept as built, with the model's enthalpy of it
    hydrogen = cells.pop('H')
    results = relax_structures([hydrogen], evaluator, max_steps=0, **settings)
    results += relax_structures(list(cells.values()), evaluator, max_steps=400, **settings)
    cells = {'H': hydrogen, **cells}
    disordered = ordered_sodalite_abh12('Ca', 'Y', 3.45)
    disordered.positions += rng.normal(0.0, 0.12, disordered.positions.shape)
    results += relax_structures([disordered], evaluator, max_steps=5, **settings)
    names = [*cells, 'CaYH12-P1']
    return {name: (result.atoms, float(result.enthalpy_per_atom)) for name, result in zip(names, results, strict=True)}


def _store_group(label: str, cells: dict, pressure: float = PRESSURE, system: str = 'Ca-Y') -> dict:
    """Store ``cells`` (``name -> (atoms, enthalpy)``) as tagged LAM minima in the group ``label``; return
    ``name -> StructureData``."""
    from aiida import orm

    from aiida_hydrides.core.compositions import parse_formula
    from aiida_hydrides.core.descriptors import formula
    from aiida_hydrides.extras import symmetry_tags, tag_node

    group, _ = orm.Group.collection.get_or_create(label)
    nodes = {}
    for name, (atoms, enthalpy) in cells.items():
        node = orm.StructureData(ase=atoms)
        node.label = name
        node.store()
        tag_node(
            node,
            kind='search_minimum',
            method='lam',
            formula=parse_formula(formula(atoms)).reduced().formula,
            system=system,
            pressure_gpa=pressure,
            enthalpy_lam_ev=enthalpy,
            **symmetry_tags(node),
        )
        nodes[name] = node
    group.add_nodes(list(nodes.values()))
    return nodes


@pytest.fixture(scope='session')
def screen_cells():
    """The relaxed cells of the test group (relaxed once per session)."""
    return relaxed_cells()


@pytest.fixture
def store_group():
    """``store_group(label, cells, pressure=200, system='Ca-Y')``: store cells as tagged LAM minima in a group."""
    return _store_group
