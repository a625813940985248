"""Electron-phonon coupling and Tc of fcc Al: the ``hydrides.epc`` work chain, the cheapest full EPC run.

pw.x (dense and coarse k), projwfc.x, ph.x (interpolated el-ph), q2r.x and matdyn.x, then α²F, λ and Tc, at the
``fast`` protocol with the grids of QE's PHonon example03 (k 8³ / dense 16³, q 4³) and cutoffs 30 / 240 Ry, as in
``aiida-hydrides demo``: about 2 minutes on 2 cores. Codes and the offline pseudopotential family are created
when missing. Experiment: Tc = 1.18 K, λ ≈ 0.4.

    verdi run examples/run_epc.py
"""

from aiida import load_profile, orm
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_codes
from aiida_hydrides.core.prototypes import fcc_element
from aiida_hydrides.pseudos import ensure_pseudo_family
from aiida_hydrides.workflows.epc.base import AL_EXAMPLE03_CUTOFFS, AL_EXAMPLE03_OVERRIDES, ElectronPhononWorkChain

load_profile()  # no-op under `verdi run`, which has loaded the profile already
codes = ensure_codes('localhost', shorts=['pw', 'ph', 'q2r', 'matdyn', 'projwfc'])
family = ensure_pseudo_family()
structure = orm.StructureData(ase=fcc_element('Al', a=4.04))  # 1-atom primitive cell
# QE's PHonon example03 grids (k 8^3 / dense 16^3, q 4^3) and cutoffs (30 / 240 Ry) over the fast protocol
builder = ElectronPhononWorkChain.get_builder_from_protocol(
    codes,
    structure,
    protocol='fast',
    overrides=AL_EXAMPLE03_OVERRIDES,
    pseudo_family=family,
    cutoffs=AL_EXAMPLE03_CUTOFFS,
)
print('ElectronPhononWorkChain: fcc Al, fast protocol, k 8^3 / 16^3, q 4^3 ...')
results, node = run_get_node(builder)
if not node.is_finished_ok:
    raise SystemExit(f'ElectronPhononWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

tc = results['tc'].get_dict()
print(f'ElectronPhononWorkChain<{node.pk}> finished (experiment: Tc = 1.18 K)')
print(f'  lambda    = {tc["lambda"]:.3f} (at sigma = {tc["el_ph_sigma_ry"]:.3f} Ry)')
print(f'  omega_log = {tc["omega_log_K"]:.1f} K')
print(
    f'  Tc (Allen-Dynes) = {tc["tc_allen_dynes_K_mu0_10"]:.2f} K (mu* = 0.10), '
    f'{tc["tc_allen_dynes_K_mu0_13"]:.2f} K (mu* = 0.13)'
)
if 'projected_dos' in results:
    print(f'  N(E_F) from projwfc.x = {results["projected_dos"]["dos_per_atom_states_per_ev"]:.3f} states/eV/atom')
