"""Enumerate a system's compositions and screen known prototypes with the hydride filters (no AiiDA needed).

.venv/bin/python examples/screen_prototypes.py
"""

from aiida_hydrides.core.compositions import count_compositions, reference_compositions
from aiida_hydrides.core.descriptors import describe
from aiida_hydrides.core.prototypes import build_prototype

print(
    f'Ca-Y: {count_compositions("Ca-Y")} compositions, '
    f'{len(reference_compositions("Ca-Y").all())} hull reference phases'
)
for name, elements in [('CaH6', ('Ca',)), ('CaYH12', ('Ca', 'Y')), ('LaH10', ('La',))]:
    info = describe(build_prototype(name, *elements))
    keep = info['space_group_number'] > 75 and info['atomic_h_fraction'] > 0.75
    print(
        f'{info["reduced_formula"]:8} sg {info["space_group_number"]:3}  atomic-H {info["atomic_h_fraction"]:.2f}  '
        f'{"kept" if keep else "dropped"}'
    )
