"""Small Ca-Y-H test structures for the LAM tests."""

import numpy as np


def cah6_like_cells(count=3, seed=3):
    """Rattled Im-3m CaH6 / YH6 / CaYH12 cells near 200 GPa density (7 and 14 atoms)."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    frac = [(0, 0, 0), (0.5, 0.5, 0.5)]
    for x, y, z in [(0.25, 0, 0.5), (0.75, 0, 0.5), (0.5, 0.25, 0), (0.5, 0.75, 0), (0, 0.5, 0.25), (0, 0.5, 0.75)]:
        frac += [(x, y, z), ((x + 0.5) % 1, (y + 0.5) % 1, (z + 0.5) % 1)]
    cells = []
    metals = [('Ca', 'Ca'), ('Y', 'Y'), ('Ca', 'Y')]
    for k in range(count):
        a = rng.uniform(3.45, 3.6)
        conv = Atoms(list(metals[k % 3]) + ['H'] * 12, scaled_positions=frac, cell=np.eye(3) * a, pbc=True)
        if metals[k % 3][0] == metals[k % 3][1]:
            keep = [0] + list(range(2, 14, 2))
            prim = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
            conv = Atoms([conv[i].symbol for i in keep], positions=conv.positions[keep], cell=prim, pbc=True)
            conv.wrap()
        conv.positions += rng.normal(0.0, 0.05, conv.positions.shape)
        conv.set_cell(conv.cell @ (np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))), scale_atoms=True)
        cells.append(conv)
    return cells
