"""Relax Im-3m H3S at 200 GPa with pw.x and print its enthalpy: the ``hydrides.dft.enthalpy`` work chain.

A vc-relax then a final SCF at the ``fast`` protocol (family ``low`` cutoffs, k spacing 0.30/Å), about 1 minute on
2 cores. The codes on ``localhost`` and the offline pseudopotential family are created when missing.

    verdi run examples/run_dft_enthalpy.py
"""

from aiida import load_profile, orm
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_codes
from aiida_hydrides.core.prototypes import h3s_primitive
from aiida_hydrides.pseudos import ensure_pseudo_family
from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

PRESSURE = 200.0  # GPa

load_profile()  # no-op under `verdi run`, which has loaded the profile already
code = ensure_codes('localhost', shorts=['pw'])['pw']
family = ensure_pseudo_family()
structure = orm.StructureData(ase=h3s_primitive('S', a=3.05))  # 4-atom bcc primitive cell, a bit expanded

builder = DftEnthalpyWorkChain.get_builder_from_protocol(
    code, structure, pressure=PRESSURE, protocol='fast', pseudo_family=family.label
)
print(f'DftEnthalpyWorkChain: vc-relax + SCF of H3S at {PRESSURE:g} GPa (fast protocol) ...')
results, node = run_get_node(builder)
if not node.is_finished_ok:
    raise SystemExit(f'DftEnthalpyWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

relaxed = results['relaxed_structure']
summary = results['output_parameters'].get_dict()
a_bcc = (2 * relaxed.get_cell_volume()) ** (1 / 3)  # conventional bcc cell = 2 primitive cells
print(f'DftEnthalpyWorkChain<{node.pk}> finished')
print(
    f'  relaxed structure <{relaxed.pk}>: {relaxed.base.extras.get("hydrides", {}).get("space_group_symbol")}, '
    f'a = {a_bcc:.3f} Å (PBE literature: 2.98-3.00 Å)'
)
print(
    f'  enthalpy H = E + PV = {results["enthalpy_per_atom"].value:.4f} eV/atom '
    f'(PV = {summary["pv_per_atom_eV"]:.3f} eV/atom)'
)
print(f'  pressure of the final SCF = {results["pressure"].value:.1f} GPa (target {PRESSURE:g} GPa)')
