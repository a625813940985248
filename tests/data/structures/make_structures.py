"""Build the test structures of this folder from their Wyckoff positions (run once; the files are kept in git).

.venv/bin/python tests/data/structures/make_structures.py
"""

import pathlib

import ase.io
import numpy as np
from ase import Atoms

HERE = pathlib.Path(__file__).resolve().parent

# Im-3m 12d sites (1/4, 0, 1/2) and the other five of the orbit; the I-centring adds (1/2, 1/2, 1/2).
SITES_12D = [(0.25, 0, 0.5), (0.75, 0, 0.5), (0.5, 0.25, 0), (0.5, 0.75, 0), (0, 0.5, 0.25), (0, 0.5, 0.75)]
CENTRING = np.array([0.5, 0.5, 0.5])


def bcc_sodalite(metal: str, a: float) -> Atoms:
    """MH6 Im-3m (CaH6 type): M at 2a (0,0,0), H at 12d; conventional cell, 14 atoms."""
    metals = [(0, 0, 0), tuple(CENTRING)]
    hydrogens = [tuple(np.mod(np.add(site, shift), 1.0)) for shift in ((0, 0, 0), CENTRING) for site in SITES_12D]
    return Atoms([metal] * 2 + ['H'] * 12, scaled_positions=metals + hydrogens, cell=[a, a, a], pbc=True)


def ordered_sodalite(metal_a: str, metal_b: str, a: float) -> Atoms:
    """ABH12 Pm-3m: the CaH6-type cell with A at (0,0,0) and B at the body centre; 14 atoms."""
    atoms = bcc_sodalite(metal_a, a)
    symbols = atoms.get_chemical_symbols()
    symbols[1] = metal_b
    atoms.set_chemical_symbols(symbols)
    return atoms


def h3s(a: float) -> Atoms:
    """H3S Im-3m: S at 2a, H at 6b (0,1/2,1/2), (1/2,0,1/2), (1/2,1/2,0) and their I-centred images; 8 atoms."""
    sulphur = [(0, 0, 0), (0.5, 0.5, 0.5)]
    hydrogens = [(0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0), (0.5, 0, 0), (0, 0.5, 0), (0, 0, 0.5)]
    return Atoms(['S'] * 2 + ['H'] * 6, scaled_positions=sulphur + hydrogens, cell=[a, a, a], pbc=True)


def lah10_primitive(a: float = 5.1, x: float = 0.38) -> Atoms:
    """LaH10 Fm-3m: La at 4a, H at 8c (1/4,1/4,1/4) and 32f (x,x,x); the 11-atom primitive fcc cell."""
    sites = [('La', (0, 0, 0)), ('H', (0.25, 0.25, 0.25)), ('H', (0.75, 0.75, 0.75))]
    sites += [
        ('H', signs)
        for signs in [
            (x, x, x),
            (-x, -x, x),
            (-x, x, -x),
            (x, -x, -x),
            (x, x, -x),
            (-x, -x, -x),
            (x, -x, x),
            (-x, x, x),
        ]
    ]
    cell = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    symbols = [symbol for symbol, _ in sites]
    positions = [np.multiply(site, a) for _, site in sites]
    atoms = Atoms(symbols, positions=positions, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def molecular_h2(a: float = 5.0, bond: float = 0.74) -> Atoms:
    """A cubic cell with one Li, two H2 molecules (0.74 A) and one isolated H: atomic-H fraction 1/5, two H2."""
    positions = [
        (2.5, 2.5, 2.5),  # Li
        (0.0, 0.0, 0.0),
        (bond, 0.0, 0.0),  # H2 along x
        (0.0, 2.5, 2.5 - bond / 2),
        (0.0, 2.5, 2.5 + bond / 2),  # H2 along z
        (2.5, 0.0, 2.5),  # lone H
    ]
    return Atoms(['Li'] + ['H'] * 5, positions=positions, cell=[a, a, a], pbc=True)


def main():
    ase.io.write(HERE / 'CaH6_Im-3m.cif', bcc_sodalite('Ca', 3.5))
    ase.io.write(HERE / 'YH6_Im-3m.cif', bcc_sodalite('Y', 3.5))
    ase.io.write(HERE / 'H3S_Im-3m.cif', h3s(3.0))
    ase.io.write(HERE / 'CaYH12_Pm-3m.cif', ordered_sodalite('Ca', 'Y', 3.45))
    ase.io.write(HERE / 'H2_molecular.extxyz', molecular_h2())
    ase.io.write(HERE / 'LaH10_Fm-3m.POSCAR', lah10_primitive(), format='vasp', direct=True, sort=False)
    ase.io.write(
        HERE / 'CaH6_Im-3m.pwi',
        bcc_sodalite('Ca', 3.5),
        format='espresso-in',
        pseudopotentials={'Ca': 'Ca.pbe-spn-rrkjus_psl.1.0.0.UPF', 'H': 'H.pbe-rrkjus_psl.1.0.0.UPF'},
        input_data={'control': {'calculation': 'scf'}, 'system': {'ecutwfc': 40, 'ecutrho': 320}},
        kpts=(4, 4, 4),
    )


if __name__ == '__main__':
    main()
