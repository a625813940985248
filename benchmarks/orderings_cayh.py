"""Ordered-derivative seeds of the Ca-Y-H ternaries with the sodalite ratio MH6: how many distinct orderings of Ca and Y
on the metal sites of CaH6-type sodalite ``prototype_seeds`` gives each composition, and how long that takes.

Compositions: Ca_m Y_n H_6(m+n) with m, n <= 4, m and n coprime (reduced formulas: Ca2Y2H24 is CaYH12 twice) and a
cell of one formula unit within the atom budget (7 (m + n) <= 40): CaYH12, CaY2H18, Ca2YH18, CaY3H24, Ca3YH24,
Ca2Y3H30, Ca3Y2H30, CaY4H30, Ca4YH30. Atom budget 40 (``--max-atoms``; sodalite cells of 14, 21, 28 and 35 atoms),
200 GPa (only the volume scaling depends on it). Per composition: the seeds (origin ``ordering``), their cell sizes,
space groups and labels, the time of the enumeration alone (``enumerate_orderings``) and of the whole seeding
(enumeration, rebuilding, volume scaling, distance check), with icet imported beforehand.

Figure: the ordered seeds over all compositions; target: the binary derivative structures of the bare bcc metal
lattice (icet, Hart & Forcade) at the same compositions and cell sizes. Sodalite is Im-3m, the space group of its bcc
metal lattice, so the hydrogen sites must not change the count, and no ordering may be lost to the distance limits.
Result: ``results/search_orderings.json``.

Usage: python benchmarks/orderings_cayh.py [--max-atoms 40] [--pressure 200]
"""

import argparse
import math
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--max-atoms', type=int, default=40, help='atom budget per cell')
parser.add_argument('--pressure', type=float, default=200.0, help='GPa')
parser.add_argument('--max-count', type=int, default=4, help='largest m and n of Ca_m Y_n H_6(m+n)')
args = parser.parse_args()

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from aiida_hydrides.core.descriptors import space_group  # noqa: E402
from aiida_hydrides.core.search.orderings import enumerate_orderings  # noqa: E402
from aiida_hydrides.core.search.seeding import ordering_templates, prototype_seeds  # noqa: E402

from _common import write_result  # noqa: E402

ATOMS_PER_METAL = 7  # sodalite MH6: one metal and six H per primitive cell


def formula(m: int, n: int) -> str:
    def part(symbol, count):
        return symbol + (str(count) if count > 1 else '')

    return part('Ca', m) + part('Y', n) + part('H', 6 * (m + n))


def bcc_count(m: int, n: int, max_metals: int) -> int:
    """Binary orderings Ca_m Y_n of the bare bcc lattice (one site per cell) with at most ``max_metals`` sites."""
    from ase.build import bulk

    return sum(1 for _ in enumerate_orderings(bulk('Ca', 'bcc', a=4.0), {'Ca': m, 'Y': n}, max_metals))


def main():
    import icet  # noqa: F401  (imported before the clock starts: about 2 s, once per process)

    template = ordering_templates()['CaH6-primitive']
    compositions = [
        (m, n)
        for m in range(1, args.max_count + 1)
        for n in range(1, args.max_count + 1)
        if math.gcd(m, n) == 1 and ATOMS_PER_METAL * (m + n) <= args.max_atoms
    ]
    compositions.sort(key=lambda mn: (sum(mn), -mn[0]))
    rows = []
    total_seeds = total_expected = 0
    total_seconds = 0.0
    for m, n in compositions:
        name = formula(m, n)
        start = time.perf_counter()
        enumerated = list(enumerate_orderings(template, {'Ca': m, 'Y': n}, args.max_atoms))
        enumeration_s = time.perf_counter() - start
        start = time.perf_counter()
        seeds = prototype_seeds(name, args.pressure, args.max_atoms)
        seeding_s = time.perf_counter() - start
        ordered = [s for s in seeds if s.info.get('origin') == 'ordering']
        expected = bcc_count(m, n, args.max_atoms // ATOMS_PER_METAL)
        total_seeds += len(ordered)
        total_expected += expected
        total_seconds += seeding_s
        by_size = {}
        for seed in ordered:
            by_size[len(seed)] = by_size.get(len(seed), 0) + 1
        rows.append(
            {
                'composition': name,
                'orderings_seeded': len(ordered),
                'orderings_enumerated': len(enumerated),
                'bcc_lattice_orderings': expected,
                'seeds_per_cell_size': {f'{natoms} atoms': count for natoms, count in sorted(by_size.items())},
                'enumeration_s': round(enumeration_s, 3),
                'seeding_s': round(seeding_s, 3),
                'seeds': [
                    {
                        'natoms': len(s),
                        'space_group': '{1} ({0})'.format(*space_group(s)),
                        'ordering': s.info['ordering'],
                    }
                    for s in ordered
                ],
            }
        )
        print(
            f'{name:10s} {len(ordered):3d} orderings seeded (enumerated {len(enumerated)}, bcc lattice {expected}), '
            f'cells {by_size}, enumeration {enumeration_s:.2f} s, seeding {seeding_s:.2f} s'
        )
    print(f'total: {total_seeds} seeds (bcc lattice: {total_expected}) in {total_seconds:.2f} s')
    path = write_result(
        'search_orderings',
        metric='ordered_seeds_ca_y_h_mh6',
        value=total_seeds,
        unit='structures',
        target=total_expected,
        higher_is_better=True,
        target_criterion=(
            'every distinct ordering of Ca and Y on the sodalite metal sites is seeded: as many as the binary '
            'derivative structures of the bare bcc lattice at the same compositions and cell sizes'
        ),
        prototype='CaH6-primitive (sodalite MH6, Im-3m)',
        pressure_GPa=args.pressure,
        max_atoms=args.max_atoms,
        max_count=args.max_count,
        seeding_s_total=round(total_seconds, 3),
        compositions=rows,
    )
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
